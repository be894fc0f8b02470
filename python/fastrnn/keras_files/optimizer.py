"""Compile configs (optimizer with hyper-parameters, loss, metrics) and optimizer slots.

Keras' variable order after `iterations` (Keras 3 then stores `learning_rate`; tf-keras does
not): the slot names of one `add_optimizer_variables` call are interleaved per model variable,
successive calls follow each other. So Adam stores m0 v0 m1 v1 ... then velocity_hat0 ...;
RMSprop all velocities, then all momentums, then all average gradients; SGD the momentums
(tf-keras always creates them, momentum 0 included). Legacy .h5 files name every variable,
so their slots are found by name in any of the three spellings (Keras 3, tf-keras >= 2.11,
the optimizer_v2 of Keras 2.3-2.10).
"""
import warnings

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from . import h5safe
from .config import EXECUTION, NONE, PASS, Must, check_builtin, serialized, short
from .errors import UnsupportedKerasFeature

_LR = "learning_rate"
_OPTIMIZER_COMMON = {
    "name": PASS, "learning_rate": _LR, "lr": _LR, "decay": Must(0), "weight_decay": PASS,
    "clipnorm": PASS, "clipvalue": PASS, "global_clipnorm": PASS, "use_ema": Must(False),
    "ema_momentum": EXECUTION, "ema_overwrite_frequency": EXECUTION, "jit_compile": EXECUTION,
    "is_legacy_optimizer": EXECUTION, "loss_scale_factor": NONE,
    "gradient_accumulation_steps": NONE}
OPTIMIZERS = {   # Keras class -> (its own arguments, groups of slots in Keras' order)
    "SGD": (("momentum", "nesterov"), (("momentum",),)),
    "RMSprop": (("rho", "momentum", "epsilon", "centered"),
                (("velocity",), ("momentum",), ("average_gradient",))),
    "Adam": (("beta_1", "beta_2", "epsilon", "amsgrad"),
             (("momentum", "velocity"), ("velocity_hat",))),
}
# How each slot is spelled in variable names: Keras 3 / tf-keras, then optimizer_v2.
_SPELLINGS = {"momentum": ("momentum", "m"), "velocity": ("velocity", "v", "rms"),
              "velocity_hat": ("velocity_hat", "vhat"), "average_gradient": (
                  "average_gradient", "mg")}
_TF_KERAS_SLOT = {("Adam", "momentum"): "m", ("Adam", "velocity"): "v",
                  ("Adam", "velocity_hat"): "vhat", ("SGD", "momentum"): "m"}
_LOSSES = ("BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "MeanSquaredError", "MeanAbsoluteError")
_METRICS = ("BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
            "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
            "CategoricalCrossentropy", "SparseCategoricalCrossentropy")
_ACCURACY = ("accuracy", "acc")


# --- Keras -> fastrnn --------------------------------------------------------------------------
def compile_from_keras(model, config, src):
    """Compile `model` as the file's compile config (Keras 3) or training config (legacy)."""
    try:
        _compile(model, config, src)
    except UnsupportedKerasFeature as e:
        raise UnsupportedKerasFeature(f"{e} (load with compile=False to use the model without "
                                      "its training configuration)") from e


def _compile(model, config, src):
    if not isinstance(config, dict):
        raise src.error("the compile/training config is not a JSON object")
    for key in ("loss_weights", "weighted_metrics"):
        if config.get(key) not in (None, [], {}):
            raise src.unsupported(f"compile argument {key}={short(config[key])} is not "
                                  "supported by fastrnn")
    opt_spec = config.get("optimizer", config.get("optimizer_config"))
    optimizer = optimizer_from_keras(opt_spec, src)
    loss = _loss_from_keras(config.get("loss"), src)
    metrics = [_metric_from_keras(m, src) for m in _flat_metrics(config.get("metrics"), src)]
    try:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics or None)
    except (TypeError, ValueError, NotImplementedError) as e:
        raise src.unsupported(f"compile config: {e}") from e


def optimizer_from_keras(spec, src):
    if isinstance(spec, str):
        spec = {"class_name": spec, "config": {}}
    if not isinstance(spec, dict):
        raise src.error(f"invalid optimizer config {short(spec)}")
    check_builtin(spec, src, "optimizer")
    cls = str(spec.get("class_name", "")).split(">")[-1]    # tf-keras writes "Custom>Adam"
    cls = {k.lower(): k for k in OPTIMIZERS}.get(cls.lower(), cls)
    if cls not in OPTIMIZERS:
        raise src.unsupported(f"optimizer {cls!r} is not supported by fastrnn (supported: "
                              f"{sorted(OPTIMIZERS)})")
    own = OPTIMIZERS[cls][0]
    kwargs = {}
    for key, value in (spec.get("config") or {}).items():
        kind = PASS if key in own else _OPTIMIZER_COMMON.get(key)
        if kind == _LR:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise src.unsupported(f"optimizer {cls}: learning_rate {short(value)} is a "
                                      "schedule; fastrnn supports a constant learning rate")
            kwargs["learning_rate"] = value
        elif kind == PASS:
            if value is not None or key in ("weight_decay", "clipnorm", "clipvalue",
                                            "global_clipnorm"):
                kwargs[key] = value
        elif kind == NONE and value is not None or isinstance(kind, Must) and \
                value != kind.value or kind is None:
            raise src.unsupported(f"optimizer {cls}: argument {key}={short(value)} is not "
                                  "supported by fastrnn")
    try:
        return optimizers_mod.get({"class_name": cls, "config": kwargs})
    except (TypeError, ValueError, NotImplementedError) as e:
        raise src.unsupported(f"optimizer {cls}: {e}") from e


def _loss_from_keras(spec, src):
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and spec.get("class_name") == "function":
        return spec.get("config")
    if not isinstance(spec, dict):
        raise src.unsupported(f"loss {short(spec)}: only one loss (one model output) is "
                              "supported")
    check_builtin(spec, src, "loss")
    cls = spec.get("class_name")
    if cls not in _LOSSES:
        raise src.unsupported(f"loss {cls!r} is not supported by fastrnn (supported: "
                              f"{list(_LOSSES)})")
    config = {k: v for k, v in (spec.get("config") or {}).items() if k not in ("fn", "dtype")}
    if config.get("reduction") == "auto":          # Keras 2's name of the default
        config["reduction"] = "sum_over_batch_size"
    try:
        return losses_mod.get({"class_name": cls, "config": config})
    except (TypeError, ValueError, NotImplementedError) as e:
        raise src.unsupported(f"loss {cls}: {e}") from e


def _flat_metrics(value, src):
    if value is None:
        return []
    if isinstance(value, dict):
        raise src.unsupported("metrics per output (a dict) need the Functional API")
    if not isinstance(value, list):
        value = [value]
    if len(value) == 1 and isinstance(value[0], list):   # tf-keras: one list per output
        value = value[0]
    return value


def _metric_from_keras(spec, src):
    if isinstance(spec, str):
        return spec
    if not isinstance(spec, dict):
        raise src.unsupported(f"metric {short(spec)} is not supported")
    check_builtin(spec, src, "metric")
    cls, config = spec.get("class_name"), dict(spec.get("config") or {})
    if cls == "function" and isinstance(config, str):
        return config
    if cls == "MeanMetricWrapper":      # tf-keras: a named metric function
        name, fn = config.get("name"), config.get("fn")
        return name if name in _ACCURACY else fn if isinstance(fn, str) else name
    if cls not in _METRICS or config.get("dtype", "float32") != "float32":
        raise src.unsupported(f"metric {cls!r} is not supported by fastrnn (supported: "
                              f"{list(_METRICS)})")
    config.pop("dtype", None)
    try:
        return getattr(metrics_mod, cls)(**config)
    except (TypeError, ValueError) as e:
        raise src.unsupported(f"metric {cls}: {e}") from e


# --- slots -------------------------------------------------------------------------------------
def _slot_order(optimizer, n_weights, keras_major):
    """[(slot name, weight index)] in Keras' variable order after iterations/learning_rate;
    slots fastrnn does not use (tf-keras' SGD momentum at momentum 0) are listed too."""
    cls = type(optimizer).__name__
    active = optimizer.slot_names()
    order = []
    for group in OPTIMIZERS[cls][1]:
        names = [s for s in group if s in active or (keras_major == 2 and cls == "SGD")]
        order += [(s, i) for i in range(n_weights) for s in names]
    return order


def apply_state(model, state):
    """Give the optimizer a state read by ordered_state/named_state (None: keep it fresh)."""
    if state is not None:
        model.optimizer.set_state(model.trainable_weights, state)


def _state(model, iterations, learning_rate, slots):
    active = model.optimizer.slot_names()
    state = [np.asarray(iterations, np.int64).reshape(()),
             np.asarray(learning_rate, np.float32).reshape(())]
    return state + [slots[(s, i)] for i in range(len(model.trainable_weights)) for s in active]


def _fresh(src, why):
    warnings.warn(f"{src.path}: the optimizer state in the file is not restored ({why}); "
                  "training continues with a fresh optimizer state", stacklevel=4)


def ordered_state(model, h5, src):
    """The optimizer state in a Keras 3 / tf-keras weights file (`optimizer/vars/0..`), or
    None. Keras 3 stores iterations and learning_rate first, tf-keras only iterations; the
    variable count tells them apart where the file does not say which Keras wrote it."""
    group = h5safe.group(h5, "optimizer/vars", src.path, required=False)
    if group is None or model.optimizer is None:
        return None
    count = len(h5safe.keys(group, src.path))
    weights = model.trainable_weights
    layouts = {major: (2 if major == 3 else 1, _slot_order(model.optimizer, len(weights), major))
               for major in (3, 2)}
    matching = [m for m, (head, order) in layouts.items() if count == head + len(order)]
    if count <= 2 and not matching:
        return None                             # saved before the optimizer was built
    if not matching:
        return _fresh(src, f"it has {count} variables, this optimizer "
                           f"{' or '.join(str(h + len(o)) for h, o in layouts.values())}")
    head, order = layouts[src.major if src.major in matching else matching[0]]

    def read(i, shape, what):
        return h5safe.dataset(group, str(i), shape, f"optimizer variable {i} ({what})",
                              src.path)
    iterations = read(0, (), "iterations")
    lr = read(1, (), "learning_rate") if head == 2 else model.optimizer.learning_rate
    slots = {}
    for k, (slot, i) in enumerate(order, start=head):
        slots[(slot, i)] = read(k, weights[i].shape,
                                f"{slot} of weight {_weight_name(model, i)!r}")
    return _state(model, iterations, lr, slots)


def named_state(model, h5, file_weight_names, src):
    """The optimizer state in a legacy .h5 `optimizer_weights` group, found by name, or None.

    `file_weight_names`: the file's name of each trainable weight of the model, in order."""
    group = h5safe.group(h5, "optimizer_weights", src.path, required=False)
    if group is None or model.optimizer is None:
        return None
    names = h5safe.name_list(group, "weight_names", src.path) or []
    by_rest = {}
    for name in names:
        by_rest[name.split("/", 1)[1] if "/" in name else name] = name
    leaf = {n.rsplit("/", 1)[-1].split(":")[0]: n for n in names}
    if "iteration" not in leaf and "iter" not in leaf:
        return _fresh(src, "no iteration counter among its variables") if names else None

    def read(name, shape, what):
        parent, _, last = name.rpartition("/")
        holder = h5safe.group(group, parent, src.path) if parent else group
        return h5safe.dataset(holder, last, shape, f"optimizer variable {name!r} ({what})",
                              src.path)
    weights = model.trainable_weights
    slots = {}
    for i, fw in enumerate(file_weight_names):
        base = fw[:-2] if fw.endswith(":0") else fw
        for slot in model.optimizer.slot_names():
            candidates = [base.replace("/", "_") + "_" + slot] + [
                f"{sp}/{base}:0" for sp in _SPELLINGS[slot]] + [
                f"{base}/{sp}:0" for sp in _SPELLINGS[slot]]
            found = next((by_rest[c] for c in candidates if c in by_rest), None)
            if found is None:
                return _fresh(src, f"no {slot} variable for weight {fw!r}")
            slots[(slot, i)] = read(found, weights[i].shape, slot)
    iterations = read(leaf.get("iteration", leaf.get("iter")), (), "iterations")
    lr = (read(leaf["learning_rate"], (), "learning_rate") if "learning_rate" in leaf
          else model.optimizer.learning_rate)
    return _state(model, iterations, lr, slots)


def _weight_name(model, i):
    names = [n for layer in trainable_layers(model) for n in layer.weight_names]
    return names[i] if i < len(names) else str(i)


def trainable_layers(model):
    """The layers whose weights are `model.trainable_weights`, in that order."""
    return [layer for layer in model.layers if layer.trainable] if model.trainable else []


# --- fastrnn -> Keras --------------------------------------------------------------------------
def compile_to_keras(model, keras_major):
    """Keras 3 `compile_config` (or, for keras_major=2, tf-keras' `training_config`)."""
    cfg = model.get_compile_config()
    if cfg is None:
        return None
    opt = cfg["optimizer"]
    optimizer = {"class_name": opt["class_name"], "config": dict(opt["config"])}
    loss = cfg["loss"]
    if isinstance(loss, dict):
        loss = serialized(loss["class_name"], dict(loss["config"]), "keras.losses")
    metrics = list(cfg["metrics"])
    if keras_major == 2:
        # tf-keras names its (non-legacy) optimizers "Custom>Adam" in .h5 files; a bare
        # "Adam" would load as its legacy optimizer_v2.
        optimizer["class_name"] = "Custom>" + optimizer["class_name"]
        return {"loss": loss, "metrics": metrics, "weighted_metrics": None,
                "loss_weights": None, "optimizer_config": optimizer}
    return {"optimizer": serialized(optimizer["class_name"], optimizer["config"],
                                    "keras.optimizers"),
            "loss": loss, "loss_weights": None, "metrics": metrics, "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def optimizer_variables(model, keras_major, legacy_names=None):
    """[(name, array)] of the optimizer's variables in Keras' order (zeros for an optimizer
    that has not taken a step yet). Names are tf-keras' (`iteration:0`, `Adam/m/dense/kernel:0`)
    built from `legacy_names`, the file's names of the trainable weights; Keras 3's
    ordered layout ignores them."""
    optimizer = model.optimizer
    weights = model.trainable_weights
    active = optimizer.slot_names()
    state = optimizer.get_state() if optimizer.built else []
    if len(state) != 2 + len(weights) * len(active):
        state = [np.int64(optimizer.iterations), np.float32(optimizer.learning_rate)] + [
            np.zeros_like(w) for w in weights for _ in active]
    slots = {(s, i): state[2 + i * len(active) + j]
             for i in range(len(weights)) for j, s in enumerate(active)}
    cls = type(optimizer).__name__
    names = legacy_names or [str(i) for i in range(len(weights))]
    out = [("iteration:0", np.asarray(state[0], np.int64))]
    if keras_major == 3:
        out.append(("learning_rate", np.asarray(state[1], np.float32)))
    for slot, i in _slot_order(optimizer, len(weights), keras_major):
        value = slots.get((slot, i))
        if value is None:       # tf-keras' SGD keeps momentum slots at momentum 0
            value = np.zeros_like(weights[i])
        base = names[i][:-2] if names[i].endswith(":0") else names[i]
        out.append((f"{cls}/{_TF_KERAS_SLOT.get((cls, slot), slot)}/{base}:0",
                    np.asarray(value, np.float32)))
    return out
