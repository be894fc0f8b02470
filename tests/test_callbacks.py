"""Callbacks: hook order, History, EarlyStopping, ModelCheckpoint, TerminateOnNaN."""
import math
import os

import numpy as np
import pytest

import fastrnn
from fastrnn import callbacks as C
from fastrnn import layers as L
from fastrnn.models import Sequential


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    return x, y


def _model(lr=0.01, seed=0):
    fastrnn.utils.set_random_seed(seed)
    m = Sequential([L.Input(shape=(4,)), L.Dense(8, activation="relu"),
                    L.Dense(1, activation="sigmoid")])
    m.compile(fastrnn.optimizers.Adam(lr), "binary_crossentropy", metrics=["accuracy"])
    return m


class Recorder(C.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            events = object.__getattribute__(self, "events")
            return lambda *a, **k: events.append((name,) + tuple(
                x for x in a if isinstance(x, int)))
        return object.__getattribute__(self, name)


def test_hook_order_like_keras():
    x, y = _data(40)
    m = _model()
    rec = Recorder()
    m.fit(x, y, batch_size=20, epochs=2, validation_data=(x[:10], y[:10]), callbacks=[rec],
          verbose=0)
    names = [e for e in rec.events]
    assert names[0] == ("on_train_begin",)
    assert names[1:4] == [("on_epoch_begin", 0), ("on_train_batch_begin", 0),
                          ("on_train_batch_end", 0)]
    assert ("on_test_begin",) in names and ("on_test_batch_end", 0) in names
    assert names.index(("on_test_end",)) < names.index(("on_epoch_end", 0))
    assert names[-1] == ("on_train_end",)
    assert rec.model is m and rec.params["steps"] == 2


def test_batch_logs_and_epoch_logs_reach_callbacks():
    seen = {}

    class Spy(C.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.setdefault("batch", []).append(dict(logs))

        def on_epoch_end(self, epoch, logs=None):
            seen["epoch"] = dict(logs)

    x, y = _data(64)
    _model().fit(x, y, batch_size=16, epochs=1, validation_split=0.25, callbacks=[Spy()],
                 verbose=0)
    assert list(seen["batch"][0]) == ["accuracy", "loss"]
    assert list(seen["epoch"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(isinstance(v, float) for v in seen["epoch"].values())


def test_early_stopping_restores_best_weights(capsys):
    x, y = _data()
    m = _model(lr=0.05)
    snapshots = []

    class Snap(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append((logs["val_loss"], self.model.get_weights()))

    # noisy validation labels make val_loss go up at some point; a scripted monitor is more
    # robust: drive EarlyStopping with a fake metric through logs.
    es = C.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True, verbose=1)
    val_losses = iter([0.9, 0.5, 0.7, 0.8, 0.6, 0.4])

    class Script(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(val_losses)

    h = m.fit(x, y, batch_size=32, epochs=6, callbacks=[Script(), Snap(), es], verbose=0)
    assert len(h.epoch) == 4                      # best at epoch 1, two bad epochs -> stop
    assert es.stopped_epoch == 3 and es.best_epoch == 1
    for w, best in zip(m.get_weights(), snapshots[1][1]):
        np.testing.assert_array_equal(w, best)
    out = capsys.readouterr().out
    assert "Epoch 4: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_early_stopping_mode_inference_and_min_delta():
    m = _model()
    es = C.EarlyStopping(monitor="val_accuracy")
    es.set_model(m)
    es.on_train_begin()
    m._resolve_compile(np.zeros((2,)), np.zeros((2, 1)))
    es.on_epoch_end(0, {"val_accuracy": 0.5})
    es.on_epoch_end(1, {"val_accuracy": 0.6})
    assert es.best == 0.6                         # accuracy is maximised
    es2 = C.EarlyStopping(monitor="loss", min_delta=0.1, patience=0)
    es2.set_model(m)
    es2.on_train_begin()
    es2.on_epoch_end(0, {"loss": 1.0})
    es2.on_epoch_end(1, {"loss": 0.95})            # not better by min_delta
    assert m.stop_training
    with pytest.raises(ValueError, match="mode='max'"):
        bad = C.EarlyStopping(monitor="whatever")
        bad.set_model(m)
        bad.on_epoch_end(0, {"whatever": 1.0})


def test_model_checkpoint_save_best_only(tmp_path):
    x, y = _data()
    m = _model()
    path = str(tmp_path / "best.fnrn")
    scores = iter([0.8, 0.6, 0.7, 0.5])
    saved_at = []

    class Script(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(scores)

    class Watch(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if os.path.exists(path):
                saved_at.append((epoch, os.path.getmtime(path),
                                 fastrnn.load_model(path).get_weights()[0].copy(),
                                 self.model.get_weights()[0].copy()))

    ck = C.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    m.fit(x, y, epochs=4, callbacks=[Script(), ck, Watch()], verbose=0)
    saved_epochs = [e for e, _, f, w in saved_at if np.array_equal(f, w)]
    assert saved_epochs == [0, 1, 3]
    assert ck.best == 0.5
    # epoch-formatted paths, weights only
    ck2 = C.ModelCheckpoint(str(tmp_path / "w-{epoch:02d}.weights.h5"), save_weights_only=True,
                            monitor="loss")
    m.fit(x, y, epochs=2, callbacks=[ck2], verbose=0)
    assert sorted(os.listdir(tmp_path))[-2:] == ["w-01.weights.h5", "w-02.weights.h5"]
    m2 = _model(seed=9)
    m2.load_weights(tmp_path / "w-02.weights.h5")
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_terminate_on_nan_keeps_last_finite_weights(capsys):
    x, y = _data(64)
    m = _model()
    m.fit(x, y, epochs=1, verbose=0)
    x_bad = x.copy()
    x_bad[40:] = np.inf          # batches 0 and 1 are fine, batch 2 blows up
    good = {}

    class Keep(C.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if math.isfinite(logs["loss"]):
                good["w"] = self.model.get_weights()

    h = m.fit(x_bad, y, batch_size=20, epochs=3, shuffle=False,
              callbacks=[Keep(), C.TerminateOnNaN()], verbose=0)
    out = capsys.readouterr().out
    assert "Batch 2: Invalid loss" in out and "terminating training" in out
    assert len(h.epoch) == 1
    ws = m.get_weights()
    assert all(np.isfinite(w).all() for w in ws)
    for a, b in zip(ws, good["w"]):
        np.testing.assert_array_equal(a, b)
    assert m.predict(x).shape == (64, 1)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_terminate_on_nan_restores_when_weights_blew_up(capsys):
    x, y = _data(64)
    m = _model(lr=1e38)          # the first update overflows the weights
    m.compile(fastrnn.optimizers.SGD(1e38), "binary_crossentropy")
    m.fit(x * 1e3, y, batch_size=16, epochs=2, shuffle=False, callbacks=[C.TerminateOnNaN()],
          verbose=0)
    ws = m.get_weights()
    assert all(np.isfinite(w).all() for w in ws)
    assert "restored the weights of the last step with a finite loss" in capsys.readouterr().out


def test_progbar_logger_is_added_once_and_history_returned():
    x, y = _data(32)
    m = _model()
    h = m.fit(x, y, epochs=1, verbose=0, callbacks=[C.History()])
    assert isinstance(h, C.History) and "loss" in h.history
    with pytest.raises(TypeError):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[object()])
