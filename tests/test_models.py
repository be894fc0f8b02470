"""Sequential vs keras.Sequential: training steps, evaluate, summary; saving; fit semantics."""
import os
import re
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn import layers as L  # noqa: E402
from fastrnn.layers.base import reset_names  # noqa: E402
from fastrnn.models import Sequential  # noqa: E402
from fastrnn.saving import ModelFileError  # noqa: E402

from _keras_pairs import batches, make_pair  # noqa: E402


def _close(ours, ref):
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape
    assert np.all(np.abs(ours - ref) <= 1e-5 + 1e-4 * np.abs(ref)), \
        f"max abs diff {np.max(np.abs(ours - ref))}"


OPTIMIZERS = [
    ("sgd", lambda m: m.SGD(learning_rate=0.1)),
    ("sgd_momentum", lambda m: m.SGD(learning_rate=0.05, momentum=0.9)),
    ("rmsprop", lambda m: m.RMSprop()),
    ("adam", lambda m: m.Adam(learning_rate=0.01)),
]


@pytest.mark.parametrize("arch", ["dense_sigmoid", "dense_softmax", "embedding_dense", "dense_mse"])
@pytest.mark.parametrize("opt_name,make_opt", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_train_on_batch_matches_keras(arch, opt_name, make_opt):
    ours, ref, loss = make_pair(arch)
    metrics = None if loss == "mse" else ["accuracy"]
    ours.compile(make_opt(fastrnn.optimizers), loss, metrics=metrics)
    ref.compile(make_opt(keras.optimizers), loss, metrics=metrics, run_eagerly=True)
    for step, (x, y) in enumerate(batches(arch, 10)):
        logs = ours.train_on_batch(x, y)
        ref_logs = ref.train_on_batch(x, y)
        _close(logs, ref_logs)
        if step in (0, 9):
            for w, rw in zip(ours.get_weights(), ref.get_weights()):
                _close(w, rw)


@pytest.mark.parametrize("arch", ["dense_sigmoid", "dense_softmax", "embedding_dense"])
def test_evaluate_predict_and_test_on_batch_match_keras(arch):
    ours, ref, loss = make_pair(arch, seed=4)
    ours.compile("rmsprop", loss, metrics=["acc"])
    ref.compile("rmsprop", loss, metrics=["acc"])
    data = batches(arch, 3, batch=13, seed=9)
    x = np.concatenate([d[0] for d in data])
    y = np.concatenate([d[1] for d in data])
    _close(ours.evaluate(x, y, batch_size=16, verbose=0),
           ref.evaluate(x, y, batch_size=16, verbose=0))
    _close(ours.predict(x, batch_size=16), ref.predict(x, batch_size=16, verbose=0))
    _close(ours.test_on_batch(x[:5], y[:5]), ref.test_on_batch(x[:5], y[:5]))
    d_ours = ours.evaluate(x, y, verbose=0, return_dict=True)
    d_ref = ref.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d_ours) == list(d_ref) == ["acc", "loss"]


def test_evaluate_returns_scalar_without_metrics():
    ours, _, _ = make_pair("dense_mse")
    ours.compile("sgd", "mse")
    x, y = batches("dense_mse", 1)[0]
    assert isinstance(ours.evaluate(x, y, verbose=0), float)


def _summary_text(model):
    out = []   # rich (Keras) wraps captured text at 80 columns: stay below
    model.summary(line_length=76, print_fn=lambda s, **k: out.append(s))
    return "\n".join(out).strip("\n")


def test_summary_matches_keras_layout_and_counts():
    ours = Sequential([L.Input(shape=(50,)), L.Embedding(10000, 32, name="embedding"),
                       L.Dense(16, activation="relu", name="dense"),
                       L.Dropout(0.5, name="dropout"), L.Dense(1, name="dense_1")],
                      name="sequential")
    ref = keras.Sequential([keras.Input(shape=(50,)), keras.layers.Embedding(10000, 32,
                                                                            name="embedding"),
                            keras.layers.Dense(16, activation="relu", name="dense"),
                            keras.layers.Dropout(0.5, name="dropout"),
                            keras.layers.Dense(1, name="dense_1")], name="sequential")
    assert _summary_text(ours) == _summary_text(ref)
    assert ours.count_params() == ref.count_params() == 320000 + 528 + 17
    ours.compile("adam", "mse")
    ref.compile("adam", "mse")
    x = np.random.default_rng(0).integers(0, 10000, (4, 50))
    y = np.zeros((4, 50, 1), np.float32)
    ours.train_on_batch(x, y)
    ref.train_on_batch(x, y)
    assert _summary_text(ours) == _summary_text(ref)     # now with "Optimizer params"


def test_summary_of_unbuilt_model_and_auto_names_like_keras():
    reset_names()
    m = Sequential()
    m.add(L.Embedding(10000, 32))
    m.add(L.LSTM(32, return_sequences=True))
    m.add(L.LSTM(32))
    m.add(L.Dropout(0.5))
    m.add(L.Dense(1, activation="sigmoid"))
    assert m.name == "sequential"
    assert [l.name for l in m.layers] == ["embedding", "lstm", "lstm_1", "dropout", "dense"]
    text = _summary_text(m)
    assert "0 (unbuilt)" in text and "│ ?" in text
    m.build((None, 500))
    text = _summary_text(m)
    assert re.search(r"lstm \(LSTM\)\s+│ \(None, 500, 32\)\s+│\s+8,320 │", text)
    assert re.search(r"lstm_1 \(LSTM\)\s+│ \(None, 32\)\s+│\s+8,320 │", text)
    assert "Total params: 336,673 (1.28 MB)" in text
    assert Sequential().name == "sequential_1"


def test_save_load_roundtrip_gives_identical_predictions(tmp_path):
    ours, _, loss = make_pair("embedding_dense")
    ours.compile(fastrnn.optimizers.Adam(0.01), loss, metrics=["accuracy"])
    data = batches("embedding_dense", 3)
    for x, y in data:
        ours.train_on_batch(x, y)
    path = tmp_path / "model.fnrn"
    ours.save(path)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    with zipfile.ZipFile(path) as zf:       # npz-style container, no pickles
        assert "config.json" in zf.namelist()
    back = fastrnn.load_model(path)
    x = data[0][0]
    np.testing.assert_array_equal(back.predict(x), ours.predict(x))
    assert [l.name for l in back.layers] == [l.name for l in ours.layers]
    assert back.optimizer.iterations == 3
    # training continues identically (optimizer state restored)
    ours.train_on_batch(*data[1])
    back.train_on_batch(*data[1])
    for a, b in zip(ours.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_load_recurrent_model(tmp_path):
    m = Sequential([L.Embedding(50, 8, mask_zero=True),
                    L.Bidirectional(L.LSTM(4, return_sequences=True)), L.GRU(3),
                    L.Dense(1, activation="sigmoid")])
    x = np.random.default_rng(0).integers(0, 50, (5, 9))
    before = m.predict(x)
    m.save(tmp_path / "rnn.fnrn")
    back = fastrnn.load_model(tmp_path / "rnn.fnrn")
    np.testing.assert_array_equal(back.predict(x), before)


def test_weights_only_roundtrip(tmp_path):
    a, _, _ = make_pair("dense_sigmoid", seed=1)
    b, _, _ = make_pair("dense_sigmoid", seed=2)
    a.save_weights(tmp_path / "w.weights.fnrn")
    b.load_weights(tmp_path / "w.weights.fnrn")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_truncated_or_corrupted_file_raises_clear_error(tmp_path):
    m, _, _ = make_pair("dense_sigmoid")
    path = tmp_path / "m.fnrn"
    m.save(path)
    data = path.read_bytes()
    bad = tmp_path / "truncated.fnrn"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated.fnrn"):
        fastrnn.load_model(bad)
    assert issubclass(ModelFileError, ValueError)
    junk = tmp_path / "junk.fnrn"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="junk.fnrn"):
        fastrnn.load_model(junk)
    with pytest.raises(FileNotFoundError):
        fastrnn.load_model(tmp_path / "missing.fnrn")
    # a weights file is not a model file
    m.save_weights(tmp_path / "w.h5")
    with pytest.raises(ModelFileError, match="weights"):
        fastrnn.load_model(tmp_path / "w.h5")


def test_wrong_version_raises(tmp_path):
    import json
    m, _, _ = make_pair("dense_sigmoid")
    path = tmp_path / "m.fnrn"
    m.save(path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    cfg = json.loads(members["config.json"])
    cfg["version"] = 999
    members["config.json"] = json.dumps(cfg).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    with pytest.raises(ModelFileError, match="version 999"):
        fastrnn.load_model(path)


def test_set_weights_wrong_shape_names_the_layer():
    m, _, _ = make_pair("dense_sigmoid")
    ws = m.get_weights()
    ws[2] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=re.escape(m.layers[1].name)):
        m.set_weights(ws)
    with pytest.raises(ValueError, match="expected 4 arrays"):
        m.set_weights(ws[:2])


def _synthetic(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = ((x[:, 0] - 0.5 * x[:, 1] + 0.3 * x[:, 2]) > 0).astype(np.float32)
    return x, y


def _dense_model(seed=0, dropout=0.0):
    fastrnn.utils.set_random_seed(seed)
    m = Sequential([L.Input(shape=(6,)), L.Dense(16, activation="relu")] +
                   ([L.Dropout(dropout)] if dropout else []) +
                   [L.Dense(1, activation="sigmoid")])
    m.compile(fastrnn.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    return m


def test_fit_learns_a_synthetic_task():
    x, y = _synthetic()
    m = _dense_model(dropout=0.2)
    h = m.fit(x, y, batch_size=32, epochs=15, validation_split=0.2, verbose=0)
    assert h.history["accuracy"][-1] > 0.93
    assert h.history["val_accuracy"][-1] > 0.9
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_fit_learns_with_embedding_and_lstm():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, (256, 12))
    y = (x == 7).any(axis=1).astype(np.float32)    # "does the sequence contain token 7"
    fastrnn.utils.set_random_seed(0)
    m = Sequential([L.Embedding(20, 8), L.LSTM(8), L.Dense(1, activation="sigmoid")])
    m.compile(fastrnn.optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, batch_size=32, epochs=12, verbose=0)
    assert h.history["accuracy"][-1] > 0.9


def test_validation_split_takes_the_last_fraction():
    x, y = _synthetic(100)
    m = _dense_model()
    h = m.fit(x, y, batch_size=16, epochs=1, validation_split=0.25, verbose=0)
    val = m.evaluate(x[75:], y[75:], batch_size=16, verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(val[0], rel=1e-6)
    assert h.history["val_accuracy"][0] == pytest.approx(val[1], rel=1e-6)
    # the train part is the first 75 samples: train_on those alone is what fit saw
    with pytest.raises(ValueError, match="not sufficient"):
        m.fit(x[:1], y[:1], validation_split=0.5, verbose=0)


def test_validation_data_as_list_and_history_keys():
    x, y = _synthetic(120)
    m = _dense_model()
    m.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    h = m.fit(x, y, epochs=2, validation_data=[x[:20], y[:20]], verbose=0)
    assert list(h.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert h.params == {"verbose": 0, "epochs": 2, "steps": 4}
    assert h.epoch == [0, 1]
    assert m.history is h


def test_history_accuracy_key_and_no_metrics():
    x, y = _synthetic(64)
    m = _dense_model()
    assert list(m.fit(x, y, epochs=1, verbose=0).history) == ["accuracy", "loss"]
    m.compile("sgd", "binary_crossentropy")
    assert list(m.fit(x, y, epochs=1, verbose=0).history) == ["loss"]


def test_epoch_logs_are_running_means_weighted_by_batch_size():
    x, y = _synthetic(50)
    m = _dense_model()
    m.compile(fastrnn.optimizers.SGD(0.0), "binary_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)   # lr 0: fixed weights
    loss, acc = m.evaluate(x, y, batch_size=16, verbose=0)
    assert h.history["loss"][0] == pytest.approx(loss, rel=1e-6)
    assert h.history["accuracy"][0] == pytest.approx(acc, rel=1e-6)


def test_verbose_modes(capsys):
    x, y = _synthetic(64)
    m = _dense_model()
    m.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    m.fit(x, y, batch_size=16, epochs=2, verbose=2, validation_split=0.25)
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"3/3 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}"
                        r" - val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}", lines[1])
    m.fit(x, y, batch_size=16, epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch" not in out                       # like Keras: no header for 1 epoch
    assert out.startswith("\r") and out.endswith("\n")
    final = out.rstrip("\n").split("\r")[-1]
    assert re.match(r"4/4 [━=]{20} \d+s \d+(ms|us|s)/step - accuracy: \d\.\d{4} - "
                    r"loss: \d\.\d{4}", final)
    m.evaluate(x, y, verbose=1)
    assert re.search(r"2/2 [━=]{20} .* - accuracy: \d\.\d{4} - loss: \d\.\d{4}",
                     capsys.readouterr().out)
    m.predict(x)
    assert capsys.readouterr().out == ""


def test_dropout_statistics_and_inference_identity():
    fastrnn.utils.set_random_seed(0)
    d = L.Dropout(0.3)
    x = np.ones((200, 500), np.float32)
    y = d(x, training=True)
    kept = np.count_nonzero(y) / y.size
    n = y.size
    assert abs(kept - 0.7) < 5 * np.sqrt(0.7 * 0.3 / n)
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    dy = np.full_like(x, 2.0)
    np.testing.assert_array_equal(d.backward(dy), np.where(y != 0, np.float32(2.0) * np.float32(
        1 / 0.7), 0.0).astype(np.float32))
    assert d(x, training=False) is x
    with pytest.raises(ValueError):
        L.Dropout(1.5)


def test_set_random_seed_makes_fit_reproducible():
    x, y = _synthetic(96)

    def run():
        m = _dense_model(seed=123, dropout=0.3)
        m.fit(x, y, batch_size=16, epochs=2, verbose=0)
        return m.get_weights()

    a, b = run(), run()
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    fastrnn.utils.set_random_seed(5)
    r1 = np.random.rand()
    fastrnn.utils.set_random_seed(5)
    assert np.random.rand() == r1


def test_mask_from_embedding_reaches_the_recurrent_layer():
    fastrnn.utils.set_random_seed(0)
    m = Sequential([L.Embedding(30, 6, mask_zero=True), L.LSTM(5), L.Dense(1)])
    seq = np.array([[3, 8, 12, 5]])
    padded = np.array([[0, 0, 0, 3, 8, 12, 5]])
    np.testing.assert_allclose(m.predict(padded), m.predict(seq), rtol=1e-5, atol=1e-6)


def test_embedding_validates_ids_and_gives_sparse_gradient():
    e = L.Embedding(10, 3)
    with pytest.raises(IndexError, match="12"):
        e(np.array([[1, 12]]))
    with pytest.raises(IndexError, match="-1"):
        e(np.array([[-1, 2]]))
    x = np.array([[1, 1, 4]])
    out = e(x)
    np.testing.assert_array_equal(out[0, 2], e.weights[0][4])
    assert e.backward(np.ones((1, 3, 3), np.float32)) is None
    g = e.grads[0]
    assert isinstance(g, L.IndexedSlices)
    np.testing.assert_array_equal(g.to_dense()[1], [2, 2, 2])
    np.testing.assert_array_equal(e.compute_mask(x), None)
    with pytest.warns(UserWarning, match="input_length"):
        L.Embedding(10, 3, input_length=5)
    np.testing.assert_array_equal(L.Embedding(10, 3, mask_zero=True).compute_mask(
        np.array([[0, 2]])), [[False, True]])


def test_steps_per_epoch_and_initial_epoch():
    x, y = _synthetic(64)
    m = _dense_model()
    h = m.fit(x, y, batch_size=8, epochs=3, steps_per_epoch=2, initial_epoch=1, verbose=0)
    assert h.epoch == [1, 2] and h.params["steps"] == 2
    assert m.optimizer.iterations == 4


def test_errors_are_clear():
    m = Sequential([L.Dense(2)])
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(np.zeros((2, 3)), np.zeros((2, 2)))
    m.compile("sgd", "mse")
    with pytest.raises(ValueError, match="cardinality"):
        m.fit(np.zeros((4, 3)), np.zeros((3, 2)), verbose=0)
    with pytest.raises(ValueError, match="unique names"):
        Sequential([L.Dense(2, name="a"), L.Dense(2, name="a")])


def test_progress_bar_falls_back_to_ascii(monkeypatch):
    import io
    import sys
    buf = io.BytesIO()
    stream = io.TextIOWrapper(buf, encoding="ascii", write_through=True)
    monkeypatch.setattr(sys, "stdout", stream)
    x, y = _synthetic(64)
    m = _dense_model()
    m.fit(x, y, batch_size=16, epochs=1, verbose=1)
    m.summary()
    stream.flush()
    text = buf.getvalue().decode("ascii")
    assert re.search(r"4/4 ={20} ", text)
    assert "| Layer (type)" in text and "| dense" in text
