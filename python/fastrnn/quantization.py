"""Reduced-precision inference, opt-in: `model.quantize(mode)` and `layer.quantize(mode)`
(Keras 3's names).

Modes: "int8" (Keras 3's name; weights quantised symmetric per output column, activations
dynamically per row and step, as PyTorch's quantize_dynamic for LSTM/GRU) and "bfloat16" (a
fastrnn extension: weights and activations rounded to bfloat16, float32 sums). The rounding,
scales and instructions (AVX512_BF16 / AVX512_VNNI where the CPU has them, portable loops
otherwise) are described in cpp/src/quantized.hpp; `fastrnn._core.precision_isa(mode)` says
which this process uses.

What it changes: the SimpleRNN, LSTM and GRU layers (inside Bidirectional too) run predict,
evaluate and __call__ with their kernel and recurrent kernel in that precision; the cell's
element-wise step, the biases and the states stay float32, and so do all other layers (Dense,
Embedding, ...: they are skipped, as Keras skips layers without a quantized form). The float32
weights are kept unchanged (`layer.weights`, `get_weights`, `save_weights` give them).
Float32 remains the default and the parity reference.

What it skips, with a warning (as Keras): layers that cannot be quantized inside a quantizable
wrapper (Bidirectional(RNN(cell))). What it refuses: training (fit, or a call with training=True, raises RuntimeError: train in
float32, then quantize), quantizing twice or before build (Keras' rules), float64 layers,
GRU(reset_after=False), `config=` (Keras' QuantizationConfig objects), and `model.save` /
`export` of a quantized model (ValueError: quantization is not stored; save the float32
model and quantize after loading).
"""
import re
import warnings

MODES = ("int8", "bfloat16")


def check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"quantize: mode expected one of {MODES}, got {mode!r}")


def check_layer(layer, mode):
    """Keras' checks of Layer.quantize: a known mode, built, not quantized yet."""
    check_mode(mode)
    if not layer.built:
        raise ValueError(f"Cannot quantize a layer that isn't yet built. Layer '{layer.name}' "
                         f"(of type '{type(layer).__name__}') is not built yet.")
    if layer.quantization_mode is not None:
        raise ValueError(f"Layer '{layer.name}' is already quantized with mode="
                         f"'{layer.quantization_mode}'. Received: mode={mode}")
    if str(layer.dtype) != "float32":
        raise ValueError(f"quantize: layer '{layer.name}' has dtype {layer.dtype}; reduced "
                         "precision needs float32 layers")


def _leaves(layers):
    """The layers of a model, nested models' layers in place of the models."""
    for layer in layers:
        inner = getattr(layer, "layers", None)
        if isinstance(inner, list):
            yield from _leaves(inner)
        else:
            yield layer


def _matches(layer, filters):
    if filters is None:
        return True
    if callable(filters):
        return bool(filters(layer))
    patterns = [filters] if isinstance(filters, str) else list(filters)
    return any(re.search(p, layer.name) for p in patterns)


def quantize_model(model, mode, config=None, filters=None, **kwargs):
    """Model.quantize: quantize every recurrent layer (matching `filters`) of a built model."""
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments passed to {type(model).__name__}: "
                         f"{kwargs}")
    if config is not None:
        raise NotImplementedError("quantize: config is not supported by fastrnn; pass mode "
                                  f"as one of {MODES}")
    check_mode(mode)
    if not (filters is None or callable(filters) or isinstance(filters, (str, list, tuple))):
        raise ValueError("The `filters` argument must be a regex string, a list of regex "
                         f"strings, or a callable. Received: {type(filters)}")
    if not model.built:
        raise ValueError(f"Cannot quantize a model that isn't yet built. Model '{model.name}' "
                         "is not built yet (call build(input_shape) or fit/predict first).")
    for layer in _leaves(model.layers):
        if hasattr(layer, "quantize") and _matches(layer, filters):
            try:
                layer.quantize(mode)
            except NotImplementedError as e:   # Keras warns and goes on
                warnings.warn(str(e), stacklevel=2)


def quantized_modes(model):
    """The quantization modes of a model's layers (empty: none is quantized)."""
    return {layer.quantization_mode for layer in _leaves(model.layers)
            if getattr(layer, "quantization_mode", None) is not None}


def refuse_quantized(model, what):
    modes = quantized_modes(model)
    if modes:
        raise ValueError(f"{what}: the model is quantized (mode {sorted(modes)[0]!r}), which "
                         "fastrnn does not store; save the float32 model (before quantize, or "
                         "build a new one and set_weights) and quantize after loading")


def refuse_training(layer):
    raise RuntimeError(f"{layer.name}: training a quantized layer (mode "
                       f"'{layer.quantization_mode}') is not supported; train in float32, "
                       "then call quantize")
