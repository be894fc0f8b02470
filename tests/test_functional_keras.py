"""Functional models built the same way in Keras 3 and fastrnn, with Keras' weights:
predictions, one train_on_batch step (SGD, RMSprop, Adam: logs and every weight), and
summary() equal to Keras'. The graphs: the Keras seq2seq example, two Embedding+BiLSTM
branches joined by Concatenate, two outputs with two losses and loss_weights, one LSTM shared
by two inputs, and every seed-notebook model written as a Functional model."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn.layers.base import reset_names  # noqa: E402

B, T, VOCAB = 6, 7, 25
RNG = np.random.default_rng(0)


def _seq2seq(mod, training_variant=False):
    L = mod.layers
    enc_in = mod.Input(shape=(None, 9), name="encoder_inputs")
    _, h, c = L.LSTM(12, return_state=True, name="encoder")(enc_in)
    dec_in = mod.Input(shape=(None, 8), name="decoder_inputs")
    seq = L.LSTM(12, return_sequences=True, return_state=True, name="decoder")(
        dec_in, initial_state=[h, c])[0]
    out = L.Dense(8, activation="softmax", name="dense")(seq)
    return mod.Model([enc_in, dec_in], out, name="seq2seq")


def _two_branches(mod, training_variant=False, mask_zero=True):
    L = mod.layers
    a = mod.Input(shape=(T,), name="left")
    b = mod.Input(shape=(T,), name="right")
    xa = L.Bidirectional(L.LSTM(5), name="bi_left")(L.Embedding(VOCAB, 6, name="emb_left")(a))
    xb = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="sum", name="bi_right")(
        L.Embedding(VOCAB, 6, mask_zero=mask_zero, name="emb_right")(b))
    xb = L.Bidirectional(L.GRU(3), name="bi_right_2")(xb)
    x = L.Concatenate(name="concat")([xa, xb])
    out = L.Dense(1, activation="sigmoid", name="out")(x)
    return mod.Model([a, b], out, name="two_branches")


def _two_outputs(mod, training_variant=False):
    L = mod.layers
    x_in = mod.Input(shape=(T,), name="tokens")
    seq = L.LSTM(6, return_sequences=True, name="lstm")(L.Embedding(VOCAB, 5, name="emb")(x_in))
    last = L.GRU(4, name="gru")(seq)
    cls = L.Dense(3, activation="softmax", name="label")(last)
    reg = L.Dense(2, name="score")(L.Add(name="add")([L.Dense(2, name="d1")(last),
                                                      L.Dense(2, name="d2")(last)]))
    return mod.Model(x_in, [cls, reg], name="two_outputs")


def _shared(mod, training_variant=False):
    L = mod.layers
    a = mod.Input(shape=(T, 4), name="first")
    b = mod.Input(shape=(T, 4), name="second")
    shared = L.LSTM(6, name="shared_lstm")
    x = L.Concatenate(name="concat")([shared(a), shared(b)])
    out = L.Dense(1, activation="sigmoid", name="out")(x)
    return mod.Model([a, b], out, name="shared")


def _seed(kind):
    """The seed notebooks' models as Functional graphs (dropout kept only for inference)."""
    def build(mod, training_variant=False):
        L = mod.layers
        drop = 0.0 if training_variant else 0.5
        rdrop = 0.0 if training_variant else 0.2
        x_in = mod.Input(shape=(T,), name="ids")
        if kind == "000_lstm":
            x = L.Embedding(VOCAB, 10)(x_in)
            x = L.LSTM(6, dropout=drop, recurrent_dropout=rdrop, return_sequences=True)(x)
            x = L.Dropout(drop)(L.LSTM(6, dropout=drop, recurrent_dropout=rdrop)(x))
        elif kind == "000_gru":
            x = L.Embedding(VOCAB, 10)(x_in)
            x = L.GRU(6, dropout=drop, recurrent_dropout=rdrop, return_sequences=True)(x)
            x = L.Dropout(drop)(L.GRU(6, dropout=drop, recurrent_dropout=rdrop)(x))
        elif kind == "000_bilstm":
            x = L.Embedding(VOCAB, 10)(x_in)
            x = L.Bidirectional(L.LSTM(4, dropout=drop, recurrent_dropout=rdrop,
                                       return_sequences=True))(x)
            x = L.Dropout(drop)(L.Bidirectional(L.LSTM(4, dropout=drop,
                                                       recurrent_dropout=rdrop))(x))
        elif kind in ("001_bilstm", "003_bilstm"):
            x = L.Dropout(drop)(L.Bidirectional(L.LSTM(5))(L.Embedding(VOCAB, 8)(x_in)))
        elif kind == "001_bigru":
            x = L.Dropout(drop)(L.Bidirectional(L.GRU(5))(L.Embedding(VOCAB, 8)(x_in)))
        else:   # 002 / 004: Embedding -> one recurrent layer
            cell = {"simple_rnn": L.SimpleRNN, "gru": L.GRU, "lstm": L.LSTM}[kind.split("_", 1)[1]]
            x = cell(6)(L.Embedding(VOCAB, 8)(x_in))
        out = L.Dense(1, activation="sigmoid")(x)
        return mod.Model(x_in, out)
    return build


SEEDS = ["000_lstm", "000_gru", "000_bilstm", "001_bilstm", "001_bigru", "002_simple_rnn",
         "002_gru", "002_lstm", "003_bilstm", "004_simple_rnn", "004_lstm"]
GRAPHS = {"seq2seq": _seq2seq, "two_branches": _two_branches, "two_outputs": _two_outputs,
          "shared": _shared, **{f"seed_{k}": _seed(k) for k in SEEDS}}


def _data(name):
    if name == "seq2seq":
        x = [RNG.standard_normal((B, T, 9)).astype("float32"),
             RNG.standard_normal((B, 5, 8)).astype("float32")]
        y = np.eye(8, dtype="float32")[RNG.integers(0, 8, (B, 5))]
    elif name == "two_branches":
        right = RNG.integers(1, VOCAB, (B, T))
        right[:, :3] = 0          # pre-padding for the masked branch
        right[0] = 0              # one fully masked row
        x = [RNG.integers(0, VOCAB, (B, T)), right]
        y = RNG.integers(0, 2, (B, 1)).astype("float32")
    elif name == "two_outputs":
        x = RNG.integers(0, VOCAB, (B, T))
        y = [RNG.integers(0, 3, (B,)), RNG.standard_normal((B, 2)).astype("float32")]
    elif name == "shared":
        x = [RNG.standard_normal((B, T, 4)).astype("float32") for _ in range(2)]
        y = RNG.integers(0, 2, (B, 1)).astype("float32")
    else:
        x = RNG.integers(0, VOCAB, (B, T))
        y = RNG.integers(0, 2, (B, 1)).astype("float32")
    return x, y


# Keras runs eagerly in these comparisons (compile(run_eagerly=True)): the same TensorFlow
# kernels, without tracing a graph for each model, which is most of the time of a single step.
def _compile_args(mod, name, opt):
    optimizer = {"sgd": lambda: mod.optimizers.SGD(learning_rate=0.1, momentum=0.5),
                 "rmsprop": lambda: mod.optimizers.RMSprop(learning_rate=0.01),
                 "adam": lambda: mod.optimizers.Adam(learning_rate=0.01)}[opt]()
    if name == "seq2seq":
        return dict(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    if name == "two_outputs":
        return dict(optimizer=optimizer,
                    loss={"label": "sparse_categorical_crossentropy", "score": "mse"},
                    loss_weights={"label": 1.0, "score": 0.3},
                    metrics={"label": ["accuracy"], "score": ["mae"]})
    return dict(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])


def _pair(name, training_variant=False, **kw):
    reset_names()
    keras.backend.clear_session()
    ref = GRAPHS[name](keras, training_variant, **kw)
    ours = GRAPHS[name](fastrnn, training_variant, **kw)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in ref.get_weights()]
    ours.set_weights(ref.get_weights())
    return ours, ref


def _close(a, b, rtol=1e-5, atol=1e-6):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.isfinite(a).all()
    np.testing.assert_array_less(np.abs(a - b), atol + rtol * np.abs(b) + 1e-30)


def _outputs(v):
    return v if isinstance(v, (list, tuple)) else [v]


@pytest.mark.parametrize("name", list(GRAPHS))
def test_predictions_match_keras(name):
    ours, ref = _pair(name)
    x, _ = _data(name)
    for a, b in zip(_outputs(ours.predict(x, verbose=0)), _outputs(ref.predict(x, verbose=0))):
        _close(a, b, rtol=1e-5, atol=1e-6)


STEP_GRAPHS = ["seq2seq", "two_branches", "two_outputs", "shared", "seed_000_lstm",
               "seed_000_bilstm", "seed_001_bigru", "seed_002_simple_rnn", "seed_004_lstm"]


@pytest.mark.parametrize("opt", ["sgd", "rmsprop", "adam"])
@pytest.mark.parametrize("name", STEP_GRAPHS)
def test_train_on_batch_matches_keras(name, opt):
    ours, ref = _pair(name, training_variant=True)
    ours.compile(**_compile_args(fastrnn, name, opt))
    ref.compile(**_compile_args(keras, name, opt), run_eagerly=True)
    x, y = _data(name)
    logs_ours = ours.train_on_batch(x, y, return_dict=True)
    logs_ref = ref.train_on_batch(x, y, return_dict=True)
    assert sorted(logs_ours) == sorted(logs_ref)
    for k in logs_ref:
        _close(logs_ours[k], float(logs_ref[k]), rtol=2e-5, atol=2e-6)
    for a, b in zip(ours.get_weights(), ref.get_weights()):   # test_api_train_steps' bound
        _close(a, b, rtol=1e-4, atol=1e-5)


def _summary_text(model):
    out = []   # rich (Keras) wraps captured text at 80 columns: stay below
    model.summary(line_length=76, print_fn=lambda s, **k: out.append(s))
    return "\n".join(out).strip("\n")


@pytest.mark.parametrize("name", ["seq2seq", "two_branches", "two_outputs", "shared",
                                  "seed_000_bilstm", "seed_002_lstm"])
def test_summary_matches_keras(name):
    # Keras lists the mask an Embedding(mask_zero=True) computes as a `not_equal` operation
    # of its own in Functional summaries; fastrnn carries masks with the tensors and has no
    # such row (README), so the summary comparison uses the unmasked two-branch graph.
    kw = {"mask_zero": False} if name == "two_branches" else {}
    ours, ref = _pair(name, **kw)
    assert _summary_text(ours) == _summary_text(ref)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in ref.layers]
    assert ours.output_names == ref.output_names


def test_fit_evaluate_with_dicts_and_history_keys_like_keras():
    ours, ref = _pair("two_outputs", training_variant=True)
    ours.compile(**_compile_args(fastrnn, "two_outputs", "adam"))
    ref.compile(**_compile_args(keras, "two_outputs", "adam"), run_eagerly=True)
    x, (y1, y2) = _data("two_outputs")
    h_ours = ours.fit({"tokens": x}, {"label": y1, "score": y2}, batch_size=3, epochs=2,
                      shuffle=False, verbose=0, validation_data=(x, [y1, y2]))
    h_ref = ref.fit({"tokens": x}, {"label": y1, "score": y2}, batch_size=3, epochs=2,
                    shuffle=False, verbose=0, validation_data=(x, [y1, y2]))
    assert sorted(h_ours.history) == sorted(h_ref.history)
    for k, v in h_ref.history.items():
        _close(h_ours.history[k], v, rtol=1e-4, atol=1e-5)
    ev_ours = ours.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    ev_ref = ref.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    assert sorted(ev_ours) == sorted(ev_ref)
