"""Keras' cells (SimpleRNNCell, LSTMCell, GRUCell), StackedRNNCells and RNN(cell) on the fused
kernels: outputs, states and gradients equal Keras' (stacks, go_backwards, masks, Bidirectional,
stateful), one step `cell(x_t, states)`, a training step, weight names and order, summaries,
configs, Keras files both ways; a user-defined cell is refused."""
import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn.layers import registry  # noqa: E402
from fastrnn.layers.base import reset_names  # noqa: E402

from _layer_parity import assert_close, assert_parity  # noqa: E402

B, T, D = 3, 6, 4


def _x(seed=0, shape=(B, T, D)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _mask():
    mask = np.ones((B, T), bool)
    mask[0, 4:] = False     # post-padded
    mask[1, :2] = False     # pre-padded
    return mask


def _cells(mod, kinds):
    make = {"s": lambda: mod.layers.SimpleRNNCell(3, activation="relu"),
            "l": lambda: mod.layers.LSTMCell(4, unit_forget_bias=False),
            "g": lambda: mod.layers.GRUCell(2, reset_after=False),
            "G": lambda: mod.layers.GRUCell(3)}
    cells = [make[k]() for k in kinds]
    return cells[0] if len(cells) == 1 else cells


@pytest.mark.parametrize("kinds,options,masked", [
    ("l", {}, False),
    ("g", {"return_sequences": True, "go_backwards": True}, True),
    ("s", {"return_sequences": True, "zero_output_for_mask": True}, True),
    ("lGs", {"return_sequences": True}, False),
    ("sgl", {"go_backwards": True}, True),
    ("Gl", {"return_sequences": True, "go_backwards": True, "zero_output_for_mask": True}, True),
])
def test_rnn_of_cells_matches_keras(kinds, options, masked):
    """Outputs, input and weight gradients, output mask (training=True runs the backward)."""
    ours = fastrnn.layers.RNN(_cells(fastrnn, kinds), **options)
    theirs = keras.layers.RNN(_cells(keras, kinds), **options)
    assert_parity(ours, theirs, _x(), mask=_mask() if masked else None, training=True)


def test_bidirectional_rnn_of_cells_matches_keras():
    ours = fastrnn.layers.Bidirectional(fastrnn.layers.RNN(_cells(fastrnn, "lg"),
                                                           return_sequences=True))
    theirs = keras.layers.Bidirectional(keras.layers.RNN(_cells(keras, "lg"),
                                                         return_sequences=True))
    assert_parity(ours, theirs, _x(1), mask=_mask(), training=True)


def test_states_come_flat_and_take_keras_nesting():
    """Keras returns [output, [h1, c1], h2] for an LSTMCell under a GRUCell; fastrnn the same
    arrays flat, and takes initial states either way."""
    theirs = keras.layers.RNN(_cells(keras, "lG"), return_state=True, return_sequences=True)
    ours = fastrnn.layers.RNN(_cells(fastrnn, "lG"), return_state=True, return_sequences=True)
    x = _x(2)
    ref = theirs(x)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    assert len(ref) == 3 and len(ref[1]) == 2     # output, [h1, c1], [h2]
    got = ours(x)
    assert len(got) == 4
    for a, b in zip(got, keras.tree.flatten(ref), strict=True):
        assert_close(a, np.asarray(b), what="output and states")
    init = [[_x(3, (B, 4)), _x(4, (B, 4))], _x(5, (B, 3))]
    ref = keras.tree.flatten(theirs(x, initial_state=init))
    for given in (init, [init[0][0], init[0][1], init[1]]):
        for a, b in zip(ours(x, initial_state=given), ref, strict=True):
            assert_close(a, np.asarray(b), what="from initial states")
    with pytest.raises(ValueError, match=r"initial_state expected 3 arrays"):
        ours(x, initial_state=init[0])


@pytest.mark.parametrize("kind", ["s", "l", "G"])
def test_one_step_of_a_cell_matches_keras(kind):
    theirs, ours = _cells(keras, kind), _cells(fastrnn, kind)
    x = _x(6, (B, D))
    n = 2 if kind == "l" else 1
    states = [_x(7 + i, (B, ours.units)) for i in range(n)]
    theirs.build((B, D))
    ours.build((B, D))
    ours.set_weights(theirs.get_weights())
    sources = [tf.constant(x)] + [tf.constant(s) for s in states]
    with tf.GradientTape() as tape:
        tape.watch(sources)
        y, new = theirs(sources[0], list(sources[1:]))
        loss = tf.reduce_sum(y * 0.5) + sum(tf.reduce_sum(s * 0.25 * (i + 1))
                                            for i, s in enumerate(new))
    ref_grads = tape.gradient(loss, sources + list(theirs.trainable_weights))
    if n == 1:      # SimpleRNNCell and GRUCell take and return a bare array too
        _, bare = ours(x, states[0])
        assert isinstance(bare, np.ndarray)
    out, got = ours(x, states, training=True)
    assert isinstance(got, list) and len(got) == n
    assert_close(out, np.asarray(y), what="output")
    for a, b in zip(got, new, strict=True):
        assert_close(a, np.asarray(b), what="new states")
    if n == 1:
        assert np.array_equal(bare, got[0])
    dx, d_prev = ours.backward(np.full_like(out, 0.5),
                               [np.full_like(s, 0.25 * (i + 1)) for i, s in enumerate(got)])
    for a, b in zip([dx] + d_prev + list(ours.grads), ref_grads):
        assert_close(a, np.asarray(b), what="gradients")


def test_stacked_cells_one_step_matches_keras():
    theirs = keras.layers.StackedRNNCells(_cells(keras, "lG"))
    ours = fastrnn.layers.StackedRNNCells(_cells(fastrnn, "lG"))
    x = _x(8, (B, D))
    theirs.build((B, D))
    ours.build((B, D))
    ours.set_weights(theirs.get_weights())
    states = [[_x(9, (B, 4)), _x(10, (B, 4))], _x(11, (B, 3))]
    y, new = theirs(x, states)
    out, got = ours(x, states)
    assert_close(out, np.asarray(y), what="output")
    assert_close(got[0][1], np.asarray(new[0][1]), what="LSTM carry")
    assert_close(got[1], np.asarray(new[1]), what="GRU state")
    assert ours.state_size == [[4, 4], 3] and ours.output_size == 3


def _model(mod, stateful=False):
    L = mod.layers
    x = mod.Input(batch_shape=(B, T, D)) if stateful else mod.Input((T, D))
    h = L.RNN(L.LSTMCell(5, kernel_regularizer=mod.regularizers.L2(0.01)),
              return_sequences=True, stateful=stateful)(x)
    h = L.RNN([L.SimpleRNNCell(3), L.GRUCell(2, recurrent_constraint="non_neg")],
              stateful=stateful)(h)
    return mod.Model(x, L.Dense(1, activation="sigmoid")(h))


def test_models_of_cells_train_like_keras_and_describe_themselves_alike():
    reset_names()
    keras.backend.clear_session()
    theirs, ours = _model(keras), _model(fastrnn)
    assert ours.count_params() == theirs.count_params()
    assert [w.path for w in theirs.weights] == ours._weight_names()   # rnn/lstm_cell/kernel...
    ours.set_weights(theirs.get_weights())
    for m, mod in ((ours, fastrnn), (theirs, keras)):
        m.compile(mod.optimizers.SGD(0.3, momentum=0.5), "binary_crossentropy")
    rng = np.random.default_rng(0)
    for step in range(2):
        x, y = _x(step), rng.integers(0, 2, (B, 1)).astype(np.float32)
        assert_close(ours.train_on_batch(x, y), theirs.train_on_batch(x, y), what="loss")
    for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        assert_close(a, b, 1e-5, 1e-4, f"weight {i}")
    texts = []
    for m in (ours, theirs):
        buf = io.StringIO()
        m.summary(line_length=76, print_fn=lambda s, **kw: buf.write(s + "\n"))
        texts.append(buf.getvalue().strip("\n"))
    assert texts[0] == texts[1]
    again = type(ours).from_config(ours.get_config())
    again.set_weights(ours.get_weights())
    assert_close(again.predict(_x(5)), ours.predict(_x(5)), 0, 0, "from_config")


def test_stateful_rnn_of_cells_streams_like_keras():
    reset_names()
    keras.backend.clear_session()
    theirs, ours = _model(keras, stateful=True), _model(fastrnn, stateful=True)
    ours.set_weights(theirs.get_weights())
    for i in range(2):
        assert_close(ours(_x(i)), theirs(_x(i)), what=f"call {i}")
    ours.reset_states()
    for layer in theirs.layers:     # (Keras' reset_state does not reach nested cell states)
        for v in keras.tree.flatten(getattr(layer, "states", None) or []):
            v.assign(np.zeros(v.shape, np.float32))
    x = _x(3)
    whole = ours(x)
    ours.reset_states()
    steps = [ours(np.ascontiguousarray(x[:, t:t + 1])) for t in range(T)]
    assert np.array_equal(steps[-1], whole)
    assert_close(whole, theirs(x), what="after reset")
    rnn = ours.layers[2]
    assert len(rnn.states) == 2 and rnn.states[0].shape == (B, 3)


def test_keras_files_with_cells_both_ways(tmp_path):
    def build(mod):
        L = mod.layers
        ids = mod.Input((T,), dtype="int32")
        h = L.Embedding(30, 5, mask_zero=True)(ids)
        h = L.RNN(L.LSTMCell(4, recurrent_regularizer="l1"), return_sequences=True,
                  go_backwards=True)(h)
        h = L.Bidirectional(L.RNN(_cells(mod, "sg"), return_sequences=True))(h)
        h = L.RNN([L.LSTMCell(3), L.LSTMCell(2)], zero_output_for_mask=True)(h)
        return mod.Model(ids, L.Dense(1, activation="sigmoid")(h))
    keras.backend.clear_session()
    theirs = build(keras)
    theirs.compile("adam", "binary_crossentropy")
    ids = np.random.default_rng(0).integers(1, 30, (B, T))
    ids[0, 4:] = 0
    ref = theirs.predict(ids, verbose=0)
    for suffix in ("keras", "h5"):
        theirs.save(tmp_path / f"k.{suffix}")
        ours = fastrnn.load_model(tmp_path / f"k.{suffix}")
        assert_close(ours.predict(ids), ref, 1e-6, 1e-5, f"Keras .{suffix}")
        ours.save(tmp_path / f"f.{suffix}")
        back = keras.models.load_model(tmp_path / f"f.{suffix}")
        assert_close(back.predict(ids, verbose=0), ref, 1e-6, 1e-5, f"back to Keras .{suffix}")
    rnn = back.get_layer(ours.layers[2].name)
    assert isinstance(rnn.cell, keras.layers.LSTMCell) and rnn.go_backwards


def test_registry_round_trip_and_refusals():
    for layer in (fastrnn.layers.RNN(fastrnn.layers.GRUCell(3, reset_after=False), stateful=True,
                                     return_state=True),
                  fastrnn.layers.StackedRNNCells(_cells(fastrnn, "sl"))):
        twin = registry.deserialize(registry.serialize(layer))
        assert type(twin) is type(layer)
        strip = {"name"}
        assert {k: v for k, v in twin.get_config().items() if k not in strip} == \
            {k: v for k, v in layer.get_config().items() if k not in strip}

    class MinimalRNNCell(keras.layers.Layer):
        state_size = 3

        def call(self, inputs, states):
            return inputs, states
    with pytest.raises(TypeError, match=r"only its built-in cells.*MinimalRNNCell.*user-defined"):
        fastrnn.layers.RNN(MinimalRNNCell())
    with pytest.raises(TypeError, match=r"cells\[1\].*built-in cells"):
        fastrnn.layers.RNN([fastrnn.layers.LSTMCell(2), MinimalRNNCell()])
    with pytest.raises(NotImplementedError, match="activity_regularizer on a cell"):
        fastrnn.layers.LSTMCell(2, activity_regularizer="l2")
    with pytest.raises(TypeError, match="argument 'return_sequences'.*RNN layer"):
        fastrnn.layers.GRUCell(2, return_sequences=True)
    with pytest.raises(ValueError, match="units"):
        fastrnn.layers.SimpleRNNCell(0)
    with pytest.raises(NotImplementedError, match="time_major"):
        fastrnn.layers.RNN(fastrnn.layers.LSTMCell(2), time_major=True)
    with pytest.raises(TypeError, match="wrap it in fastrnn.layers.RNN"):
        fastrnn.layers.LSTMCell(2)(fastrnn.Input((3,)))
