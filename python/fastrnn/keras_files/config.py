"""Keras layer configs <-> fastrnn layers: one table entry per Keras layer class.

An entry lists every argument the Keras class writes (Keras 2 and Keras 3 spellings) with
what it means for fastrnn:

    PASS        the same argument of the fastrnn layer
    ACTIVATION  an activation name (Keras 2's `hard_sigmoid` is not Keras 3's, see below)
    INITIALIZER an initializer config (only used if the layer is re-initialised)
    REGULARIZER a regularizer config (L1, L2, L1L2), applied in training
    CONSTRAINT  a constraint config (MaxNorm, NonNeg, UnitNorm, MinMaxNorm), applied in training
    DTYPE       a dtype policy: float32 is accepted, anything else changes the numbers
    INPUT_DTYPE the dtype of the model's input (InputLayer)
    SHAPE       an input-shape hint (Keras 2 `batch_input_shape`, `input_length`, ...)
    EXECUTION   how Keras runs the layer (`unroll`, `implementation`, ...): accepted, dropped
    NONE        must be None (quantization, LoRA): anything else changes the numbers
    Must(v)     must equal v (e.g. `time_major=False`)
    Nested      a nested layer config (Bidirectional, TimeDistributed, RNN's cell)
    NESTED_LIST a list of nested layer configs (StackedRNNCells' cells)

An argument that is not in the table is an error naming it: a setting is never silently
ignored. A value the fastrnn layer refuses (say a regularizer on a layer that does not take
one yet) is an UnsupportedKerasFeature naming the layer. Classes are looked up in this table
and fastrnn's layer registry only; nothing named in a file is imported or executed.
"""
import re
import warnings

from .. import activations, constraints, initializers, regularizers
from ..layers import registry

MAX_NESTING = 4     # wrapper in wrapper in ...: Keras models need 2
RECURRENT = ("SimpleRNN", "LSTM", "GRU")
CELLS = ("SimpleRNNCell", "LSTMCell", "GRUCell")
_SEQUENCE_INPUT = RECURRENT + ("Conv1D", "RNN")    # Keras 1/2 `input_dim` is the features axis


PASS, ACTIVATION, INITIALIZER, REGULARIZER, CONSTRAINT = (
    "pass", "activation", "initializer", "regularizer", "constraint")
DTYPE, INPUT_DTYPE, SHAPE, EXECUTION, NONE = "dtype", "input_dtype", "shape", "execution", "none"
NESTED_LIST = "nested_list"
_OBJECTS = {REGULARIZER: regularizers, CONSTRAINT: constraints}


class Must:
    """The argument must have this value."""

    def __init__(self, value):
        self.value = value


class Nested:
    """A nested layer config; `strip` is a name prefix the fastrnn wrapper adds again."""

    def __init__(self, strip=""):
        self.strip = strip


_COMMON = {"name": PASS, "trainable": PASS, "dtype": DTYPE, "batch_input_shape": SHAPE,
           "input_shape": SHAPE, "activity_regularizer": REGULARIZER}
_KERNEL = {"use_bias": PASS, "kernel_initializer": INITIALIZER, "bias_initializer": INITIALIZER,
           "kernel_regularizer": REGULARIZER, "bias_regularizer": REGULARIZER,
           "kernel_constraint": CONSTRAINT, "bias_constraint": CONSTRAINT,
           "activation": ACTIVATION, "lora_rank": NONE, "lora_alpha": EXECUTION}
_RNN = {**_KERNEL, "units": PASS, "recurrent_initializer": INITIALIZER,
        "recurrent_regularizer": REGULARIZER, "recurrent_constraint": CONSTRAINT,
        "dropout": PASS, "recurrent_dropout": PASS, "return_sequences": PASS,
        "return_state": PASS, "go_backwards": PASS, "zero_output_for_mask": PASS, "seed": PASS,
        # (the states of a stateful layer are not weights: neither Keras nor tf-keras saves
        # them, and a loaded stateful model starts from zeros)
        "stateful": PASS, "time_major": Must(False), "unroll": EXECUTION,
        "implementation": EXECUTION, "use_cudnn": EXECUTION, "input_dim": SHAPE,
        "input_length": SHAPE}
_GATED = {**_RNN, "recurrent_activation": ACTIVATION}
_CELL = {**_KERNEL, "units": PASS, "recurrent_initializer": INITIALIZER,
         "recurrent_regularizer": REGULARIZER, "recurrent_constraint": CONSTRAINT,
         "dropout": PASS, "recurrent_dropout": PASS, "seed": PASS, "implementation": EXECUTION}
_GATED_CELL = {**_CELL, "recurrent_activation": ACTIVATION}
_GLOBAL_POOLING = {"data_format": PASS, "keepdims": PASS}
_POOLING = {"pool_size": PASS, "strides": PASS, "padding": PASS, "data_format": PASS}
_NORMALIZATION = {"axis": PASS, "epsilon": PASS, "center": PASS, "scale": PASS,
                  "beta_initializer": INITIALIZER, "gamma_initializer": INITIALIZER,
                  "beta_regularizer": REGULARIZER, "gamma_regularizer": REGULARIZER,
                  "beta_constraint": CONSTRAINT, "gamma_constraint": CONSTRAINT}
_MERGE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")

# Keras class -> (fastrnn class, arguments, values of arguments a Keras 2 config may lack
# whose Keras 2 meaning differs from today's default)
LAYERS = {
    "InputLayer": ("InputLayer", {"batch_shape": PASS, "batch_input_shape": SHAPE,
                                  "input_shape": SHAPE, "dtype": INPUT_DTYPE, "name": PASS,
                                  "sparse": Must(False), "ragged": Must(False),
                                  "optional": Must(False)}, {}),
    "Embedding": ("Embedding", {"input_dim": PASS, "output_dim": PASS, "mask_zero": PASS,
                                "embeddings_initializer": INITIALIZER,
                                "embeddings_regularizer": REGULARIZER,
                                "embeddings_constraint": CONSTRAINT, "input_length": SHAPE,
                                "quantization_config": NONE, "lora_rank": NONE,
                                "lora_alpha": EXECUTION, "sparse": Must(False)}, {}),
    "SimpleRNN": ("SimpleRNN", _RNN, {}),
    "LSTM": ("LSTM", {**_GATED, "unit_forget_bias": PASS}, {}),
    # Keras <= 2.1 GRUs had no reset_after argument and computed reset_after=False.
    "GRU": ("GRU", {**_GATED, "reset_after": PASS}, {"reset_after": False}),
    "RNN": ("RNN", {"cell": Nested(), "return_sequences": PASS, "return_state": PASS,
                    "go_backwards": PASS, "stateful": PASS, "zero_output_for_mask": PASS,
                    "unroll": EXECUTION, "time_major": Must(False), "input_dim": SHAPE,
                    "input_length": SHAPE}, {}),
    "SimpleRNNCell": ("SimpleRNNCell", _CELL, {}),
    "LSTMCell": ("LSTMCell", {**_GATED_CELL, "unit_forget_bias": PASS}, {}),
    "GRUCell": ("GRUCell", {**_GATED_CELL, "reset_after": PASS}, {"reset_after": False}),
    "StackedRNNCells": ("StackedRNNCells", {"cells": NESTED_LIST}, {}),
    "Bidirectional": ("Bidirectional", {"layer": Nested(strip="forward_"),
                                        "backward_layer": Nested(), "merge_mode": PASS}, {}),
    "Dense": ("Dense", {**_KERNEL, "units": PASS, "quantization_config": NONE,
                        "input_dim": SHAPE}, {}),
    "Conv1D": ("Conv1D", {**_KERNEL, "filters": PASS, "kernel_size": PASS, "strides": PASS,
                          "padding": PASS, "data_format": PASS, "dilation_rate": PASS,
                          "groups": PASS, "input_dim": SHAPE, "input_length": SHAPE}, {}),
    "MaxPooling1D": ("MaxPooling1D", _POOLING, {}),
    "AveragePooling1D": ("AveragePooling1D", _POOLING, {}),
    "GlobalMaxPooling1D": ("GlobalMaxPooling1D", _GLOBAL_POOLING, {}),
    "GlobalAveragePooling1D": ("GlobalAveragePooling1D", _GLOBAL_POOLING, {}),
    "BatchNormalization": ("BatchNormalization", {
        **_NORMALIZATION, "momentum": PASS, "moving_mean_initializer": INITIALIZER,
        "moving_variance_initializer": INITIALIZER, "renorm": Must(False),
        "renorm_clipping": PASS, "renorm_momentum": PASS, "synchronized": PASS,
        "virtual_batch_size": NONE, "fused": EXECUTION}, {}),    # (tf.keras' spellings)
    "LayerNormalization": ("LayerNormalization", {**_NORMALIZATION, "rms_scaling": PASS}, {}),
    "Dropout": ("Dropout", {"rate": PASS, "noise_shape": PASS, "seed": PASS}, {}),
    # (tf-keras writes `trainable` for this weightless layer; Keras 3 does not)
    "SpatialDropout1D": ("SpatialDropout1D", {"rate": PASS, "seed": PASS, "noise_shape": NONE,
                                              "trainable": EXECUTION}, {}),
    "Activation": ("Activation", {"activation": ACTIVATION}, {}),
    "Masking": ("Masking", {"mask_value": PASS}, {}),
    "Flatten": ("Flatten", {"data_format": PASS}, {}),
    "RepeatVector": ("RepeatVector", {"n": PASS}, {}),
    "Reshape": ("Reshape", {"target_shape": PASS}, {}),
    "Permute": ("Permute", {"dims": PASS}, {}),
    "TimeDistributed": ("TimeDistributed", {"layer": Nested()}, {}),
    "Concatenate": ("Concatenate", {"axis": PASS}, {}),
    "Dot": ("Dot", {"axes": PASS, "normalize": PASS}, {}),
    **{cls: (cls, {}, {}) for cls in _MERGE},
}
# Layers that carry Python code: refused by name, with the reason.
CODE_LAYERS = ("Lambda", "TFOpLambda", "SlicingOpLambda")
# Arguments Keras 2 (tf-keras) classes do not take: dropped when writing for Keras 2 if they
# have the given value (ANY: whatever the value; a seed only draws dropout masks), else the
# model cannot be written for Keras 2.
ANY = object()
_KERAS2_DROPS = {**{cls: {"seed": ANY} for cls in RECURRENT + CELLS},
                 "BatchNormalization": {"renorm": False, "renorm_clipping": None,
                                        "renorm_momentum": 0.99, "synchronized": False},
                 "LayerNormalization": {"rms_scaling": False}}
# Keras 3-only initializer arguments (tf-keras' initializers do not take them)
_KERAS3_INITIALIZER_ARGS = ("input_axes", "output_axes")

_FLOAT32_POLICIES = ("float32", None)


def snake_case(class_name):
    """Keras' to_snake_case (the names of the weight groups in .keras files)."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# --- Keras -> fastrnn --------------------------------------------------------------------------
def spec_parts(spec, src, what="layer"):
    """(class name, config) of a serialized Keras object, refusing custom registered objects."""
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise src.error(f"invalid {what} entry {short(spec)}")
    cls = spec["class_name"]
    check_builtin(spec, src, what)
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise src.error(f"{what} {cls!r}: config must be a JSON object")
    return cls, config


def check_builtin(spec, src, what):
    """Refuse objects of custom classes (another module, or registered under another name)."""
    cls, module = spec.get("class_name"), spec.get("module")
    registered = spec.get("registered_name")
    if (module is not None and not (isinstance(module, str) and module.split(".")[0] in
                                    ("keras", "tf_keras"))) or registered not in (None, cls):
        raise src.unsupported(f"{what} {cls!r} is a custom class (module {module!r}, "
                              f"registered as {registered!r}); fastrnn loads only Keras' "
                              "built-in classes and never imports code named in a file")


def layer_from_keras(spec, src, depth=0):
    """(fastrnn layer, the batch input shape its arguments declare or None) from a
    serialized Keras layer."""
    cls, config = spec_parts(spec, src)
    name = config.get("name", cls)
    if cls in CODE_LAYERS:
        raise src.unsupported(f"layer {name!r} is a Keras {cls} layer, which holds Python "
                              "code; fastrnn never runs code from a file")
    if cls not in LAYERS:
        raise src.unsupported(f"layer {name!r} has class {cls!r}, which fastrnn does not "
                              f"support (supported: {sorted(LAYERS)})")
    if depth > MAX_NESTING:
        raise src.error(f"layer {name!r}: layers nest more than {MAX_NESTING} levels")
    fastrnn_name, table, keras2_missing = LAYERS[cls]
    fastrnn_cls = registry.registered()[fastrnn_name]
    where = f"layer {name!r} ({cls})"
    kwargs, hints = {}, {}
    for key, value in config.items():
        kind = table.get(key, _COMMON.get(key))
        if kind is None:
            raise src.unsupported(f"{where}: argument {key!r}={short(value)} is not "
                                  "supported by fastrnn")
        if kind == PASS:
            kwargs[key] = value
        elif kind == ACTIVATION:
            kwargs[key] = activation_from_keras(value, src, where)
        elif kind == INITIALIZER:
            init = _initializer_from_keras(value, src, where, key)
            if init is not None:
                kwargs[key] = init
        elif kind in _OBJECTS:
            if value is not None:
                kwargs[key] = _object_from_keras(kind, value, src, f"{where}: {key}")
        elif kind == DTYPE:
            _check_float32(value, src, where)
        elif kind == INPUT_DTYPE:
            kwargs[key] = _policy_name(value)
        elif kind == SHAPE:
            hints[key] = value
        elif kind == NONE:
            if value is not None:
                raise src.unsupported(f"{where}: argument {key}={short(value)} is not "
                                      "supported by fastrnn (it changes the numbers)")
        elif isinstance(kind, Must):
            if value != kind.value:
                raise src.unsupported(f"{where}: argument {key}={short(value)} is not "
                                      f"supported by fastrnn (only {kind.value!r})")
        elif isinstance(kind, Nested):
            if value is not None:
                inner, _ = layer_from_keras(value, src, depth + 1)
                if kind.strip and inner.name.startswith(kind.strip):
                    inner.name = inner.name[len(kind.strip):]
                kwargs[key] = inner
        elif kind == NESTED_LIST:
            if not isinstance(value, list):
                raise src.error(f"{where}: {key} must be a list of layer configs, got "
                                f"{short(value)}")
            kwargs[key] = [layer_from_keras(v, src, depth + 1)[0] for v in value]
    if src.major == 2:
        for key, value in keras2_missing.items():
            kwargs.setdefault(key, value)
    declared = _declared_batch_shape(cls, hints, src, where)
    if cls == "InputLayer" and "batch_shape" not in kwargs:
        if declared is None:
            raise src.error(f"{where}: no input shape")
        kwargs["batch_shape"] = declared
    try:
        layer = fastrnn_cls(**kwargs)
    except (TypeError, ValueError, NotImplementedError) as e:
        raise src.unsupported(f"{where}: {e}") from e
    return layer, declared


def _declared_batch_shape(cls, hints, src, where):
    """The batch input shape a layer's Keras arguments declare (Keras 2 put it on the first
    layer: `batch_input_shape`, `input_shape`, `input_dim`, `input_length`), or None."""
    if hints.get("batch_input_shape") is not None:
        shape = hints["batch_input_shape"]
    elif hints.get("input_shape") is not None:
        shape = [None] + list(hints["input_shape"]) if isinstance(
            hints["input_shape"], list) else hints["input_shape"]
    elif cls in _SEQUENCE_INPUT and hints.get("input_dim") is not None:
        shape = [None, hints.get("input_length"), hints["input_dim"]]
    elif hints.get("input_dim") is not None:
        shape = [None, hints["input_dim"]]
    elif hints.get("input_length") is not None:
        shape = [None, hints["input_length"]]
    else:
        return None
    if not isinstance(shape, list) or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)
            for d in shape):
        raise src.error(f"{where}: invalid input shape {short(shape)}")
    return tuple(shape)


def activation_from_keras(value, src, where):
    if value is None:
        return "linear"
    if isinstance(value, dict) and value.get("class_name") == "function" and \
            isinstance(value.get("config"), str):   # Keras 3 spelling of a built-in function
        value = value["config"]
    if not isinstance(value, str):
        raise src.unsupported(f"{where}: activation {short(value)} is a custom object; "
                              "fastrnn loads built-in activations by name only")
    if value == "hard_sigmoid" and src.major == 2:
        # Keras 2: clip(0.2x + 0.5, 0, 1); Keras 3's hard_sigmoid is relu6(x + 3) / 6.
        return "keras2_hard_sigmoid"
    try:
        activations.get(value)
    except (ValueError, TypeError) as e:
        raise src.unsupported(f"{where}: {e}") from e
    return value


def _initializer_from_keras(value, src, where, key):
    """A fastrnn initializer (every Keras 2/3 built-in, by name or config), or None
    (fastrnn's default) for one it does not have: the initializer only matters if the
    loaded weights are re-initialised."""
    try:
        init = initializers.deserialize(value) if isinstance(value, dict) else \
            initializers.get(value)
    except (KeyError, TypeError, ValueError):
        warnings.warn(f"{src.path}: {where}: {key} {short(value)} is not available in "
                      "fastrnn; the loaded weights are used as they are, but re-initialising "
                      "this layer would use fastrnn's default", stacklevel=4)
        return None
    return _named_variance_scaling(init) if src.major == 2 else init


_NAMED_VARIANCE_SCALING = (initializers.GlorotUniform, initializers.GlorotNormal,
                           initializers.HeUniform, initializers.HeNormal,
                           initializers.LecunUniform, initializers.LecunNormal)


def _named_variance_scaling(init):
    """Keras <= 2.2 wrote glorot_uniform, he_normal, ... as the VarianceScaling configs they
    are: the named initializer, so that the model writes them back under their names."""
    if type(init) is not initializers.VarianceScaling or init.input_axes is not None or \
            init.output_axes is not None:
        return init
    for cls in _NAMED_VARIANCE_SCALING:
        named = cls(seed=init.seed)
        if (named.scale, named.mode, named.distribution) == (init.scale, init.mode,
                                                             init.distribution):
            return named
    return init


def _object_from_keras(kind, value, src, where):
    """A fastrnn regularizer or constraint from a Keras 2/3 config or name."""
    if isinstance(value, dict):
        check_builtin(value, src, kind)
    try:
        return _OBJECTS[kind].deserialize(value) if isinstance(value, dict) else \
            _OBJECTS[kind].get(value)
    except (TypeError, ValueError) as e:
        raise src.unsupported(f"{where}: {e}") from e


def _policy_name(value):
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    return value


def _check_float32(value, src, where):
    if _policy_name(value) not in _FLOAT32_POLICIES:
        raise src.unsupported(f"{where}: dtype policy {short(value)} is not supported; "
                              "fastrnn computes in float32")


def short(value):
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# --- fastrnn -> Keras --------------------------------------------------------------------------
class WriteError(ValueError):
    """The model cannot be written in the requested Keras format without changing numbers."""


def layer_to_keras(layer, keras_major, depth=0):
    """The serialized Keras config of a fastrnn layer, for Keras 3 (`keras_major=3`) or for
    Keras 2 / tf-keras (`keras_major=2`)."""
    cls = type(layer).__name__
    if cls not in LAYERS or LAYERS[cls][0] != cls or depth > MAX_NESTING:
        raise WriteError(f"layer {layer.name!r}: fastrnn layer {cls} has no Keras equivalent")
    where = f"layer {layer.name!r} ({cls})"
    table = LAYERS[cls][1]
    drops = _KERAS2_DROPS.get(cls, {}) if keras_major == 2 else {}
    config = {}
    for key, value in layer.get_config().items():
        kind = table.get(key, _COMMON.get(key))
        if key in drops:
            if drops[key] is ANY or value == drops[key]:
                continue
            raise WriteError(f"{where}: {key}={value!r} has no Keras 2 equivalent; save as "
                             ".keras instead")
        if kind is None:
            raise WriteError(f"{where}: argument {key!r} has no Keras equivalent")
        if kind == ACTIVATION:
            value = activation_to_keras(value, keras_major, where)
        elif kind == INITIALIZER:
            value = initializer_to_keras(value, keras_major, where)
        elif kind == DTYPE:
            if value not in _FLOAT32_POLICIES:
                raise WriteError(f"{where}: dtype {value!r}; Keras files are written for "
                                 "float32 models")
            value = dtype_policy(keras_major)
        elif isinstance(kind, Nested):
            value = layer_to_keras(getattr(layer, key), keras_major, depth + 1)
        elif kind == NESTED_LIST:
            value = [layer_to_keras(v, keras_major, depth + 1) for v in getattr(layer, key)]
        elif key == "batch_shape" and keras_major == 2:
            key = "batch_input_shape"
        config[key] = list(value) if isinstance(value, tuple) else value
    return serialized(cls, config, "keras.layers")


def activation_to_keras(name, keras_major, where):
    if keras_major == 2 and name == "hard_sigmoid":
        raise WriteError(f"{where}: Keras 3's hard_sigmoid (relu6(x + 3) / 6) has no Keras 2 "
                         "spelling (Keras 2's hard_sigmoid is clip(0.2x + 0.5, 0, 1)); save "
                         "as .keras instead")
    if name == "keras2_hard_sigmoid":
        if keras_major == 2:
            return "hard_sigmoid"
        raise WriteError(f"{where}: Keras 2's hard_sigmoid (clip(0.2x + 0.5, 0, 1)) does not "
                         "exist in Keras 3, whose hard_sigmoid is relu6(x + 3) / 6: a .keras "
                         "file would change the numbers; save as .h5 (Keras 2 format) instead")
    return name


def initializer_to_keras(spec, keras_major, where):
    """fastrnn serializes initializers in Keras 3's layout already; tf-keras' initializers
    do not take Keras 3's `input_axes`/`output_axes`."""
    init = initializers.deserialize(spec) if isinstance(spec, dict) else initializers.get(spec)
    out = initializers.serialize(init)
    if keras_major == 2 and out is not None:
        extra = {k: out["config"].pop(k) for k in _KERAS3_INITIALIZER_ARGS
                 if k in out["config"]}
        if any(v is not None for v in extra.values()):
            raise WriteError(f"{where}: initializer {out['class_name']} with {extra} has no "
                             "Keras 2 equivalent; save as .keras instead")
    return out


def dtype_policy(keras_major):
    if keras_major == 2:
        return "float32"
    return serialized("DTypePolicy", {"name": "float32"}, "keras")


def serialized(cls, config, module):
    return {"module": module, "class_name": cls, "config": config, "registered_name": None}
