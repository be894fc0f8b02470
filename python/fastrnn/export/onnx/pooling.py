"""The 1D pooling layers (layers/pooling.py): MaxPooling1D and AveragePooling1D on ONNX's
MaxPool and AveragePool (padding as Conv1D's; "same" average pooling divides by the window's
real elements, count_include_pad=0, and max pooling never picks padding), GlobalMaxPooling1D
and GlobalAveragePooling1D as reductions over the steps, the latter over the unmasked steps
only when a mask reaches it (a row with every step masked gives 0/0 = NaN, as in fastrnn).
None of them passes a mask on.
"""
import numpy as np
from onnx import TensorProto, helper

from ...layers import (AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D,
                       MaxPooling1D)
from .convolutional import (from_channels_first, output_length, output_shape, pad_same,
                            to_channels_first, window_attributes)
from .graph import Tensor
from .registry import converter, single_input


@converter(MaxPooling1D, AveragePooling1D)
def pooling(g, layer, inputs):
    x = single_input(layer, inputs)
    (window,), (stride,) = layer.pool_size, layer.strides
    attrs, padded = window_attributes(layer.padding, window, stride)
    xc = to_channels_first(g, x, layer.data_format)
    if isinstance(layer, MaxPooling1D):
        y = g.op("MaxPool", [pad_same(g, xc, window, stride, -np.inf) if padded else xc],
                 hint=layer.name, **attrs)
    elif padded:    # the mean of the real elements: window means of x and of ones, divided
        ones = g.op("ConstantOfShape", [g.op("Concat", [g.const([1, 1], np.int64),
                                                        g.shape(xc, 2, 3)], axis=0)],
                    value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]))
        means = [g.op("AveragePool", [pad_same(g, t, window, stride, 0.0)], **attrs)
                 for t in (xc, ones)]
        y = g.op("Div", means, hint=layer.name)
    else:
        y = g.op("AveragePool", [xc], count_include_pad=0, hint=layer.name, **attrs)
    out = from_channels_first(g, y, layer.data_format, layer.name)
    channels = x.shape[1 if layer.data_format == "channels_first" else 2]
    length = output_length(x, layer.data_format, window, stride, layer.padding)
    return [Tensor(out, output_shape(x, layer.data_format, channels, length))]


def _global_shape(layer, x, steps_axis):
    if layer.keepdims:
        return x.shape[:steps_axis] + (1,) + x.shape[steps_axis + 1:]
    return x.shape[:steps_axis] + x.shape[steps_axis + 1:]


@converter(GlobalMaxPooling1D)
def global_max_pooling(g, layer, inputs):
    """The mask is ignored, as fastrnn (and Keras) ignore it."""
    x = single_input(layer, inputs)
    axis = layer._steps_axis()
    out = g.reduce("ReduceMax", x.name, [axis], keepdims=int(layer.keepdims), hint=layer.name)
    return [Tensor(out, _global_shape(layer, x, axis))]


@converter(GlobalAveragePooling1D)
def global_average_pooling(g, layer, inputs):
    x = single_input(layer, inputs)
    axis = layer._steps_axis()
    keep = int(layer.keepdims)
    if x.mask is None:
        out = g.reduce("ReduceMean", x.name, [axis], keepdims=keep, hint=layer.name)
    else:
        m = g.unsqueeze(x.mask.name, [2 if axis == 1 else 1], hint="mask")
        total = g.reduce("ReduceSum", g.op("Where", [m, x.name, g.const(0.0)]), [axis],
                         keepdims=keep)
        count = g.reduce("ReduceSum", g.cast(m, TensorProto.FLOAT), [axis], keepdims=keep)
        out = g.op("Div", [total, count], hint=layer.name)
    return [Tensor(out, _global_shape(layer, x, axis))]
