"""ONNX export of fastrnn models (needs the optional `onnx` package).

`to_onnx(model, mask_padding="pre", opset_version=None)` returns the checked ModelProto,
`export_onnx(model, path, ...)` writes it. Default opset 17. Any fastrnn model, Sequential or
Functional (several inputs and outputs, shared layers, `initial_state` tensors), is walked call
by call (walker.py, which also names and types the graph's inputs and outputs); each layer is
converted by the function registered for its class in registry.py: core.py (Embedding, Dense,
Activation, Masking, the dropouts), recurrent.py (SimpleRNN, LSTM, GRU, Bidirectional on ONNX's
RNN/LSTM/GRU operators), convolutional.py and pooling.py (Conv1D, the 1D poolings),
merging.py, reshaping.py, normalization.py, wrappers.py (TimeDistributed). Masks as explained
in masks.py; model.py assembles, prunes and checks the model.
"""
try:
    import onnx  # noqa: F401
except ImportError as e:    # pragma: no cover - depends on the environment
    raise ImportError("ONNX export needs the `onnx` package: pip install 'fastrnn[onnx]' "
                      "(or pip install onnx onnxruntime)") from e

from .model import export_onnx, to_onnx  # noqa: E402

__all__ = ["export_onnx", "to_onnx"]
