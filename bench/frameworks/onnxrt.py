"""ONNX Runtime (CPU execution provider) on the models fastrnn exports.

The models are built as frameworks/fastrnn.py builds them and exported with
`fastrnn.export.onnx.to_onnx` (ONNX's own LSTM/GRU/RNN operators); the sessions use the default
session options (graph optimizations on) except the thread counts, set to the run's. No
training: the `train` mode is not offered, `infer` runs the recurrent block, `latency` the full
model on one sequence. Both are fed the arrays the other frameworks get (the graphs' batch and
time axes are dynamic: all T steps run, and ONNX Runtime returns the outputs as NumPy arrays).
"""
import numpy as np
import onnxruntime as ort

import fastrnn as fr
from fastrnn import layers as L
from fastrnn.export.onnx import to_onnx

from .fastrnn import build_model, recurrent_block

_THREADS = {}


def setup(threads):
    _THREADS["n"] = int(threads)


def _session(model):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = _THREADS["n"]
    opts.inter_op_num_threads = _THREADS["n"]
    return ort.InferenceSession(to_onnx(model).SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


class Bench:
    def __init__(self, cfg, data):
        model = build_model(cfg)
        model.build((None, cfg["T"]))
        block = fr.Sequential([L.InputLayer(shape=(None, cfg["E"])), *recurrent_block(cfg)])
        self._model, self._block = _session(model), _session(block)
        self._features = {self._block.get_inputs()[0].name: data["features"]}
        self._ids1 = {self._model.get_inputs()[0].name: data["ids1"].astype(np.int64)}

    def infer(self):
        return self._block.run(None, self._features)

    def latency(self):
        return self._model.run(None, self._ids1)

    def info(self):
        return {"onnxruntime": ort.__version__, "providers": self._model.get_providers(),
                "intra_op_threads": _THREADS["n"], "inter_op_threads": _THREADS["n"]}
