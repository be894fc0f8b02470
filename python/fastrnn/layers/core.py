"""Dense, Dropout, Activation and InputLayer/Input with Keras 3 semantics."""
import numpy as np

from .. import activations
from .. import constraints
from .. import regularizers
from .. import initializers
from .. import random as frandom
from .. import graph
from .base import Layer, unique_name
from .registry import register

_F32 = np.float32

# C++ forward/backward for the activations it implements (NumPy for the others)
from .. import _core
from .._core import dense_backward as _native_backward
from .._core import dense_forward as _native_forward
_NATIVE_ACTIVATIONS = frozenset(_core.dense_activations())


def _as_float32(x):
    x = np.asarray(x)
    return x if x.dtype == _F32 else x.astype(_F32)


def _initializer(spec):
    return initializers.deserialize(spec) if isinstance(spec, dict) else initializers.get(spec)


def _input_dim_to_shape(kwargs):
    """Keras accepts `input_dim=n` as a legacy spelling of `input_shape=(n,)`."""
    input_dim = kwargs.pop("input_dim", None)
    if input_dim is not None:
        kwargs["input_shape"] = (int(input_dim),)
    return kwargs


class _ActivationMixin:
    """Forward/backward of an activation, caching logits of sigmoid/softmax like Keras."""

    def _activate(self, z):
        act = self.activation
        if act.name == "linear":
            self._z, self._y = z, z
            self.logits = None
            return z
        y = act(z)
        self._z, self._y = z, y
        self.logits = z if act.produces_logits else None
        return y

    def _activation_grad(self, dy, wrt_logits):
        if wrt_logits or self.activation.name == "linear":
            return dy
        return self.activation.grad(dy, self._z, self._y)


class _KernelBiasMixin:
    """The `kernel` (and optional `bias`) of Dense-like layers, with their initializers,
    regularizers and constraints from the layer's Keras-named attributes."""

    def _add_kernel_and_bias(self, kernel_shape, units):
        self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("bias", (units,), self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    @property
    def kernel(self):
        return self.weights[0]

    @property
    def bias(self):
        return self.weights[1] if self.use_bias else None


@register
class Dense(_KernelBiasMixin, _ActivationMixin, Layer):
    """`activation(inputs @ kernel + bias)`, applied on the last axis of any-rank inputs."""

    supports_masking = True
    _call_state = ("_x", "_z", "_y", "logits", "_grad_buffers", "_native")

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        for key in ("lora_rank", "lora_alpha"):
            if kwargs.pop(key, None):
                raise NotImplementedError(f"Dense: {key} is not supported by fastrnn")
        super().__init__(activity_regularizer=activity_regularizer,
                         **_input_dim_to_shape(kwargs))
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Received an invalid value for `units`, expected a positive "
                             f"integer. Received: units={units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializer(kernel_initializer)
        self.bias_initializer = _initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.logits = None
        self._x = None
        self._native = False       # whether the last call ran the C++ kernels
        self._grad_buffers = None

    def build(self, input_shape):
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        in_dim = input_shape[-1] if len(input_shape) else None
        if in_dim is None:
            raise ValueError(f"{self.name}: the last dimension of the inputs must be known, got "
                             f"input shape {tuple(input_shape)}")
        self._add_kernel_and_bias((int(in_dim), self.units), self.units)
        self.built = True

    def call(self, inputs, mask=None, training=False):
        x = _as_float32(inputs)
        kernel = self.weights[0]
        if x.shape[-1:] != kernel.shape[:1]:
            raise ValueError(f"{self.name}: expected inputs with last dimension "
                             f"{kernel.shape[0]}, got shape {x.shape}")
        x2 = x.reshape(-1, kernel.shape[0])
        # the result is built from locals only: concurrent inference calls on one layer (e.g.
        # model.predict from several threads) must not see each other's shapes
        out_shape = x.shape[:-1] + (self.units,)
        act = self.activation
        if (_native_forward is not None and act.name in _NATIVE_ACTIVATIONS
                and kernel.flags.c_contiguous):
            x2 = np.ascontiguousarray(x2)
            z, y = _native_forward(x2, kernel, self.weights[1] if self.use_bias else None,
                                   act.name)
            self._z, self._y = z, y
            self.logits = z.reshape(out_shape) if act.produces_logits else None
            self._native = True
        else:
            z = x2 @ kernel
            if self.use_bias:
                z += self.weights[1]
            y = self._activate(z)
            if self.logits is not None:
                self.logits = z.reshape(out_shape)   # z: this call's logits (a local)
            self._native = False
        self._x = x2
        self._out_shape = out_shape
        return y.reshape(out_shape)

    def backward(self, d_outputs, wrt_logits=False):
        """Gradients of kernel/bias; `wrt_logits=True` means `d_outputs` is d loss/d logits."""
        if self._x is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call")
        dy = _as_float32(d_outputs).reshape(-1, self.units)
        kernel = self.weights[0]
        bufs = self._grad_buffers
        if bufs is None or bufs[0].shape != kernel.shape:
            bufs = self._grad_buffers = [np.empty_like(w) for w in self.weights]
        if self._native:
            dx = _native_backward(self._x, kernel, np.ascontiguousarray(dy), self._y,
                                  self.activation.name, bool(wrt_logits), bufs[0],
                                  bufs[1] if self.use_bias else None)
        else:
            dz = self._activation_grad(dy, wrt_logits)
            np.matmul(self._x.T, dz, out=bufs[0])
            if self.use_bias:
                dz.sum(axis=0, out=bufs[1])
            dx = dz @ kernel.T
        self.grads = list(bufs)
        return dx.reshape(self._out_shape[:-1] + (kernel.shape[0],))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(units=self.units, activation=self.activation.name, use_bias=self.use_bias,
                   kernel_initializer=initializers.serialize(self.kernel_initializer),
                   bias_initializer=initializers.serialize(self.bias_initializer),
                   kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
                   bias_regularizer=regularizers.serialize(self.bias_regularizer),
                   activity_regularizer=regularizers.serialize(self.activity_regularizer),
                   kernel_constraint=constraints.serialize(self.kernel_constraint),
                   bias_constraint=constraints.serialize(self.bias_constraint))
        return cfg


@register
class Activation(_ActivationMixin, Layer):
    """Applies an activation function (Keras `layers.Activation`)."""

    supports_masking = True
    _call_state = ("_z", "_y", "logits")

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.logits = None
        self.built = True   # no weights

    def call(self, inputs, mask=None, training=False):
        return self._activate(_as_float32(inputs))

    def backward(self, d_outputs, wrt_logits=False):
        self.grads = []
        return self._activation_grad(_as_float32(d_outputs), wrt_logits)

    def get_config(self):
        cfg = super().get_config()
        cfg["activation"] = self.activation.name
        return cfg


@register
class Dropout(Layer):
    """Inverted dropout at training time; identity (the same array) at inference.

    The mask is drawn from the layer's own generator when `seed` is given, else from the
    global one (`fastrnn.utils.set_random_seed`). Kept units are scaled by 1 / (1 - rate).
    """

    supports_masking = True
    _call_state = ("_scale",)

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or \
                not 0 <= rate <= 1:
            raise ValueError("Invalid value received for argument `rate`. Expected a float value "
                             f"between 0 and 1. Received: rate={rate!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = frandom.spawn(seed) if seed is not None else None
        self._scale = None
        self.built = True   # no weights

    def _mask_shape(self, shape):
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(f"{self.name}: noise_shape {self.noise_shape} does not match the "
                             f"input rank {len(shape)}")
        return tuple(s if n is None else n for s, n in zip(shape, self.noise_shape))

    def call(self, inputs, mask=None, training=False):
        if not training or self.rate == 0:
            self._scale = None
            return inputs
        x = _as_float32(inputs)
        rng = self._rng or frandom.generator()
        keep = rng.random(self._mask_shape(x.shape), dtype=_F32) >= self.rate
        if self.rate >= 1:
            scale = np.zeros(keep.shape, _F32)
        else:
            scale = keep.astype(_F32)
            scale *= _F32(1.0 / (1.0 - self.rate))
        self._scale = scale
        return x * scale

    def backward(self, d_outputs):
        self.grads = []
        if self._scale is None:
            return d_outputs
        return _as_float32(d_outputs) * self._scale

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, noise_shape=None if self.noise_shape is None else
                   list(self.noise_shape), seed=self.seed)
        return cfg


@register
class InputLayer(Layer):
    """The input of a model: holds its batch shape and the symbolic tensor `output` that
    layers are called on (`fastrnn.Input(...)` returns that tensor). Not listed in
    `Sequential.layers` (as in Keras)."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, **kwargs):
        legacy_shape = kwargs.pop("input_shape", None)   # Keras 2 spelling
        if shape is None and batch_shape is None:
            shape = legacy_shape
        if sparse or input_tensor is not None or optional:
            raise NotImplementedError("InputLayer: sparse, input_tensor and optional are not "
                                      "supported by fastrnn")
        super().__init__(name=name or unique_name("input_layer"), **kwargs)
        if shape is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `shape` and `batch_shape` at the same time.")
        if shape is None and batch_shape is None:
            raise ValueError("You must pass a `shape` argument.")
        if batch_shape is None:
            shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
            batch_shape = (batch_size,) + shape
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.input_dtype = dtype
        self.built = True
        self.output = graph.SymbolicTensor(self.batch_shape, dtype or "float32", name=self.name)
        graph.Node(self, None, {}, [self.output], single_output=True)

    @property
    def shape(self):
        return self.batch_shape

    def call(self, inputs, mask=None, training=False):
        return inputs

    def backward(self, d_outputs):
        self.grads = []
        return d_outputs

    def compute_output_shape(self, input_shape):
        return self.batch_shape

    def get_config(self):
        return {"name": self.name, "batch_shape": list(self.batch_shape),
                "dtype": self.input_dtype}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(batch_shape=config.pop("batch_shape"), dtype=config.pop("dtype", None),
                   name=config.pop("name", None))


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """`keras.Input`: a symbolic tensor to build models on (`fastrnn.Model(inputs, outputs)`,
    or the first entry of a `Sequential`)."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                      batch_shape=batch_shape, input_tensor=tensor, optional=optional,
                      name=name).output
