"""An encoder-decoder (Keras' character-level seq2seq example, written with fastrnn's
Functional API) trained on a small synthetic task: reverse a sequence of digits.

The training model feeds the encoder LSTM's final states into the decoder LSTM
(`initial_state=`) and reads the decoder's outputs through Dense(softmax) over time (teacher
forcing). For inference, two more models share those trained layers: the encoder alone, and
one decoder step that takes and returns the states, run in a loop.

    python examples/seq2seq_functional.py [--epochs 30] [--samples 4000] [--framework keras]

Prints the training curve, then the exact-match accuracy of greedy decoding on held-out
sequences; `--framework keras` runs the same code on Keras 3 for comparison.
"""
import argparse
import importlib.util
import os
import sys
import time

import numpy as np

if importlib.util.find_spec("fastrnn") is None:   # from a source checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "python"))

DIGITS = 10
START, END = DIGITS, DIGITS + 1       # decoder tokens: the digits, then start and end
TOKENS = DIGITS + 2


def make_data(n, min_len, max_len, rng):
    """Encoder inputs (one-hot digits, zero-padded at the end), decoder inputs (start +
    reversed digits) and targets (reversed digits + end), all one-hot."""
    enc = np.zeros((n, max_len, DIGITS), np.float32)
    dec_in = np.zeros((n, max_len + 1, TOKENS), np.float32)
    dec_out = np.zeros((n, max_len + 1, TOKENS), np.float32)
    seqs = []
    for i in range(n):
        seq = rng.integers(0, DIGITS, rng.integers(min_len, max_len + 1))
        seqs.append(seq)
        enc[i, np.arange(len(seq)), seq] = 1
        target = list(seq[::-1]) + [END]
        decoder_input = [START] + target[:-1]
        dec_in[i, np.arange(len(decoder_input)), decoder_input] = 1
        dec_out[i, np.arange(len(target)), target] = 1
        dec_out[i, len(target):, END] = 1      # keep predicting "end" after the end
    return enc, dec_in, dec_out, seqs


def build(mod, units):
    L = mod.layers
    enc_in = mod.Input(shape=(None, DIGITS), name="encoder_inputs")
    _, h, c = L.LSTM(units, return_state=True, name="encoder")(enc_in)
    dec_in = mod.Input(shape=(None, TOKENS), name="decoder_inputs")
    decoder = L.LSTM(units, return_sequences=True, return_state=True, name="decoder")
    dense = L.Dense(TOKENS, activation="softmax", name="next_token")
    seq, _, _ = decoder(dec_in, initial_state=[h, c])
    model = mod.Model([enc_in, dec_in], dense(seq), name="seq2seq")

    # Inference: the encoder alone, and one decoder step with explicit states.
    encoder_model = mod.Model(enc_in, [h, c], name="encoder_model")
    state_h = mod.Input(shape=(units,), name="state_h")
    state_c = mod.Input(shape=(units,), name="state_c")
    step_out, step_h, step_c = decoder(dec_in, initial_state=[state_h, state_c])
    decoder_model = mod.Model([dec_in, state_h, state_c], [dense(step_out), step_h, step_c],
                              name="decoder_step")
    return model, encoder_model, decoder_model


def greedy_decode(encoder_model, decoder_model, enc, max_len):
    h, c = encoder_model.predict(enc, verbose=0)
    token = np.zeros((len(enc), 1, TOKENS), np.float32)
    token[:, 0, START] = 1
    out = np.full((len(enc), max_len + 1), END)
    done = np.zeros(len(enc), bool)
    for t in range(max_len + 1):
        probs, h, c = decoder_model.predict([token, h, c], verbose=0)
        nxt = probs[:, -1].argmax(-1)
        out[:, t] = np.where(done, END, nxt)
        done |= nxt == END
        token = np.zeros_like(token)
        token[np.arange(len(enc)), 0, nxt] = 1
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", choices=("fastrnn", "keras"), default="fastrnn")
    p.add_argument("--samples", type=int, default=4000)
    p.add_argument("--max-len", type=int, default=8)
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    if args.framework == "fastrnn":
        import fastrnn as mod
        mod.utils.set_random_seed(args.seed)
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras as mod
        mod.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    enc, dec_in, dec_out, _ = make_data(args.samples, 3, args.max_len, rng)
    test_enc, _, _, test_seqs = make_data(500, 3, args.max_len, rng)

    model, encoder_model, decoder_model = build(mod, args.units)
    model.compile(optimizer=mod.optimizers.Adam(learning_rate=0.005),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    history = model.fit([enc, dec_in], dec_out, batch_size=args.batch_size, epochs=args.epochs,
                        validation_split=0.1, verbose=2)
    train_s = time.perf_counter() - start

    decoded = greedy_decode(encoder_model, decoder_model, test_enc, args.max_len)
    exact = np.mean([list(d[:len(s)]) == list(s[::-1]) and d[len(s)] == END
                     for d, s in zip(decoded, test_seqs)])
    print(f"{args.framework}: {train_s:.1f} s of training, final val_accuracy "
          f"{history.history['val_accuracy'][-1]:.4f}, exact-match reversal accuracy on 500 "
          f"held-out sequences: {exact:.4f}")
    return exact


if __name__ == "__main__":
    main()
