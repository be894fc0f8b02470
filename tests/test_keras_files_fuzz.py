"""Hypothesis sweep: random Sequential stacks of the supported layers and arguments (Masking,
convolutions, poolings, normalizations, spatial dropout, recurrent layers and Bidirectional,
Dense with regularizers and constraints, ...), built and saved by Keras 3 (.keras or legacy
.h5), load into fastrnn with Keras' predictions, and go back to Keras (.keras) with the same
predictions and config. A few examples by default, FASTRNN_FUZZ=long for many."""
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import _keras_files as kf
from fastrnn.keras_files import load_keras_model, save_keras_model

EXAMPLES = 60 if os.environ.get("FASTRNN_FUZZ") == "long" else 4
_ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")


@st.composite
def recurrent(draw, return_sequences):
    cls = draw(st.sampled_from(("SimpleRNN", "LSTM", "GRU")))
    kwargs = {"units": draw(st.integers(1, 4)), "return_sequences": return_sequences,
              "go_backwards": draw(st.booleans()), "use_bias": draw(st.booleans()),
              "activation": draw(st.sampled_from(_ACTIVATIONS)),
              "dropout": draw(st.sampled_from((0.0, 0.2))),
              "recurrent_dropout": draw(st.sampled_from((0.0, 0.1)))}
    if cls != "SimpleRNN":
        kwargs["recurrent_activation"] = draw(st.sampled_from(("sigmoid", "hard_sigmoid",
                                                               "tanh")))
    if cls == "GRU":
        kwargs["reset_after"] = draw(st.booleans())
    if cls == "LSTM":
        kwargs["unit_forget_bias"] = draw(st.booleans())
    layer = (cls, kwargs)
    if not draw(st.booleans()):
        return layer
    kwargs["go_backwards"] = False          # Keras: the backward copy must differ
    wrapper = {"layer": layer, "merge_mode": draw(st.sampled_from(("concat", "sum", "mul",
                                                                   "ave")))}
    if draw(st.booleans()):
        wrapper["backward_layer"] = (cls, {**kwargs, "go_backwards": True,
                                           "units": kwargs["units"]})
    return ("Bidirectional", wrapper)


@st.composite
def sequence_block(draw):
    """Layers between the input and the recurrent ones (each one optional)."""
    layers = []
    if draw(st.booleans()):
        layers.append(("Conv1D", {"filters": draw(st.integers(1, 4)),
                                  "kernel_size": draw(st.integers(1, 3)),
                                  "padding": draw(st.sampled_from(("same", "causal"))),
                                  "activation": draw(st.sampled_from(_ACTIVATIONS))}))
    if draw(st.booleans()):
        layers.append((draw(st.sampled_from(("MaxPooling1D", "AveragePooling1D"))),
                       {"pool_size": 2, "padding": "same"}))
    norm = draw(st.sampled_from((None, "BatchNormalization", "LayerNormalization")))
    if norm:
        layers.append((norm, {"epsilon": draw(st.sampled_from((1e-3, 0.1)))}))
    if draw(st.booleans()):
        layers.append(("SpatialDropout1D", {"rate": 0.2}))
    return layers


def _objects(draw):
    """Regularizers and constraints for a Dense layer (each one optional)."""
    O = kf.KerasObject
    out = {}
    for key, choices in (("kernel_regularizer", (O("regularizers.L2", l2=0.01),
                                                 O("regularizers.L1L2", l1=0.01, l2=0.02))),
                         ("activity_regularizer", (O("regularizers.L1", l1=0.01),)),
                         ("kernel_constraint", (O("constraints.MaxNorm", max_value=1.0),
                                                O("constraints.UnitNorm", axis=0))),
                         ("bias_constraint", (O("constraints.NonNeg"),))):
        if draw(st.booleans()):
            out[key] = draw(st.sampled_from(choices))
    return out


@st.composite
def stacks(draw):
    steps = draw(st.integers(1, 5))
    if draw(st.booleans()):
        vocab = draw(st.integers(3, 12))
        spec = ("int", steps, vocab)
        layers = [("Embedding", {"input_dim": vocab, "output_dim": draw(st.integers(1, 4)),
                                 "mask_zero": draw(st.booleans())})]
    else:
        spec = ("float", steps, draw(st.integers(1, 3)))
        layers = [("Masking", {"mask_value": 0.0})] if draw(st.booleans()) else []
    layers += draw(sequence_block())
    depth = draw(st.integers(1, 3))
    last_sequences = draw(st.booleans())
    for i in range(depth):
        layers.append(draw(recurrent(i < depth - 1 or last_sequences)))
    if draw(st.booleans()):
        layers.append(("Dropout", {"rate": draw(st.sampled_from((0.1, 0.5)))}))
    layers.append(("Dense", {"units": draw(st.integers(1, 3)),
                             "activation": draw(st.sampled_from(_ACTIVATIONS + ("softmax",))),
                             **_objects(draw)}))
    if draw(st.booleans()):
        layers.append(("Activation", {"activation": draw(st.sampled_from(_ACTIVATIONS))}))
    return ("fuzz", spec, layers, None), draw(st.sampled_from(("keras", "h5")))


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(stacks())
def test_random_stacks_round_trip(case):
    recipe, fmt = case
    keras = kf.keras3()
    model = kf.build(keras, recipe, seed=1)
    x, _ = kf.data(recipe, seed=2)
    ref = kf.predict(model, x)
    folder = kf.folder()
    path = os.path.join(folder, f"fuzz.{fmt}")
    model.save(path)
    ours = load_keras_model(path)
    kf.assert_close(ours.predict(x), ref)
    out = os.path.join(folder, "fuzz_back.keras")
    save_keras_model(ours, out)
    back = keras.models.load_model(out)
    kf.assert_close(kf.predict(back, x), ref)
    assert kf.normalized(back.get_config()["layers"][1:]) == kf.normalized(
        model.get_config()["layers"][1:])
    assert np.isfinite(ref).all()
