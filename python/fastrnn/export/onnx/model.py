"""A fastrnn model as a checked ONNX ModelProto, and written to a file.

`to_onnx` validates the options, lets the walker (walker.py, every kind of model) convert the
layer calls into one `Graph`, then names the outputs, sets NaN in the rows of each output that
a mask check rejected (masks.py) and runs `onnx.checker` with shape inference.
"""
import contextlib
import os

import onnx
from onnx import helper

from ..._version import __version__
from .. import ExportError
# the converter modules register themselves
from . import (convolutional, core, merging, normalization, pooling,  # noqa: F401
               recurrent, reshaping, wrappers)
from .graph import DEFAULT_OPSET, Graph, Tensor
from .masks import PADDINGS, poison_bad_rows
from .walker import walk


def _opset(opset_version):
    latest = onnx.defs.onnx_opset_version()
    opset = DEFAULT_OPSET if opset_version is None else opset_version
    if (isinstance(opset, bool) or not isinstance(opset, int)
            or not DEFAULT_OPSET <= opset <= latest):
        raise ValueError(f"opset_version: expected an integer in [{DEFAULT_OPSET}, {latest}] "
                         f"(the installed onnx's latest), got {opset_version!r}")
    return opset


def to_onnx(model, mask_padding="pre", opset_version=None):
    """The ONNX ModelProto of a built fastrnn model (checked by onnx.checker)."""
    from ...models import Functional
    if not isinstance(model, Functional):
        raise ExportError("model: expected a fastrnn model (Sequential or fastrnn.Model), got "
                          f"{type(model).__name__}")
    if mask_padding not in PADDINGS:
        raise ValueError(f"mask_padding: expected one of {PADDINGS}, got {mask_padding!r}")
    g = Graph(opset=_opset(opset_version), mask_padding=mask_padding)
    inputs, results = walk(g, model)
    outputs = []
    for name, t in results:
        g.nodes.append(helper.make_node("Identity", [poison_bad_rows(g, t)], [name]))
        outputs.append(g.value_info(Tensor(name, t.shape, t.dtype)))
    nodes, initializers = g.live([out.name for out in outputs])
    graph = helper.make_graph(nodes, model.name, [g.value_info(t) for t in inputs], outputs,
                              initializer=initializers)
    opsets = [helper.make_opsetid("", g.opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="fastrnn",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    helper.set_model_props(proto, {"fastrnn.mask_padding": mask_padding})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model, filepath, verbose=None, input_signature=None, mask_padding="pre",
                opset_version=None):
    """Write `to_onnx(model, ...)` to `filepath` (atomically: a crash keeps any old file)."""
    if input_signature is not None:
        raise ExportError("input_signature: the exported graph takes the model's own input "
                          "(dynamic batch and time axes); pass None")
    data = to_onnx(model, mask_padding=mask_padding, opset_version=opset_version)
    data = data.SerializeToString()
    path = os.fspath(filepath)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if verbose is None or verbose:
        print(f"Saved artifact at '{path}'.")
    return path
