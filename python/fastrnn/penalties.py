"""Regularization penalties and constraints in a training step, as Keras 3 applies them.

- The total loss is the compiled loss (already reduced over the batch) plus, unscaled, each
  penalty: `reg(w)` for every trainable weight with a regularizer of a trainable layer, and
  `reg(y) / batch` for every output `y` of a call of a layer with an activity regularizer
  (Keras' layer.__call__, also at inference). Per-output loss trackers exclude them.
- Their gradients join the weights' gradients before the optimizer (and so before its
  clipping); an embedding's sparse gradient becomes dense when its table is regularized, as
  TensorFlow's does. Activity penalties' gradients join the outputs' upstream gradients
  (models/functional.py).
- After each update, every constrained trainable weight that got a gradient is replaced by
  `constraint(w)`.
"""
import numpy as np

from .indexed_slices import IndexedSlices

_F32 = np.float32


def _regularized(layers):
    for layer in layers:
        for w, reg, trainable in zip(layer.weights, layer.weight_regularizers,
                                     layer.weight_trainable):
            if reg is not None and trainable:
                yield layer, w, reg


def weight_penalty(layers):
    total = _F32(0)
    for _, w, reg in _regularized(layers):
        total = _F32(total + reg(w))
    return total


def weight_penalties(layers):
    """Each regularized weight's penalty (Keras' `model.losses`, weight part)."""
    return [_F32(reg(w)) for _, w, reg in _regularized(layers)]


def add_weight_penalty_grads(layers):
    """Add each regularized weight's penalty gradient to the layer's `grads`."""
    for layer in layers:
        regs = layer.weight_regularizers
        if not any(r is not None for r in regs):
            continue
        grads = list(layer.grads) if layer.grads else [None] * len(layer.weights)
        for i, (w, reg, trainable) in enumerate(zip(layer.weights, regs,
                                                    layer.weight_trainable)):
            if reg is None or not trainable:
                continue
            g = grads[i]
            if isinstance(g, IndexedSlices):
                g = g.to_dense()
            penalty = reg.grad(w).astype(_F32, copy=False)
            grads[i] = penalty if g is None else g + penalty
        layer.grads = grads


def apply_constraints(layers):
    for layer in layers:
        for w, c, g in zip(layer.weights, layer.weight_constraints, layer.grads or []):
            if c is not None and g is not None:
                w[...] = c(w)


def activity_penalty(reg, outputs):
    """Penalty and per-output gradients of an activity regularizer: reg(y) / batch."""
    total = _F32(0)
    grads = []
    for y in outputs:
        y = np.asarray(y)
        batch = y.shape[0] if y.ndim else 1
        if batch == 0:
            grads.append(np.zeros_like(y, dtype=_F32))
            continue
        total = _F32(total + _F32(reg(y)) / _F32(batch))
        grads.append((reg.grad(y) / _F32(batch)).astype(_F32, copy=False))
    return total, grads
