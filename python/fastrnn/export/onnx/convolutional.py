"""Conv1D (layers/convolutional.py) on ONNX's Conv, and what it shares with the 1D pooling
layers: the channels-first layout ONNX computes in, TensorFlow's padding, output lengths.

Padding: "valid" none, "causal" span - 1 zeros before the sequence, "same" TensorFlow's split
of max((ceil(length / stride) - 1) * stride + span - length, 0) (half before, the odd one
after). With stride 1 that is a fixed span - 1; with a larger stride it depends on the length:
ONNX's auto_pad="SAME_UPPER" splits it the same way, but without the max(.., 0), so for strides
larger than the window (where the formula can go negative) the graph computes the padding and
pads explicitly (Conv1D refuses strides > 1 with dilation > 1, so the span is the window).
A convolution does not pass a mask on, as in fastrnn.
"""
import numpy as np

from ...layers import Conv1D
from ...layers import _windows as win
from . import activations
from .graph import Tensor
from .registry import converter, float32_weights, single_input


def to_channels_first(g, x, data_format):
    if data_format == "channels_first":
        return x.name
    return g.op("Transpose", [x.name], perm=[0, 2, 1], hint="channels_first")


def from_channels_first(g, name, data_format, hint):
    if data_format == "channels_first":
        return name
    return g.op("Transpose", [name], perm=[0, 2, 1], hint=hint)


def window_attributes(padding, window, stride, dilation=1):
    """(kernel_shape, strides and the padding attributes of Conv/MaxPool/AveragePool, whether
    the input must be padded first with `pad_same`)."""
    attrs = {"kernel_shape": [window], "strides": [stride]}
    span = dilation * (window - 1) + 1
    if padding == "causal":
        attrs["pads"] = [span - 1, 0]
    elif padding == "same" and stride == 1:
        attrs["pads"] = [(span - 1) // 2, span - 1 - (span - 1) // 2]
    elif padding == "same" and stride <= span:
        attrs["auto_pad"] = "SAME_UPPER"
    elif padding == "same":
        return attrs, True
    return attrs, False


def pad_same(g, x, window, stride, value):
    """[N, C, L] padded with `value` as TensorFlow pads "same" (stride > 1, dilation 1)."""
    length = g.shape(x, 2, 3)
    steps = g.op("Div", [g.op("Add", [length, g.const([stride - 1], np.int64)]),
                         g.const([stride], np.int64)])
    covered = g.op("Mul", [g.op("Sub", [steps, g.const([1], np.int64)]),
                           g.const([stride], np.int64)])
    total = g.op("Sub", [g.op("Add", [covered, g.const([window], np.int64)]), length])
    total = g.op("Max", [total, g.const([0], np.int64)])
    left = g.op("Div", [total, g.const([2], np.int64)])
    pads = g.op("Concat", [g.const([0, 0], np.int64), left, g.const([0, 0], np.int64),
                           g.op("Sub", [total, left])], axis=0, hint="pads")
    return g.op("Pad", [x, pads, g.const(value)], hint="padded")


def output_shape(x, data_format, channels, length):
    """[batch, steps, channels] (or channels first) with `length` steps."""
    if data_format == "channels_first":
        return (x.shape[0], channels, length)
    return (x.shape[0], length, channels)


def output_length(x, data_format, window, stride, padding, dilation=1):
    """The output's number of steps: computed when static, the input's symbolic length when
    unchanged (stride 1, not "valid"), else unknown."""
    length = x.shape[2 if data_format == "channels_first" else 1]
    if isinstance(length, int):
        return win.output_length(length, window, stride, padding, dilation)
    return length if stride == 1 and padding != "valid" else None


@converter(Conv1D)
def conv1d(g, layer, inputs):
    x = single_input(layer, inputs)
    weights = float32_weights(layer)
    (window,), (stride,), (dilation,) = layer.kernel_size, layer.strides, layer.dilation_rate
    attrs, padded = window_attributes(layer.padding, window, stride, dilation)
    xc = to_channels_first(g, x, layer.data_format)
    names = [pad_same(g, xc, window, stride, 0.0) if padded else xc,
             g.weight(weights[0].transpose(2, 1, 0), f"{layer.name}/kernel")]   # [F, C/g, K]
    if layer.use_bias:
        names.append(g.weight(weights[1], f"{layer.name}/bias"))
    y = g.op("Conv", names, dilations=[dilation], group=layer.groups, hint=layer.name, **attrs)
    y = activations.apply(g, layer.activation.name, y, f"layer {layer.name!r}", channel_axis=1)
    out = from_channels_first(g, y, layer.data_format, layer.name)
    length = output_length(x, layer.data_format, window, stride, layer.padding, dilation)
    return [Tensor(out, output_shape(x, layer.data_format, layer.filters, length))]
