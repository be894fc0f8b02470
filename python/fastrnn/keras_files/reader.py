"""Load Keras model and weights files into fastrnn models (no Keras or TensorFlow needed).

Everything is checked before the model is returned: a damaged file, a weight of the wrong
shape or a missing weight raises ModelFileError naming the layer and weight, an unsupported
layer or argument raises UnsupportedKerasFeature; nothing half-built is returned.
"""
import os

from ..saving import ModelFileError
from . import container, detect, h5safe, weights_h5
from .errors import Source
from .model_config import WeightBudget, keras_layers, model_from_keras
from .optimizer import apply_state, compile_from_keras, named_state, ordered_state


def load_keras_model(path, compile=True):
    """A fastrnn model from a Keras .keras file or a legacy Keras .h5 model file."""
    kind = detect.detect_format(path)
    if kind == detect.KERAS_ZIP:
        return _load_zip(path, compile)
    if kind == detect.LEGACY_MODEL:
        return _load_legacy(path, compile)
    raise ModelFileError(f"{str(path)!r} is not a Keras model file ({kind}); "
                         + ("build the model and call load_keras_weights"
                            if kind in (detect.LEGACY_WEIGHTS, detect.KERAS_WEIGHTS) else
                            "fastrnn's own files load with fastrnn.load_model"))


def _load_zip(path, compile):
    with container.read_keras_zip(path) as (config, metadata, weights_path):
        src = Source(path, metadata.get("keras_version", "3"))
        loaded = model_from_keras(config, src,
                                  WeightBudget(os.path.getsize(weights_path), src))
        with h5safe.open_file(weights_path, src.path) as h5:
            _set_weights(loaded.layers, weights_h5.read_keras3(h5, loaded.layers, src.path),
                         src)
            if compile and config.get("compile_config"):
                compile_from_keras(loaded.model, config["compile_config"], src)
                apply_state(loaded.model, ordered_state(loaded.model, h5, src, loaded.layers))
    return loaded.model


def _load_legacy(path, compile):
    where = repr(str(path))
    with h5safe.open_file(path, where) as h5:
        src = Source(path, _keras_version(h5, where))
        config = h5safe.json_attribute(h5, "model_config", where)
        loaded = model_from_keras(config, src, WeightBudget(os.path.getsize(path), src))
        arrays, names = weights_h5.read_legacy(h5safe.group(h5, "model_weights", where),
                                               loaded.layers, where)
        _set_weights(loaded.layers, arrays, src)
        training = h5safe.json_attribute(h5, "training_config", where) if compile else None
        if training:
            compile_from_keras(loaded.model, training, src)
            apply_state(loaded.model, named_state(loaded.model, h5, src, loaded.layers, names))
    return loaded.model


def _keras_version(h5, where):
    version = h5safe.attribute(h5, "keras_version", where)
    if version is None and h5safe.has(h5, "model_weights", where):
        version = h5safe.attribute(h5safe.group(h5, "model_weights", where), "keras_version",
                                   where)
    return version if isinstance(version, str) else None


def _set_weights(layers, arrays, src):
    for layer, values in zip(layers, arrays):
        if layer.weights:
            try:
                layer.set_weights(values)
            except (TypeError, ValueError) as e:
                raise src.error(f"layer {layer.name!r}: {e}") from e


def load_keras_weights(model, path):
    """Set `model`'s weights (and, if it is compiled, its optimizer state) from a Keras
    weights file: a Keras 3 `.weights.h5`, a legacy `.h5` weights or model file, or the weights
    of a `.keras` file. On any error the model is left unchanged."""
    kind = detect.detect_format(path)
    where = repr(str(path))
    if kind == detect.KERAS_ZIP:
        with container.read_keras_zip(path) as (_, metadata, weights_path):
            return _load_weights_h5(model, weights_path,
                                    Source(path, metadata.get("keras_version", "3")), kind)
    if kind in (detect.KERAS_WEIGHTS, detect.LEGACY_WEIGHTS, detect.LEGACY_MODEL):
        return _load_weights_h5(model, path, Source(path, "3"), kind)
    raise ModelFileError(f"{where} is not a Keras weights file")


def _load_weights_h5(model, h5_path, src, kind):
    if not model.built:
        raise ValueError("load_keras_weights: build the model first (call it on data or "
                         "build(input_shape)) so its weights exist")
    with h5safe.open_file(h5_path, src.path) as h5:
        if kind in (detect.KERAS_ZIP, detect.KERAS_WEIGHTS):
            layers = keras_layers(model, src.major)
            arrays = weights_h5.read_keras3(h5, layers, src.path)
            names = None
        else:   # the layer order of the Keras that wrote the file
            layers = keras_layers(model, Source(h5_path, _keras_version(h5, src.path)).major)
            group = h5safe.group(h5, "model_weights", src.path) if kind == \
                detect.LEGACY_MODEL else h5
            arrays, names = weights_h5.read_legacy(group, layers, src.path)
        state = None
        if model.compiled and model.optimizer is not None:
            state = ordered_state(model, h5, src, layers) if names is None else \
                named_state(model, h5, src, layers, names)
        _set_weights(layers, arrays, src)       # every array was checked while reading
        apply_state(model, state)
