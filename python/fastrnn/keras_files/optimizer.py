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
    if config.get("weighted_metrics") not in (None, [], {}):
        raise src.unsupported(f"compile argument weighted_metrics="
                              f"{short(config['weighted_metrics'])} is not supported by fastrnn")
    opt_spec = config.get("optimizer", config.get("optimizer_config"))
    optimizer = optimizer_from_keras(opt_spec, src)
    names = list(model.output_names)
    loss = _per_output(config.get("loss"), names, lambda spec, _: _loss_from_keras(spec, src),
                       _is_loss_object)
    loss_weights = _per_output(config.get("loss_weights"), names,
                               lambda w, _: _loss_weight(w, src))
    metrics = _metrics_from_keras(config.get("metrics"), names, src)
    try:
        model.compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights,
                      metrics=metrics or None)
    except (TypeError, ValueError, NotImplementedError) as e:
        raise src.unsupported(f"compile config: {e}") from e


def _per_output(value, names, convert, is_single=lambda v: False):
    """A compile argument given once, per output in a list, or in a dict keyed by output
    name (Keras' three spellings), with each entry converted."""
    if isinstance(value, dict) and not is_single(value):
        return {k: convert(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [convert(v, names[i] if i < len(names) else None) for i, v in enumerate(value)]
    return convert(value, names[0] if len(names) == 1 else None)


def _is_loss_object(value):
    return "class_name" in value


def _loss_weight(value, src):
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise src.error(f"invalid loss weight {short(value)}")
    return value


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
        raise src.unsupported(f"loss {short(spec)} is not supported")
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


def _metrics_from_keras(value, names, src):
    """Metrics for one output (a list), per output (a list of lists, or a dict keyed by
    output name), as Keras 3 and tf-keras write them."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _metric_list(v, k, src) for k, v in value.items()}
    if not isinstance(value, list):
        value = [value]
    if value and all(isinstance(v, list) for v in value):     # one list per output
        if len(names) == 1 and len(value) == 1:                # (tf-keras writes it for one)
            return _metric_list(value[0], names[0], src)
        return [_metric_list(v, n, src) for v, n in zip(value, names)]
    return _metric_list(value, names[0] if len(names) == 1 else None, src)


def _metric_list(value, output, src):
    return [_metric_from_keras(m, output, src) for m in (value if isinstance(value, list)
                                                         else [value])]


def _metric_from_keras(spec, output, src):
    """A metric name or fastrnn metric; `output` is the output's name, which tf-keras puts in
    front of the names of a multi-output model's metrics (label_accuracy)."""
    if isinstance(spec, str):
        return spec
    if not isinstance(spec, dict):
        raise src.unsupported(f"metric {short(spec)} is not supported")
    check_builtin(spec, src, "metric")
    cls, config = spec.get("class_name"), spec.get("config") or {}
    if cls == "function" and isinstance(config, str):
        return config
    config = dict(config)
    if cls == "MeanMetricWrapper":      # tf-keras: a named metric function
        name, fn = config.get("name"), config.get("fn")
        if isinstance(name, str) and output and name.startswith(output + "_"):
            name = name[len(output) + 1:]
        if name in _ACCURACY:
            return name
        return name if _known_metric(name) else fn if isinstance(fn, str) else name
    if cls not in _METRICS or config.get("dtype", "float32") != "float32":
        raise src.unsupported(f"metric {cls!r} is not supported by fastrnn (supported: "
                              f"{list(_METRICS)})")
    config.pop("dtype", None)
    try:
        return getattr(metrics_mod, cls)(**config)
    except (TypeError, ValueError) as e:
        raise src.unsupported(f"metric {cls}: {e}") from e


def _known_metric(name):
    try:
        metrics_mod.get(name)
    except (TypeError, ValueError):
        return False
    return True


# --- slots -------------------------------------------------------------------------------------
def trainable_positions(model, layers):
    """(layer, index in layer.weights) of each trainable weight, in the order Keras lists
    them for `layers`, the model's layers in the file's order (its optimizer slots follow
    it)."""
    if not model.trainable:
        return []
    out = []
    for layer in layers:
        trainable = {id(w) for w in layer.trainable_weights}
        out += [(layer, i) for i, w in enumerate(layer.weights) if id(w) in trainable]
    return out


def _fastrnn_index(model, positions):
    """For each position (file order), the index of that weight in model.trainable_weights."""
    index = {id(w): i for i, w in enumerate(model.trainable_weights)}
    out = [index.get(id(layer.weights[i])) for layer, i in positions]
    if None in out or sorted(out) != list(range(len(index))):
        raise ValueError("internal error: the file's trainable weights are not the model's")
    return out


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
    """The optimizer state from `slots` {(slot, index in model.trainable_weights): array}."""
    active = model.optimizer.slot_names()
    state = [np.asarray(iterations, np.int64).reshape(()),
             np.asarray(learning_rate, np.float32).reshape(())]
    return state + [slots[(s, i)] for i in range(len(model.trainable_weights)) for s in active]


def _fresh(src, why):
    warnings.warn(f"{src.path}: the optimizer state in the file is not restored ({why}); "
                  "training continues with a fresh optimizer state", stacklevel=4)


def ordered_state(model, h5, src, layers):
    """The optimizer state in a Keras 3 / tf-keras weights file (`optimizer/vars/0..`), or
    None; `layers`: the model's layers in the file's order. Keras 3 stores iterations and
    learning_rate first, tf-keras only iterations; the variable count tells them apart where
    the file does not say which Keras wrote it."""
    group = h5safe.group(h5, "optimizer/vars", src.path, required=False)
    if group is None or model.optimizer is None:
        return None
    count = len(h5safe.keys(group, src.path))
    positions = trainable_positions(model, layers)
    layouts = {major: (2 if major == 3 else 1,
                       _slot_order(model.optimizer, len(positions), major))
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
    ours = _fastrnn_index(model, positions)
    slots = {}
    for k, (slot, i) in enumerate(order, start=head):
        layer, j = positions[i]
        slots[(slot, ours[i])] = read(k, layer.weights[j].shape,
                                      f"{slot} of weight {layer.weight_names[j]!r}")
    return _state(model, iterations, lr, slots)


def named_state(model, h5, src, layers, file_names):
    """The optimizer state in a legacy .h5 `optimizer_weights` group, found by name, or None.

    `layers`: the model's layers in the file's order; `file_names`: per layer, the file's
    names of its weights."""
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
    by_layer = {id(layer): n for layer, n in zip(layers, file_names)}
    positions = trainable_positions(model, layers)
    slots = {}
    for (layer, j), i in zip(positions, _fastrnn_index(model, positions)):
        fw = by_layer[id(layer)][j]
        base = fw[:-2] if fw.endswith(":0") else fw
        for slot in model.optimizer.slot_names():
            candidates = [base.replace("/", "_") + "_" + slot] + [
                f"{sp}/{base}:0" for sp in _SPELLINGS[slot]] + [
                f"{base}/{sp}:0" for sp in _SPELLINGS[slot]]
            found = next((by_rest[c] for c in candidates if c in by_rest), None)
            if found is None:
                return _fresh(src, f"no {slot} variable for weight {fw!r}")
            slots[(slot, i)] = read(found, layer.weights[j].shape, slot)
    iterations = read(leaf.get("iteration", leaf.get("iter")), (), "iterations")
    lr = (read(leaf["learning_rate"], (), "learning_rate") if "learning_rate" in leaf
          else model.optimizer.learning_rate)
    return _state(model, iterations, lr, slots)


# --- fastrnn -> Keras --------------------------------------------------------------------------
def compile_to_keras(model, keras_major):
    """Keras 3 `compile_config` (or, for keras_major=2, tf-keras' `training_config`)."""
    cfg = model.get_compile_config()
    if cfg is None:
        return None
    opt = cfg["optimizer"]
    optimizer = {"class_name": opt["class_name"], "config": dict(opt["config"])}
    loss = cfg["loss"]
    loss = [_loss_to_keras(v) for v in loss] if isinstance(loss, list) else \
        _loss_to_keras(loss)
    metrics = cfg["metrics"] if any(cfg["metrics"] or ()) else None   # [] or [[], []]: None
    if keras_major == 2:
        # tf-keras names its (non-legacy) optimizers "Custom>Adam" in .h5 files; a bare
        # "Adam" would load as its legacy optimizer_v2.
        optimizer["class_name"] = "Custom>" + optimizer["class_name"]
        return {"loss": loss, "metrics": metrics, "weighted_metrics": None,
                "loss_weights": cfg["loss_weights"], "optimizer_config": optimizer}
    return {"optimizer": serialized(optimizer["class_name"], optimizer["config"],
                                    "keras.optimizers"),
            "loss": loss, "loss_weights": cfg["loss_weights"], "metrics": metrics,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}


def _loss_to_keras(loss):
    if isinstance(loss, dict):
        return serialized(loss["class_name"], dict(loss["config"]), "keras.losses")
    return loss


def optimizer_variables(model, keras_major, layers, legacy_names=None):
    """[(name, array)] of the optimizer's variables in Keras' order for `layers` (the model's
    layers as the file lists them; zeros for an optimizer that has not taken a step yet).
    Names are tf-keras' (`iteration:0`, `Adam/m/dense/kernel:0`) built from
    `legacy_names`, per layer the file's names of its weights; Keras 3's ordered layout
    ignores them."""
    optimizer = model.optimizer
    weights = model.trainable_weights
    active = optimizer.slot_names()
    state = optimizer.get_state() if optimizer.built else []
    if len(state) != 2 + len(weights) * len(active):
        state = [np.int64(optimizer.iterations), np.float32(optimizer.learning_rate)] + [
            np.zeros_like(w) for w in weights for _ in active]
    slots = {(s, i): state[2 + i * len(active) + j]
             for i in range(len(weights)) for j, s in enumerate(active)}
    positions = trainable_positions(model, layers)
    ours = _fastrnn_index(model, positions)
    by_layer = {id(layer): n for layer, n in zip(layers, legacy_names or [])}
    cls = type(optimizer).__name__
    out = [("iteration:0", np.asarray(state[0], np.int64))]
    if keras_major == 3:
        out.append(("learning_rate", np.asarray(state[1], np.float32)))
    for slot, k in _slot_order(optimizer, len(positions), keras_major):
        layer, j = positions[k]
        value = slots.get((slot, ours[k]))
        if value is None:       # tf-keras' SGD keeps momentum slots at momentum 0
            value = np.zeros_like(layer.weights[j])
        name = by_layer[id(layer)][j] if legacy_names else str(k)
        base = name[:-2] if name.endswith(":0") else name
        out.append((f"{cls}/{_TF_KERAS_SLOT.get((cls, slot), slot)}/{base}:0",
                    np.asarray(value, np.float32)))
    return out
