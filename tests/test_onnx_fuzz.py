"""Property-based sweep of ONNX export: random stacks of supported layers (cells, both GRU
variants, Bidirectional merge modes, go_backwards, return_sequences/return_state,
zero_output_for_mask, activations, Dropout, per-step layers between the recurrent ones that
keep the mask (Dense, TimeDistributed, LayerNormalization) or drop it (Conv1D "same" or
"causal"), a Dense head), random weights, ids masked with
mask_zero padded on either side (empty and full rows included) or float inputs. Every exported
model passes onnx.checker and ONNX Runtime equals fastrnn's predictions within
1e-5 + 1e-5 * |ref| on two inputs of different batch size and length (dynamic axes).

Profiles (FASTRNN_FUZZ): default derandomized, 25 examples (a few seconds);
`FASTRNN_FUZZ=long` 1000 random examples:

    FASTRNN_FUZZ=long PYTHONPATH=python python -m pytest tests/test_onnx_fuzz.py -q
"""
import os

import numpy as np
from _onnx_check import assert_matches, padded_ids, randomize
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import fastrnn
from fastrnn import layers as L
from fastrnn.export.onnx import activations as onnx_activations

settings.register_profile(
    "fastrnn-onnx-ci", max_examples=25, deadline=None, derandomize=True, database=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "fastrnn-onnx-long", max_examples=1000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile(
    "fastrnn-onnx-long" if os.environ.get("FASTRNN_FUZZ") == "long" else "fastrnn-onnx-ci")

CELLS = {"simple_rnn": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}
VOCAB, FEATURES = 20, 3


def _accepted(name):
    try:
        L.LSTM(1, recurrent_activation=name)
    except ValueError:
        return False
    return True


# keras2_hard_sigmoid joins as soon as the layers accept it
ACTIVATIONS = [n for n in sorted(onnx_activations.RECURRENT) if _accepted(n)]
# Gates: bounded functions only. With linear or relu gates a GRU's (1 - z) * h~ + z * h cancels
# and explodes; both implementations are then exact only to their own rounding (those gate
# activations are exported alike and tested on short sequences in test_onnx_export.py).
GATE_ACTIVATIONS = [n for n in ACTIVATIONS if n not in ("linear", "relu")]
DENSE_ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "softmax", "hard_sigmoid"]
BETWEEN = {   # per-step layers that may follow a recurrent layer returning sequences
    "dense": lambda: L.Dense(3, activation="tanh"),
    "time_distributed": lambda: L.TimeDistributed(L.Dense(2)),
    "layer_norm": lambda: L.LayerNormalization(),
    "conv_same": lambda: L.Conv1D(3, 3, padding="same"),
    "conv_causal": lambda: L.Conv1D(2, 2, padding="causal", dilation_rate=2),
}


@st.composite
def recurrent_specs(draw, last):
    spec = {"cell": draw(st.sampled_from(sorted(CELLS))),
            "units": draw(st.integers(1, 4)),
            "activation": draw(st.sampled_from(ACTIVATIONS)),
            "recurrent_activation": draw(st.sampled_from(GATE_ACTIVATIONS)),
            "use_bias": draw(st.booleans()),
            "go_backwards": draw(st.booleans()),
            "return_sequences": True if not last else draw(st.booleans()),
            "return_state": last and draw(st.booleans()),
            "zero_output_for_mask": draw(st.booleans())}
    if spec["cell"] == "gru":
        spec["reset_after"] = draw(st.booleans())
    modes = ["concat", "sum", "mul", "ave"] + ([None] if last else [])
    spec["bidirectional"] = draw(st.sampled_from([False] + modes))
    return spec


@st.composite
def models(draw):
    n = draw(st.integers(1, 3))
    spec = {"ids": draw(st.booleans()), "padding": draw(st.sampled_from(["pre", "post"])),
            "recurrent": [draw(recurrent_specs(last=i == n - 1)) for i in range(n)]}
    spec["mask_zero"] = spec["ids"] and draw(st.booleans())
    last = spec["recurrent"][-1]
    single = not last["return_state"] and last["bidirectional"] is not None
    # Dropout after recurrent layer i (-1: none); only single-output layers can have a successor
    spec["dropout_after"] = draw(st.integers(-1, n - 1 if single else n - 2))
    spec["dense"] = draw(st.sampled_from([None] + DENSE_ACTIVATIONS)) if single else None
    spec["between"] = [draw(st.sampled_from([None] + sorted(BETWEEN))) for _ in range(n - 1)]
    return spec


def build(spec):
    layers = [L.Embedding(VOCAB, FEATURES, mask_zero=spec["mask_zero"]) if spec["ids"]
              else L.InputLayer(shape=(None, FEATURES))]
    for i, r in enumerate(spec["recurrent"]):
        kwargs = {k: v for k, v in r.items() if k not in ("cell", "units", "bidirectional")}
        if r["cell"] == "simple_rnn":
            del kwargs["recurrent_activation"]
        layer = CELLS[r["cell"]](r["units"], **kwargs)
        if r["bidirectional"] is not False:
            layer = L.Bidirectional(layer, merge_mode=r["bidirectional"])
        layers.append(layer)
        if spec["dropout_after"] == i:
            layers.append(L.Dropout(0.5))
        if i < len(spec["between"]) and spec["between"][i]:
            layers.append(BETWEEN[spec["between"][i]]())
    if spec["dense"]:
        layers.append(L.Dense(2, activation=spec["dense"]))
    model = fastrnn.Sequential(layers)
    model.build((None, None) if spec["ids"] else (None, None, FEATURES))
    return model


def inputs(spec, rng, batch, steps, lengths):
    if not spec["ids"]:
        return rng.normal(size=(batch, steps, FEATURES)).astype(np.float32)
    if spec["mask_zero"]:
        return padded_ids(rng, lengths, steps, VOCAB, spec["padding"])
    return rng.integers(0, VOCAB, size=(batch, steps))


@st.composite
def batches(draw):
    batch, steps = draw(st.integers(1, 4)), draw(st.integers(1, 7))
    lengths = draw(st.lists(st.integers(0, steps), min_size=batch, max_size=batch))
    return batch, steps, lengths


@PROFILE
@given(spec=models(), shapes=st.lists(batches(), min_size=2, max_size=2),
       seed=st.integers(0, 2 ** 32 - 1))
def test_exported_stacks_match_fastrnn(spec, shapes, seed):
    note(f"model spec: {spec}")
    note(f"(batch, steps, lengths): {shapes}")
    rng = np.random.default_rng(seed)
    model = build(spec)
    randomize(model, rng)
    xs = [inputs(spec, rng, *shape) for shape in shapes]
    assert_matches(model, xs, mask_padding=spec["padding"])
