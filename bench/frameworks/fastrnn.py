"""fastrnn: Sequential.train_on_batch, layer call(training=False), predict_on_batch."""
import time

import numpy as np

import fastrnn as fr
from fastrnn import _core
from fastrnn import layers as L
from fastrnn.layers.bidirectional import Bidirectional
from fastrnn.layers.recurrent import _RNN

CELLS = {"lstm": L.LSTM, "gru": L.GRU, "simple_rnn": L.SimpleRNN}


def setup(threads):
    fr.set_num_threads(int(threads))


def recurrent_block(cfg):
    """The recurrent layers: `stack` of them, all but the last returning sequences."""
    block = []
    for i in range(cfg["stack"]):
        layer = CELLS[cfg["cell"]](cfg["H"], return_sequences=i < cfg["stack"] - 1)
        block.append(L.Bidirectional(layer) if cfg["bidir"] else layer)
    return block


def build_model(cfg):
    model = fr.Sequential([L.Embedding(cfg["vocab"], cfg["E"]), *recurrent_block(cfg),
                           L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=fr.optimizers.RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-7),
                  loss="binary_crossentropy", metrics=["accuracy"])   # as the seeds compile
    return model


class Bench:
    def __init__(self, cfg, data):
        self.cfg, self.data = cfg, data
        self.model = build_model(cfg)
        self.model.build((None, cfg["T"]))
        self.block = recurrent_block(cfg)

    def train(self):
        return self.model.train_on_batch(self.data["ids"], self.data["labels"])

    def infer(self):
        x = self.data["features"]
        for layer in self.block:
            x = layer(x, training=False)
        return x

    def latency(self):
        return self.model.predict_on_batch(self.data["ids1"])

    def info(self):
        return {"version": fr.__version__, "path": fr.__file__,
                "openmp": bool(_core.openmp_enabled()), "isa": _core.isa(),
                "kernel_threads": fr.get_num_threads(), "numpy": np.__version__}

    # -- Python-side overhead of train_on_batch ----------------------------------------------
    def overhead(self, steps, breakdown=True):
        """Split `steps` training steps into native code and the Python side.

        Timers wrap every call into the extension a step makes: the recurrent kernels
        `fastrnn._core.RnnKernel.forward/backward` (methods, looked up at call time), the
        embedding gather, the Dense forward/backward, the binary crossentropy and the fused
        optimizer steps (module globals of fastrnn.layers.embedding, fastrnn.layers.core,
        fastrnn.losses and fastrnn.optimizers). For the breakdown, they also wrap the
        top-level layers' call/backward, the loss gradient and the optimizer update (instance
        attributes shadowing the methods); `breakdown=False` leaves those out (8 timed calls per
        step instead of 16; the timers run as Python, so fewer of them perturb the split less)
        and returns no breakdown. Everything is restored afterwards. The timers themselves
        cost ~1 us per wrapped call.
        """
        from fastrnn import losses as loss_mod
        from fastrnn import optimizers as opt_mod
        from fastrnn.layers import core as core_mod
        from fastrnn.layers import embedding as emb_mod

        acc = dict.fromkeys(("kernels", "native_other", "recurrent_layers", "other_layers",
                             "loss", "optimizer"), 0.0)

        def timed(fn, key):
            def wrapper(*args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    acc[key] += time.perf_counter() - t0
            return wrapper

        model = self.model
        native_other = [(emb_mod, "_native_lookup"), (core_mod, "_native_forward"),
                        (core_mod, "_native_backward"), (loss_mod, "_native_bce"),
                        (opt_mod, "_native_step"), (opt_mod, "_native_dense_step")]
        native_other = [(mod, name) for mod, name in native_other
                        if getattr(mod, name, None) is not None]
        patched = [(_core.RnnKernel, "forward"), (_core.RnnKernel, "backward"), *native_other]
        keys = ["kernels", "kernels"] + ["native_other"] * len(native_other)
        loss_obj = getattr(model, "_loss_obj", None)
        if breakdown:
            patched.append((model.optimizer, "apply"))
            keys.append("optimizer")
            if loss_obj is not None and hasattr(loss_obj, "value_and_grad"):
                patched.append((loss_obj, "value_and_grad"))
                keys.append("loss")
            for layer in model.layers:
                key = ("recurrent_layers" if isinstance(layer, (_RNN, Bidirectional))
                       else "other_layers")
                for meth in ("call", "backward"):
                    patched.append((layer, meth))
                    keys.append(key)
        originals = [(obj, name, obj.__dict__.get(name, _MISSING), getattr(obj, name))
                     for obj, name in patched]
        try:
            for (obj, name, _, fn), key in zip(originals, keys):
                setattr(obj, name, timed(fn, key))
            t0 = time.perf_counter()
            for _ in range(steps):
                self.train()
            total = time.perf_counter() - t0
        finally:
            for obj, name, own, _ in originals:
                if own is _MISSING:
                    delattr(obj, name)
                else:
                    setattr(obj, name, own)
        if acc["kernels"] == 0.0:
            raise RuntimeError("no time recorded inside fastrnn._core: the layers no longer "
                               "call _core.RnnKernel.forward/backward")
        ms = {k: v / steps * 1e3 for k, v in acc.items()}
        step = total / steps * 1e3
        python_side = step - ms["kernels"] - ms["native_other"]
        split = {"steps": steps, "step_ms": step,
                 "native_kernels_ms": ms["kernels"],
                 "native_other_ms": ms["native_other"],
                 "python_side_ms": python_side,
                 "python_side_fraction": python_side / step,
                 "outside_kernels_ms": step - ms["kernels"],
                 "outside_kernels_fraction": (step - ms["kernels"]) / step}
        if not breakdown:
            return split
        return {**split, "recurrent_python_ms": ms["recurrent_layers"] - ms["kernels"],
                "numpy_layers_ms": ms["other_layers"], "loss_ms": ms["loss"],
                "optimizer_ms": ms["optimizer"],
                "glue_ms": step - ms["recurrent_layers"] - ms["other_layers"] - ms["loss"]
                - ms["optimizer"]}


_MISSING = object()
