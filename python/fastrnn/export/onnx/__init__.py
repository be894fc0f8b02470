"""ONNX export of fastrnn models (needs the optional `onnx` package).

`to_onnx(model, mask_padding="pre", opset_version=None)` returns the checked ModelProto,
`export_onnx(model, path, ...)` writes it. Default opset 17. The graph has one input (named
after the model's InputLayer, else "input": int64 ids [batch, time] for a model that starts
with an Embedding, int32 when its InputLayer says so; else float32 [batch, time, features])
and outputs "output" (or "output_0", "output_1", ... for a last layer with several outputs).
Recurrent layers run on ONNX's RNN/LSTM/GRU operators (recurrent.py); masks as explained in
masks.py. Layers are converted by the functions registered in registry.py (core.py,
recurrent.py), walked in model order by sequential.py; model.py assembles and checks the model.
"""
try:
    import onnx  # noqa: F401
except ImportError as e:    # pragma: no cover - depends on the environment
    raise ImportError("ONNX export needs the `onnx` package: pip install 'fastrnn[onnx]' "
                      "(or pip install onnx onnxruntime)") from e

from .model import export_onnx, to_onnx  # noqa: E402

__all__ = ["export_onnx", "to_onnx"]
