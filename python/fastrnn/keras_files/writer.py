"""Write fastrnn models as Keras files: `.keras` (Keras 3), `.weights.h5` (Keras 3 layout) and
legacy `.h5` (Keras 2 / tf-keras layout, which tf-keras and Keras 3 both open).

A model that one format cannot express without changing its numbers is refused with a
WriteError before anything is written (Keras 2's hard_sigmoid in a .keras file, Keras 3's in
a Keras 2 .h5). Files are written atomically.
"""
import datetime
import json
import warnings

import h5py
import numpy as np

from .._version import __version__
from . import container, weights_h5
from .config import WriteError
from .model_config import keras_layers, model_to_keras
from .optimizer import compile_to_keras, optimizer_variables

# The Keras releases whose files these writers produce (and were tested against).
KERAS3_VERSION = "3.15.1"
KERAS2_VERSION = "2.21.0"


def _check_model(model):
    if not model.built:
        raise WriteError("the model is not built: build it (or call it on data) before saving")


def save_keras_model(model, path, include_optimizer=True):
    """Write `model` as a Keras 3 `.keras` file (`keras.models.load_model` opens it)."""
    _check_model(model)
    spec, layers = model_to_keras(model, 3)
    with_optimizer = include_optimizer and model.compiled and model.optimizer is not None
    if with_optimizer:
        spec["compile_config"] = compile_to_keras(model, 3)
    metadata = {"keras_version": KERAS3_VERSION, "fastrnn_version": __version__,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    container.write_keras_zip(path, spec, metadata, lambda h5_path: _write_weights(
        model, layers, h5_path, with_optimizer))


def save_keras_weights(model, path):
    """Write `model`'s weights (and optimizer state, if compiled) in Keras 3's
    `.weights.h5` layout (`keras_model.load_weights` reads it)."""
    _check_model(model)
    layers = keras_layers(model, 3)
    with container.atomic_path(path) as tmp:
        _write_weights(model, layers, tmp, model.compiled and model.optimizer is not None)


def _write_weights(model, layers, h5_path, with_optimizer):
    with h5py.File(h5_path, "w") as h5:
        weights_h5.write_keras3(h5, model.name, layers)
        if with_optimizer:
            group = h5.create_group("optimizer").create_group("vars")
            group.attrs["name"] = model.optimizer.name
            for i, (_, value) in enumerate(optimizer_variables(model, 3, layers)):
                group.create_dataset(str(i), data=value)


def save_legacy_h5(model, path, include_optimizer=True):
    """Write `model` as a Keras 2 (tf-keras) HDF5 model file."""
    _check_model(model)
    spec, layers = model_to_keras(model, 2)
    _warn_keras3_order(model, layers, path)
    training = None
    if include_optimizer and model.compiled and model.optimizer is not None:
        training = compile_to_keras(model, 2)
    with container.atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        for holder in (h5, h5.create_group("model_weights")):
            holder.attrs["backend"] = "tensorflow"
            holder.attrs["keras_version"] = KERAS2_VERSION
        h5.attrs["fastrnn_version"] = __version__
        h5.attrs["model_config"] = json.dumps(spec)
        weights_h5.write_legacy(h5["model_weights"], layers)
        if training is not None:
            h5.attrs["training_config"] = json.dumps(training)
            variables = optimizer_variables(model, 2, layers, [
                weights_h5.legacy_weight_names(layer) for layer in layers])
            group = h5.create_group("optimizer_weights")
            group.attrs["weight_names"] = np.array([n.encode() for n, _ in variables])
            for name, value in variables:
                group.create_dataset(name, data=value)


def _warn_keras3_order(model, layers, path):
    """Keras 3 also opens .h5 files and, like tf-keras, gives the layers with weights the
    file's weights by position in its own layer order; where that order differs from
    tf-keras' (Keras 3 counts the operations it adds for masks), Keras 3 would put weights in
    the wrong layers."""
    try:
        keras3 = [layer for layer in keras_layers(model, 3) if layer.weights]
    except WriteError:      # masks merged by a merge layer: the order is not known
        keras3 = None
    if keras3 != [layer for layer in layers if layer.weights]:
        would = "may" if keras3 is None else "would"
        warnings.warn(f"{path}: Keras 3 orders this model's layers differently from tf-keras "
                      f"(because of the operations it adds for masks) and {would} load this "
                      ".h5 file's weights into the wrong layers; tf-keras reads it correctly. "
                      "For Keras 3, save as .keras", stacklevel=3)
