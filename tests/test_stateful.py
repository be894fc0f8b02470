"""Stateful recurrent layers (Keras 3's rules): states carried from call to call and batch to
batch, equal to Keras' stateful layers over several batches (inference, masks, Bidirectional,
fit with shuffle=False); one step at a time equals the whole sequence bitwise; reset_state(s);
saved models keep the setting; the kernel object's in-place stream call and its packed
weights."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn import _core  # noqa: E402
from fastrnn.layers.base import reset_names  # noqa: E402

from _layer_parity import assert_close  # noqa: E402

B, T, D, H = 3, 5, 4, 6
CELLS = ["SimpleRNN", "LSTM", "GRU"]


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _pair(build):
    """The same model built with Keras and fastrnn, fastrnn with Keras' weights."""
    reset_names()
    keras.backend.clear_session()
    theirs, ours = build(keras), build(fastrnn)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _stateful_model(cls, **kw):
    def build(mod):
        x = mod.Input(batch_shape=(B, None, D))
        return mod.Model(x, getattr(mod.layers, cls)(H, stateful=True, **kw)(x))
    return build


@pytest.mark.parametrize("cls", CELLS)
def test_states_carry_over_calls_like_keras(cls):
    ours, theirs = _pair(_stateful_model(cls, return_sequences=True))
    for i in range(3):
        x = _rand((B, T - i, D), i)    # calls of different lengths continue the sequence
        assert_close(ours(x), theirs(x), 1e-5, 1e-5, f"call {i}")
    for a, b in zip(ours.layers[1].states, theirs.layers[1].states):
        assert_close(a, b, 1e-5, 1e-5, "states")
    ours.reset_states()
    theirs.layers[1].reset_state()
    x = _rand((B, T, D), 9)
    assert_close(ours(x), theirs(x), 1e-5, 1e-5, "after reset")


def test_masked_and_bidirectional_states_like_keras():
    def build(mod):
        ids = mod.Input(batch_shape=(B, T), dtype="int32")
        h = mod.layers.Embedding(20, D, mask_zero=True)(ids)
        h = mod.layers.Bidirectional(mod.layers.LSTM(H, stateful=True, return_sequences=True),
                                     merge_mode="sum")(h)
        h = mod.layers.GRU(H, stateful=True, go_backwards=True)(h)
        return mod.Model(ids, mod.layers.Dense(1)(h))
    ours, theirs = _pair(build)
    rng = np.random.default_rng(0)
    for i in range(3):
        ids = rng.integers(1, 20, (B, T)).astype(np.int32)
        ids[0, 3:] = 0      # padded rows: the states carry over the masked steps
        ids[1, :2] = 0
        assert_close(ours(ids), theirs(ids), 1e-5, 1e-5, f"call {i}")
    bidir = ours.layers[2]
    assert bidir.stateful and len(bidir.states) == 4
    for a, b in zip(bidir.states, theirs.layers[2].states):
        assert_close(a, b, 1e-5, 1e-5, "Bidirectional states")
    ours.reset_states()
    assert all(not s.any() for s in bidir.states + ours.layers[3].states)


def test_fit_without_shuffle_trains_like_keras():
    """States carry from batch to batch in training; gradients stop at them (truncated BPTT),
    as in Keras."""
    def build(mod):
        x = mod.Input(batch_shape=(B, T, D))
        h = mod.layers.SimpleRNN(H, stateful=True, return_sequences=True)(x)
        h = mod.layers.GRU(H, stateful=True, return_sequences=True)(h)
        h = mod.layers.LSTM(H, stateful=True)(h)
        return mod.Model(x, mod.layers.Dense(1, activation="sigmoid")(h))
    ours, theirs = _pair(build)
    for m, mod in ((ours, fastrnn), (theirs, keras)):
        m.compile(mod.optimizers.SGD(0.5), "binary_crossentropy")
    x = _rand((4 * B, T, D), 1)
    y = (np.random.default_rng(2).random((4 * B, 1)) > 0.5).astype(np.float32)
    h_o = ours.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0)
    h_t = theirs.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0)
    assert_close(h_o.history["loss"], h_t.history["loss"], 1e-5, 1e-5, "losses")
    for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        assert_close(a, b, 2e-5, 1e-4, f"weight {i}")
    assert_close(ours.predict(x, batch_size=B), theirs.predict(x, batch_size=B, verbose=0),
                 1e-5, 1e-4, "predictions after training")


# GRU(reset_after=False) runs the unfused forward loop, the others the fused one: both read
# the kernel object's packed weights in their own layout.
@pytest.mark.parametrize("cls,kw", [(c, {}) for c in CELLS] + [("GRU", {"reset_after": False})])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_one_step_at_a_time_equals_the_whole_sequence_bitwise(cls, kw, return_sequences):
    layer = getattr(fastrnn.layers, cls)(H, stateful=True, return_sequences=return_sequences,
                                         return_state=True, **kw)
    x = _rand((B, 12, D), 3)
    out, *states = layer(x)
    layer.reset_states()
    steps = [layer(np.ascontiguousarray(x[:, t:t + 1])) for t in range(x.shape[1])]
    step_out = np.concatenate([s[0] for s in steps], 1) if return_sequences else steps[-1][0]
    assert np.array_equal(step_out, out)
    for a, b, c in zip(states, steps[-1][1:], layer.states):
        assert np.array_equal(a, b) and np.array_equal(a, c)
        assert b is not c       # returned states are copies, the layer's are updated in place
    # chunks of several steps, through the general path (float64 input is converted)
    layer.reset_states()
    chunks = [layer(x[:, i:i + 5].astype(np.float64))[0] for i in range(0, 12, 5)]
    if return_sequences:
        assert np.array_equal(np.concatenate(chunks, 1), out)
    else:
        assert np.array_equal(chunks[-1], out)


def test_streaming_sees_new_weights_after_set_weights_and_training():
    layer = fastrnn.layers.LSTM(H, stateful=True)
    model = fastrnn.Sequential([fastrnn.Input(batch_shape=(B, 1, D)), layer, fastrnn.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = _rand((B, 1, D), 4)

    def fresh():   # the same call on a new, stateless layer with the current weights
        ref = fastrnn.layers.LSTM(H)
        ref.build(x.shape)
        ref.set_weights(layer.get_weights())
        return ref(x, initial_state=[s.copy() for s in layer.states])
    for change in ("none", "set_weights", "train", "in-place + set_weights"):
        if change == "set_weights":
            layer.set_weights([w * 0.5 for w in layer.get_weights()])
        elif change == "train":
            model.train_on_batch(x, np.ones((B, 1), np.float32))
        elif change == "in-place + set_weights":
            layer.weights[1] *= -1.0
            layer.set_weights(layer.get_weights())
        expected = fresh()
        assert np.array_equal(layer(x), expected), change


def test_reset_state_with_values_and_errors():
    layer = fastrnn.layers.GRU(H, stateful=True)
    with pytest.raises(ValueError, match="batch size must be static"):
        layer.build((None, T, D))
    layer.build((B, T, D))
    h = _rand((B, H), 5)
    layer.reset_states(h)
    np.testing.assert_array_equal(layer.states[0], h)
    with pytest.raises(ValueError, match=r"states\[0\] expected shape \(3, 6\), got \(2, 6\)"):
        layer.reset_state([h[:2]])
    with pytest.raises(ValueError, match="expected 1 state array"):
        layer.reset_state([h, h])
    with pytest.raises(ValueError, match=r"Expected batch size: 3\n- Received batch size: 2"):
        layer(_rand((2, T, D), 6))
    with pytest.raises(ValueError, match="batch size must be static"):
        fastrnn.Model(x := fastrnn.Input((T, D)), fastrnn.layers.LSTM(2, stateful=True)(x))
    plain = fastrnn.layers.LSTM(2)
    plain.reset_states()                       # Keras 3: nothing to reset
    with pytest.raises(AttributeError, match="must be stateful"):
        fastrnn.layers.Bidirectional(fastrnn.layers.LSTM(2)).reset_state()


def test_saved_models_keep_the_setting(tmp_path):
    ours, theirs = _pair(_stateful_model("LSTM", return_sequences=True))
    x1, x2 = _rand((B, T, D), 7), _rand((B, T, D), 8)
    ref = [np.asarray(theirs(x1)), np.asarray(theirs(x2))]
    for path in (tmp_path / "m.fnrn", tmp_path / "m.keras", tmp_path / "m.h5"):
        ours.save(path)
        loaded = fastrnn.load_model(path)
        layer = loaded.layers[1]
        assert layer.stateful and layer.states[0].shape == (B, H)
        assert_close(loaded(x1), ref[0], 1e-5, 1e-5, f"{path.name} first call")
        assert_close(loaded(x2), ref[1], 1e-5, 1e-5, f"{path.name} second call")
    back = keras.models.load_model(tmp_path / "m.keras")
    assert back.layers[1].stateful
    assert_close(np.asarray(back(x1)), ref[0], 1e-5, 1e-5, "Keras loads it")
    theirs.save(tmp_path / "k.keras")
    loaded = fastrnn.load_model(tmp_path / "k.keras")
    loaded.reset_states()
    theirs.layers[1].reset_state()
    assert_close(loaded(x1), theirs(x1), 1e-5, 1e-5, "Keras file, first call")
    assert_close(loaded(x2), theirs(x2), 1e-5, 1e-5, "Keras file, second call")


def test_kernel_stream_updates_states_in_place_and_checks_them():
    k = _core.RnnKernel("lstm", D, H)
    w = [_rand(s, i) * 0.3 for i, s in enumerate((k.kernel_shape, k.recurrent_kernel_shape,
                                                   k.bias_shape))]
    k.bind_weights(*w)
    x = _rand((B, T, D), 9)
    out, (h, c) = k.forward(x, None, None, None, None, False, True)
    states = [np.zeros((B, H), np.float32), np.zeros((B, H), np.float32)]
    first = k.stream(x[:, :2].copy(), states, True)
    rest = k.stream(x[:, 2:].copy(), states, True)
    assert np.array_equal(np.concatenate([first, rest], 1), out)
    assert np.array_equal(states[0], h) and np.array_equal(states[1], c)
    w[1] *= 0.5    # the packed copy is stale until drop_packed_weights
    k.drop_packed_weights()
    states = [np.zeros((B, H), np.float32), np.zeros((B, H), np.float32)]
    assert np.array_equal(k.stream(x, states, False),
                          k.forward(x, None, None, None, None, False, False)[0])
    with pytest.raises(ValueError, match=r"states\[1\]: expected shape \(3, 6\)"):
        k.stream(x, [states[0], np.zeros((2, H), np.float32)])
    with pytest.raises(ValueError, match="expected distinct arrays"):
        k.stream(x, [states[0], states[0]])
    frozen = states[1].copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="updated in place"):
        k.stream(x, [states[0], frozen])
    with pytest.raises(TypeError, match="states: expected a list of 2 array"):
        k.stream(x, None)
    with pytest.raises(TypeError, match="dtype float32"):
        k.stream(x.astype(np.float64), states)
