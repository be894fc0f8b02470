"""Conv1D with Keras 3 semantics: im2col (a strided view, one copy) and one GEMM per pass."""
import numpy as np

from .. import activations
from .. import constraints
from .. import initializers
from .. import regularizers
from . import _windows as win
from .base import Layer
from .core import _ActivationMixin, _KernelBiasMixin, _as_float32
from .registry import register


@register
class Conv1D(_KernelBiasMixin, _ActivationMixin, Layer):
    """`activation(conv1d(inputs, kernel) + bias)`; kernel [kernel_size, in_channels // groups,
    filters] (Keras' shape and order), inputs [batch, steps, channels] (or channels_first)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        if kwargs.pop("lora_rank", None) is not None:
            raise NotImplementedError("Conv1D: lora_rank is not supported by fastrnn")
        kwargs.pop("lora_alpha", None)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        for arg, value in (("filters", filters), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"Invalid value for argument `{arg}`. Expected a strictly "
                                 f"positive integer. Received {arg}={value!r}.")
        self.filters, self.groups = int(filters), int(groups)
        if self.filters % self.groups:
            raise ValueError("The number of filters must be evenly divisible by the number of "
                             f"groups. Received: groups={groups}, filters={filters}.")
        self.kernel_size = win.standardize_tuple(kernel_size, 1, "kernel_size")
        self.strides = win.standardize_tuple(strides, 1, "strides")
        self.dilation_rate = win.standardize_tuple(dilation_rate, 1, "dilation_rate")
        if self.strides[0] > 1 and self.dilation_rate[0] > 1:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > "
                             f"1`. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self.padding = win.standardize_padding(padding, allow_causal=True)
        self.data_format = win.standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.logits = None
        self._cols = None

    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name}: expected inputs of rank 3, got input shape "
                             f"{tuple(input_shape)}")
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(f"{self.name}: the channels dimension must be known, got input "
                             f"shape {tuple(input_shape)}")
        if channels % self.groups:
            raise ValueError("The number of input channels must be evenly divisible by the "
                             f"number of groups. Received groups={self.groups}, but the input "
                             f"has {channels} channels (full input shape is {input_shape}).")
        self.compute_output_shape(input_shape)      # "valid" windows must fit
        self._add_kernel_and_bias(self.kernel_size + (channels // self.groups, self.filters),
                                  self.filters)
        self.built = True

    def _grouped_kernel(self):
        """[groups, window * in_per_group, filters_per_group] view/copy of the kernel."""
        k, cg, f = self.kernel.shape
        g = self.groups
        return self.kernel.reshape(k, cg, g, f // g).transpose(2, 0, 1, 3).reshape(g, k * cg,
                                                                                  f // g)

    def call(self, inputs, mask=None, training=False):
        x = _as_float32(inputs)
        win.check_rank(self, x, 3)
        x = win.channels_last(x, self.data_format)
        kernel = self.kernel
        window, cg, _ = kernel.shape
        if x.shape[2] != cg * self.groups:
            raise ValueError(f"{self.name}: expected inputs with {cg * self.groups} channels, "
                             f"got shape {np.shape(inputs)}")
        (s,), (d,) = self.strides, self.dilation_rate
        out_len = win.output_length(x.shape[1], window, s, self.padding, d)
        left, right = win.pad_amounts(x.shape[1], window, s, self.padding, d)
        xp = win.pad_time(x, left, right)
        b, g = x.shape[0], self.groups
        # im2col: rows (b, t), columns (j, c) -> per group [g, b * out_len, window * cg]
        cols = win.windows(xp, window, s, out_len, d).reshape(b * out_len, window, g, cg)
        cols = np.ascontiguousarray(cols.transpose(2, 0, 1, 3)).reshape(g, b * out_len,
                                                                        window * cg)
        z = np.matmul(cols, self._grouped_kernel())            # [g, b * out_len, f / g]
        z = z[0] if g == 1 else np.ascontiguousarray(z.transpose(1, 0, 2)).reshape(
            b * out_len, self.filters)
        if self.use_bias:
            z += self.bias
        if self.activation.name == "relu":    # in place: relu's gradient reads y > 0 as z > 0
            y = self._z = self._y = np.maximum(z, np.float32(0), out=z)
            self.logits = None
        else:
            y = self._activate(z)
        out_shape = (b, out_len, self.filters)
        if self.logits is not None:
            self.logits = win.channels_last(self.logits.reshape(out_shape), self.data_format)
        self._cols, self._padded = cols, (xp.shape[1], left, x.shape[1])
        return win.channels_last(y.reshape(out_shape), self.data_format)

    def backward(self, d_outputs, wrt_logits=False):
        if self._cols is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call")
        cols, (padded_len, left, length) = self._cols, self._padded
        g, rows, _ = cols.shape
        dy = np.ascontiguousarray(win.channels_last(_as_float32(d_outputs), self.data_format))
        b, out_len = dy.shape[:2]
        dz = self._activation_grad(dy.reshape(rows, self.filters), wrt_logits)
        dz_g = dz.reshape(rows, g, self.filters // g).transpose(1, 0, 2)
        window, cg, _ = self.kernel.shape
        dk = np.matmul(cols.transpose(0, 2, 1), dz_g)              # [g, window * cg, f / g]
        self.grads = [dk.reshape(g, window, cg, -1).transpose(1, 2, 0, 3).reshape(
            self.kernel.shape)]
        if self.use_bias:
            self.grads.append(dz.sum(axis=0))
        dcols = np.matmul(dz_g, self._grouped_kernel().transpose(0, 2, 1))  # [g, rows, w * cg]
        dcols = dcols.reshape(g, b, out_len, window, cg).transpose(1, 2, 3, 0, 4).reshape(
            b, out_len, window, g * cg)
        dxp = win.add_windows(dcols, padded_len, self.strides[0], self.dilation_rate[0])
        return win.channels_last(dxp[:, left:left + length], self.data_format)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.data_format == "channels_first":
            b, _, length = input_shape
        else:
            b, length, _ = input_shape
        out = win.output_length(length, self.kernel_size[0], self.strides[0], self.padding,
                                self.dilation_rate[0])
        if self.data_format == "channels_first":
            return (b, self.filters, out)
        return (b, out, self.filters)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(
            filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
            padding=self.padding, data_format=self.data_format,
            dilation_rate=self.dilation_rate, groups=self.groups,
            activation=self.activation.name, use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint))
        return cfg
