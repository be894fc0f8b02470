"""SGD, RMSprop and Adam with Keras 3's exact update formulas, in place on float32 arrays.

`opt.apply(grads, weights)` (or Keras' `opt.apply_gradients(zip(grads, weights))`) updates each
weight array in place. A gradient is a dense array or an `IndexedSlices` (embedding rows, with
repeated indices allowed). Sparse gradients follow what Keras does with `tf.IndexedSlices`:
clipping sees every occurrence (global_clipnorm then densifies it), the moment decays of
RMSprop/Adam and the momentum of SGD apply to all rows, squared-gradient accumulators add the squares of each occurrence, and plain SGD
touches only the listed rows.

The updates run in the extension: a table's sparse gradient in one fused, threaded pass
(`_core.sparse_optimizer_step`: per-row sums of the occurrences, then every row's slot decay
and update, with no temporaries), all dense weights in one call (`_core.dense_optimizer_step`).
Their NumPy oracle, equal bit for bit, is tests/optimizer_oracle.py. Clipping and weight decay
(Keras' order) are done here.
"""
import math

import numpy as np

from ._core import dense_optimizer_step as _native_dense_step
from ._core import sparse_optimizer_step as _native_step
from .indexed_slices import IndexedSlices

_F32 = np.float32


class _Sparse:
    """A prepared sparse gradient: the occurrences of rows `indices` with their `values`.

    `merged=True` marks a gradient Keras has turned dense (global_clipnorm multiplies the
    IndexedSlices by a tensor, which densifies it): repeated rows are summed BEFORE squaring.
    """

    __slots__ = ("indices", "merged", "shape", "values")

    def __init__(self, indices, values, shape, merged=False):
        self.indices = np.asarray(indices).reshape(-1)
        width = math.prod(shape[1:])   # not values.shape: with N = 0 rows it cannot tell
        self.values = np.asarray(values, _F32).reshape(self.indices.shape[0], width)
        self.shape = tuple(shape)
        self.merged = merged


class Optimizer:
    """Base class (Keras BaseOptimizer semantics for clipping, weight decay, iterations)."""

    _slot_names = ()
    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        if use_ema or loss_scale_factor is not None or gradient_accumulation_steps:
            raise NotImplementedError(
                f"{type(self).__name__}: use_ema, loss_scale_factor and "
                "gradient_accumulation_steps are not supported by fastrnn")
        if callable(learning_rate) or not np.isscalar(learning_rate):
            raise TypeError(f"{type(self).__name__}: learning_rate must be a float "
                            f"(schedules are not supported), got {learning_rate!r}")
        self.name = name or type(self).__name__.lower()
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.iterations = 0
        self._slots = {}       # id(weight) -> dict name -> array
        self._order = []       # weights in the order they were first seen

    # -- learning rate ---------------------------------------------------------------------
    @property
    def learning_rate(self):
        return float(self._lr)

    @learning_rate.setter
    def learning_rate(self, value):
        self._lr = _F32(value)

    lr = learning_rate

    # -- state -----------------------------------------------------------------------------
    @property
    def built(self):
        return bool(self._order)

    def build(self, weights):
        for w in weights:
            if id(w) not in self._slots:
                self._slots[id(w)] = {n: np.zeros_like(w, dtype=_F32) for n in self.slot_names()}
                self._order.append(w)

    def slot_names(self):
        """Names of the slot arrays this optimizer keeps per weight (Keras' variable order)."""
        return self._slot_names

    @property
    def variables(self):
        """Keras counts iterations and learning_rate, then every slot array."""
        out = [np.array(self.iterations, np.int64), np.array(self._lr, _F32)]
        for w in self._order:
            out.extend(self._slots[id(w)][n] for n in self.slot_names())
        return out

    def get_state(self):
        """Arrays to save: iterations, learning rate and slots in weight order."""
        return self.variables

    def set_state(self, weights, arrays):
        """Restore `get_state()` output for `weights` (the model's trainable weights)."""
        self._slots, self._order = {}, []
        self.build(weights)
        expected = 2 + len(weights) * len(self.slot_names())
        if len(arrays) != expected:
            raise ValueError(f"{self.name}: optimizer state has {len(arrays)} arrays, "
                             f"expected {expected}")
        self.iterations = int(arrays[0])
        self._lr = _F32(arrays[1])
        it = iter(arrays[2:])
        for w in weights:
            slots = self._slots[id(w)]
            for n in self.slot_names():
                src = next(it)
                if src.shape != slots[n].shape:
                    raise ValueError(f"{self.name}: slot {n} has shape {src.shape}, "
                                     f"expected {slots[n].shape}")
                slots[n][...] = src

    # -- applying --------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        grads, weights = [], []
        for g, w in grads_and_vars:
            grads.append(g)
            weights.append(w)
        self.apply(grads, weights)
        return self.iterations

    def apply(self, grads, weights):
        pairs = []
        for g, w in zip(grads, weights):   # one pass: weight checks, prepared gradients
            if g is None:
                continue
            if not isinstance(w, np.ndarray) or w.dtype != _F32 or not w.flags.c_contiguous:
                raise TypeError(f"{self.name}: weights must be C-contiguous float32 NumPy arrays "
                                f"updated in place, got {type(w).__name__} "
                                f"{getattr(w, 'dtype', '')}")
            pairs.append((self._prepare(g, w), w))
        if not pairs:
            return
        self.build([w for _, w in pairs])   # slots only once every gradient fits its weight
        prepared = self._clip([g for g, _ in pairs])
        lr = self._lr
        if self.weight_decay:
            wd = _F32(self.weight_decay)
            for _, w in pairs:
                w -= w * wd * lr
        options = self._native_options(lr)   # once per step (Adam: the corrected rate)
        dense = ([], [], [])   # weights, grads, slots for one native call
        for g, (_, w) in zip(prepared, pairs):
            slots = self._slots[id(w)]
            if isinstance(g, _Sparse):   # the table as rows of its flattened trailing axes
                table = w.reshape(w.shape[0], -1)
                _native_step(self._native_name, table, g.indices, g.values,
                             {k: v.reshape(table.shape) for k, v in slots.items()},
                             merged=g.merged, **options)
            else:
                dense[0].append(w)
                dense[1].append(np.ascontiguousarray(g))
                dense[2].append(slots)
        if dense[0]:
            _native_dense_step(self._native_name, *dense, **options)
        self.iterations += 1

    @staticmethod
    def _prepare(g, w):
        if isinstance(g, IndexedSlices):
            if tuple(g.dense_shape) != w.shape:
                raise ValueError(f"sparse gradient of shape {g.dense_shape} for a weight of "
                                 f"shape {w.shape}")
            return _Sparse(g.indices, g.values, w.shape)
        g = np.asarray(g)
        if g.shape != w.shape:
            raise ValueError(f"gradient of shape {g.shape} for a weight of shape {w.shape}")
        return g if g.dtype == _F32 else g.astype(_F32)

    def _clip(self, grads):
        def values(g):
            return g.values if isinstance(g, _Sparse) else g

        def scaled(g, s):
            if isinstance(g, _Sparse):   # Keras densifies here: rows merge before squaring
                return _Sparse(g.indices, g.values * s, g.shape, merged=True)
            return g * s

        if self.clipnorm and self.clipnorm > 0:
            c = _F32(self.clipnorm)
            out = []
            for g in grads:
                l2sum = np.square(values(g)).sum(dtype=_F32)
                l2norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
                v = values(g) * c / max(_F32(l2norm), c)
                out.append(_Sparse(g.indices, v, g.shape)
                           if isinstance(g, _Sparse) else v)
            return out
        if self.global_clipnorm and self.global_clipnorm > 0:
            c = _F32(self.global_clipnorm)
            norm = np.sqrt(np.sum([np.square(values(g)).sum(dtype=_F32) for g in grads],
                                  dtype=_F32))
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = c * np.minimum(_F32(1) / norm, _F32(1) / c) + (norm - norm)
            return [scaled(g, _F32(scale)) for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            v = _F32(self.clipvalue)
            out = []
            for g in grads:
                c = np.clip(values(g), -v, v)
                out.append(_Sparse(g.indices, c, g.shape, g.merged)
                           if isinstance(g, _Sparse) else c)
            return out
        return grads

    def _native_options(self, lr):
        """Keyword arguments of `_core.sparse_optimizer_step` (all but `merged`)."""
        raise NotImplementedError

    # -- config ----------------------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} learning_rate={self.learning_rate:g}>"


class SGD(Optimizer):
    """Keras SGD: m = momentum*m - lr*g; w += m (nesterov: w += momentum*m - lr*g)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not isinstance(momentum, (int, float)) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def slot_names(self):
        return ("momentum",) if self.momentum != 0 else ()

    _native_name = "sgd"

    def _native_options(self, lr):
        return {"lr": lr, "momentum": self.momentum, "nesterov": self.nesterov}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """Keras RMSprop: v = rho*v + (1-rho)*g^2; w -= lr*g / sqrt(v + eps) (+ centered/momentum)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)

    def slot_names(self):
        names = ["velocity"]
        if self.momentum > 0:
            names.append("momentum")
        if self.centered:
            names.append("average_gradient")
        return tuple(names)

    _native_name = "rmsprop"

    def _native_options(self, lr):
        return {"lr": lr, "rho": self.rho, "momentum": self.momentum if self.momentum > 0 else 0.0,
                "centered": self.centered, "epsilon": self.epsilon}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """Keras Adam: m += (g-m)(1-b1); v += (g^2-v)(1-b2); w -= m*alpha / (sqrt(v) + eps)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)

    def slot_names(self):
        return ("momentum", "velocity", "velocity_hat") if self.amsgrad else \
            ("momentum", "velocity")

    def _alpha(self, lr):
        step = _F32(self.iterations + 1)
        b1p = np.power(_F32(self.beta_1), step)
        b2p = np.power(_F32(self.beta_2), step)
        return _F32(lr * np.sqrt(_F32(1) - b2p) / (_F32(1) - b1p))

    _native_name = "adam"

    def _native_options(self, lr):
        return {"lr": self._alpha(lr), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier):
    """Resolve 'sgd'/'rmsprop'/'adam' (Keras defaults), an Optimizer, or a serialized dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _BY_NAME:
            return _BY_NAME[key]()
        raise ValueError(f"optimizer: unknown name {identifier!r}; expected one of "
                         f"{sorted(_BY_NAME)}")
    if isinstance(identifier, dict):
        name = str(identifier.get("class_name", "")).lower()
        if name not in _BY_NAME:
            raise ValueError(f"optimizer: unknown serialized optimizer {identifier!r}")
        return _BY_NAME[name].from_config(identifier.get("config", {}))
    raise TypeError(f"optimizer: expected a name or a fastrnn.optimizers.Optimizer, "
                    f"got {identifier!r}")


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(spec):
    return get(spec)
