"""Export trained fastrnn models for inference in other runtimes.

    fastrnn.export.export_model(model, "model.onnx", format="onnx", mask_padding="pre")

The ONNX exporter lives in `fastrnn.export.onnx` (needs the optional `onnx` package:
`pip install "fastrnn[onnx]"`). See its module docstring for what is exported and how.
"""

FORMATS = ("onnx",)


class ExportError(ValueError):
    """The model, one of its layers or a setting cannot be exported exactly in this format."""


def export_model(model, filepath, format="onnx", verbose=None, input_signature=None, **kwargs):
    """Write `model` as an inference artifact to `filepath` (Keras 3's `model.export` signature).

    format: only "onnx". verbose: print where the file went (None: True, like Keras).
    input_signature: must be None (the graph's input follows the model: dynamic batch and time
    axes). Keyword arguments of the ONNX exporter: `mask_padding="pre"|"post"` (where
    `mask_zero` padding sits in the data the exported model will see; "pre" is what
    `pad_sequences` does by default) and `opset_version` (default 17).
    """
    if format not in FORMATS:
        raise ValueError(f"format: expected one of {FORMATS}, got {format!r}")
    from .onnx import export_onnx
    return export_onnx(model, filepath, verbose=verbose, input_signature=input_signature,
                       **kwargs)
