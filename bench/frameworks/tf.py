"""Keras 3 on TensorFlow: compiled model.train_on_batch, tf.function-wrapped calls.

`compile()` keeps Keras' default `jit_compile="auto"`, which the TensorFlow backend resolves
to False (no XLA) on a machine without an accelerator; `info()` records the resolved value.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU,
         "simple_rnn": keras.layers.SimpleRNN}


def setup(threads):
    tf.config.threading.set_intra_op_parallelism_threads(int(threads))
    tf.config.threading.set_inter_op_parallelism_threads(int(threads))


def recurrent_block(cfg):
    block = []
    for i in range(cfg["stack"]):
        layer = CELLS[cfg["cell"]](cfg["H"], return_sequences=i < cfg["stack"] - 1)
        block.append(keras.layers.Bidirectional(layer) if cfg["bidir"] else layer)
    return block


def build_model(cfg):
    model = keras.Sequential([keras.Input((cfg["T"],), dtype="int32"),
                              keras.layers.Embedding(cfg["vocab"], cfg["E"]),
                              *recurrent_block(cfg),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.001, rho=0.9,
                                                     epsilon=1e-7),
                  loss="binary_crossentropy", metrics=["accuracy"])   # as the seeds compile
    return model


class Bench:
    def __init__(self, cfg, data):
        self.cfg, self.data = cfg, data
        self.model = build_model(cfg)
        block = keras.Sequential([keras.Input((cfg["T"], cfg["E"])), *recurrent_block(cfg)])
        self._features = tf.constant(data["features"])
        self._ids1 = tf.constant(data["ids1"])
        self._infer = tf.function(lambda x: block(x, training=False))
        self._latency = tf.function(lambda x: self.model(x, training=False))

    def train(self):
        return self.model.train_on_batch(self.data["ids"], self.data["labels"])

    def infer(self):
        return self._infer(self._features)

    def latency(self):
        return self._latency(self._ids1)

    def info(self):
        return {"tensorflow": tf.__version__, "keras": keras.__version__,
                "jit_compile": bool(getattr(self.model, "jit_compile", False)),
                "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
                "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")}
