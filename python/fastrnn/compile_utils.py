"""What `compile(loss=..., loss_weights=..., metrics=...)` becomes, per model output.

Keras 3 rules (keras/src/trainers/compile_utils.py), for a model with outputs named after the
layers that produce them:
- `loss`, `loss_weights` and `metrics` are one value for a single output, else a list with one
  entry per output or a dict keyed by output name (missing keys: no loss / no metrics there);
  a single loss for several outputs applies to each of them;
- the total loss is the sum of each output's loss times its weight; with more than one loss,
  each output's unweighted loss is also tracked as `<output>_loss`;
- with more than one output, metric names get the output name as prefix (`<output>_<name>`);
- "accuracy"/"crossentropy" are resolved from the shapes of the first batch.
"""
import numpy as np

from . import losses as losses_mod
from . import metrics as metrics_mod

_F32 = np.float32


def per_output(spec, names, what, default=None):
    """One entry per output from a single value, a list or a dict keyed by output name."""
    n = len(names)
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise ValueError(f"{what}: unknown output name(s) {unknown}; the model's outputs are "
                             f"{list(names)}")
        return [spec.get(name, default) for name in names]
    if isinstance(spec, (list, tuple)) and n > 1:
        if len(spec) != n:
            raise ValueError(f"{what}: expected one entry per output ({n}: {list(names)}), got "
                             f"{len(spec)}")
        return list(spec)
    return [spec] * n


def is_crossentropy_name(loss):
    return isinstance(loss, str) and loss.lower() in ("crossentropy", "ce")


class CompileLoss:
    """The compiled losses of a model's outputs: value and gradients of their weighted sum."""

    def __init__(self, loss, loss_weights, output_names):
        self.output_names = list(output_names)
        n = len(self.output_names)
        if loss_weights is not None and not isinstance(loss_weights, (list, tuple, dict, float,
                                                                       int)):
            raise ValueError("loss_weights: expected a float (single output) or a list or dict "
                             f"(several outputs), got {type(loss_weights).__name__}")
        if isinstance(loss, (list, tuple)) and n == 1 and len(loss) != 1:
            raise ValueError(f"loss: expected one loss for the model's single output, got "
                             f"{len(loss)}")
        if isinstance(loss, (list, tuple)) and n == 1:
            loss = loss[0]
        self._specs = per_output(loss, self.output_names, "loss")
        weights = per_output(loss_weights, self.output_names, "loss_weights")
        self._weights = [None if w is None else float(w) for w in weights]
        # Resolve names now (errors early); "crossentropy" waits for the data's shapes.
        self._losses = [None if s is None or is_crossentropy_name(s) else losses_mod.get(s)
                        for s in self._specs]
        self._resolved = False
        active = [s is not None for s in self._specs]
        if not any(active):
            self.trackers = []
        else:
            self.trackers = ([metrics_mod.Mean(name=f"{name}_loss")
                              for name, a in zip(self.output_names, active) if a]
                             if sum(active) > 1 else [])

    def resolve(self, ys, preds):
        if self._resolved:
            return
        for i, spec in enumerate(self._specs):
            if spec is not None and self._losses[i] is None:
                self._losses[i] = losses_mod.get(spec, ys[i], preds[i])
        self._resolved = True

    @property
    def active(self):
        return [i for i, s in enumerate(self._specs) if s is not None]

    def _scale(self, i):
        w = self._weights[i]
        return _F32(1) if w is None else _F32(w)

    def value_and_grads(self, ys, preds, logits, masks):
        """Total loss and, per output, (grad, wrt_logits) (None where no loss)."""
        total = _F32(0)
        grads = [None] * len(preds)
        wrt = [False] * len(preds)
        values = []
        for i in self.active:
            value, grad, use_logits = self._losses[i].value_and_grad(
                ys[i], preds[i], logits=logits[i], mask=masks[i])
            values.append(value)
            scale = self._scale(i)
            total = _F32(total + value * scale)
            grads[i] = grad if self._weights[i] is None else grad * scale
            wrt[i] = use_logits
        self._track(values, len(ys[0]) if ys else 0)
        return total, grads, wrt

    def value(self, ys, preds, logits, masks):
        total = _F32(0)
        values = []
        for i in self.active:
            value = self._losses[i].value(ys[i], preds[i], logits=logits[i], mask=masks[i])
            values.append(value)
            total = _F32(total + value * self._scale(i))
        self._track(values, len(ys[0]) if ys else 0)
        return total

    def _track(self, values, batch):
        for tracker, v in zip(self.trackers, values):
            tracker.update_state(v, sample_weight=batch)

    def config(self):
        """What get_compile_config records: the user's loss spec(s) serialized."""
        def one(i):
            spec = self._specs[i]
            if spec is None or isinstance(spec, str):
                return spec
            return losses_mod.serialize(self._losses[i] or losses_mod.get(spec))
        if len(self.output_names) == 1:
            return one(0)
        return [one(i) for i in range(len(self._specs))]

    def weights_config(self):
        if all(w is None for w in self._weights):
            return None
        return self._weights[0] if len(self._weights) == 1 else list(self._weights)


class CompileMetrics:
    """Each output's compiled metrics, named like Keras (prefixed by the output name when the
    model has several outputs)."""

    def __init__(self, metrics, output_names):
        self.output_names = list(output_names)
        n = len(self.output_names)
        if metrics is None:
            metrics = []
        if n == 1:
            if isinstance(metrics, dict):
                metrics = metrics.get(self.output_names[0], [])
            per = [metrics]
        elif isinstance(metrics, dict):
            per = per_output(metrics, self.output_names, "metrics", default=[])
        elif isinstance(metrics, (list, tuple)) and len(metrics) == n:
            per = list(metrics)
        elif not metrics:
            per = [[] for _ in range(n)]
        else:
            raise ValueError(f"metrics: a model with {n} outputs {self.output_names} takes a "
                             "list with one entry per output or a dict keyed by output name, "
                             f"got {metrics!r}")
        self._specs = []
        for spec in per:
            if spec is None:
                spec = []
            elif isinstance(spec, (str, metrics_mod.Metric)) or callable(spec):
                spec = [spec]
            spec = list(spec)
            for s in spec:   # validate names early
                if isinstance(s, str) and s.lower() not in ("accuracy", "acc"):
                    metrics_mod.get(s)
            self._specs.append(spec)
        self._metrics = None

    def resolve(self, ys, preds):
        if self._metrics is not None:
            return
        prefix = len(self.output_names) > 1
        self._metrics = []
        seen = {}
        for i, specs in enumerate(self._specs):
            for spec in specs:
                m = metrics_mod.get(spec, ys[i], preds[i])
                if prefix:
                    m.name = f"{self.output_names[i]}_{m.name}"
                if m.name in seen:   # Keras de-duplicates names with a counter
                    seen[m.name] += 1
                    m.name = f"{m.name}_{seen[m.name] - 1}"
                else:
                    seen[m.name] = 1
                self._metrics.append((i, m))

    @property
    def metrics(self):
        return [m for _, m in self._metrics or []]

    def update(self, ys, preds, masks):
        for i, m in self._metrics:
            m.update_state(ys[i], preds[i], mask=masks[i])

    def config(self):
        def names(specs):
            out = []
            for m in specs:
                if isinstance(m, str):
                    out.append(m)
                else:
                    obj = m if isinstance(m, metrics_mod.Metric) else metrics_mod.get(m)
                    out.append(obj.name)
            return out
        if len(self.output_names) == 1:
            return names(self._specs[0])
        return [names(s) for s in self._specs]
