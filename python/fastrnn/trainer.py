"""`Trainer`: compile / fit / evaluate / predict / train_on_batch for any fastrnn model.

Keras 3 semantics (keras/src/trainers/trainer.py and its TensorFlow epoch loop):
- `validation_split` takes the LAST fraction of the arrays, before any shuffling;
- `shuffle=True` draws a fresh permutation every epoch from fastrnn's global generator (so
  `fastrnn.utils.set_random_seed` makes runs reproducible); the last batch may be partial;
- logs are running means over the epoch (losses weighted by batch size), keys sorted like
  Keras; validation metrics get the `val_` prefix; History records the epoch logs.

A training step is explicit, not taped: `model._run(inputs, training=True)` (forward, the
layers keep what their backward needs) -> the compiled losses' value and gradient per output
(from the logits of a sigmoid/softmax output, as Keras computes crossentropy) plus the
regularization penalties (penalties.py) -> `model._run_backward(grads, wrt_logits)` -> one
optimizer update of every trainable weight -> constraints.
The model supplies those two methods plus its inputs' and outputs' names; this class holds
everything else. Data-parallel training (fastrnn.distributed) enters only through the hook in
`self._distribution` (distributed/hooks.py): sharded batches, gradients averaged over the
ranks before the update, logs over all ranks.
"""
import math

import numpy as np

from . import data_adapter as da
from . import optimizers as optimizers_mod
from . import penalties
from .callbacks import CallbackList
from .compile_utils import CompileLoss, CompileMetrics
from .distributed import hooks as dp
from .metrics import Mean


def _verbose(verbose):
    return 1 if verbose == "auto" else int(verbose)


def _no_sample_weights(what, *values):
    if any(v is not None for v in values):
        raise NotImplementedError(f"{what}: sample_weight/class_weight are not supported by "
                                  "fastrnn")


def _per_name(data, names, what, missing_what, kind, items):
    """Arrays for `names` (the model's inputs or outputs) from one array, a list or a dict."""
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"{what}: missing {missing_what} {missing}; the model's {kind} are "
                             f"{names}, got keys {sorted(data)}")
        return [data[n] for n in names]
    if len(names) > 1:
        if not isinstance(data, (list, tuple)) or len(data) != len(names):
            got = f"a list of {len(data)}" if isinstance(data, (list, tuple)) else \
                type(data).__name__
            raise ValueError(f"{what}: the model has {len(names)} {kind} {names}; expected a "
                             f"list of {len(names)} {items} or a dict, got {got}")
        return list(data)
    return [data]


class Trainer:
    """Mixin of fastrnn models; see the module docstring."""

    def _init_trainer(self):
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self._compile_loss = None
        self._compile_metrics = None
        self._loss_tracker = Mean(name="loss")
        self.stop_training = False
        self.history = None
        self._nan_guard = False
        self._nan_snapshot = None
        self._distribution = dp.LOCAL

    # -- compile -----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        if weighted_metrics is not None:
            raise NotImplementedError("compile: weighted_metrics is not supported by fastrnn")
        names = self.output_names
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = loss
        self._compile_loss = CompileLoss(loss, loss_weights, names) if loss is not None else None
        self._compile_metrics = CompileMetrics(metrics, names)
        self._loss_weights = loss_weights
        self.compiled = True
        self.stop_training = False

    def _resolve_compile(self, ys, preds):
        if self._compile_loss is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        self._compile_loss.resolve(ys, preds)
        self._compile_metrics.resolve(ys, preds)

    @property
    def metrics(self):
        """The loss tracker, per-output loss trackers, then compiled metrics (Keras order)."""
        if not self.compiled:
            return []
        trackers = self._compile_loss.trackers if self._compile_loss else []
        return [self._loss_tracker] + list(trackers) + self._compile_metrics.metrics

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def _logs(self):
        """Current metric results; keys sorted like Keras' pythonify_logs."""
        return dict(sorted(self._distribution.metric_results(self.metrics)))

    def _flatten_logs(self, logs):
        names = self.metrics_names
        out = [logs[n] for n in names if n in logs]
        out += [logs[k] for k in sorted(logs) if k not in names]
        return out[0] if len(out) == 1 else out

    def _assert_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before calling `{what}()`.")

    def get_compile_config(self):
        if not self.compiled:
            return None
        loss = self._compile_loss.config() if self._compile_loss else None
        return {"optimizer": optimizers_mod.serialize(self.optimizer), "loss": loss,
                "loss_weights": self._compile_loss.weights_config() if self._compile_loss
                else None,
                "metrics": self._compile_metrics.config()}

    def compile_from_config(self, config):
        from . import losses as losses_mod
        loss = config.get("loss")

        def one(spec):
            return losses_mod.get(spec) if isinstance(spec, dict) else spec
        loss = [one(s) for s in loss] if isinstance(loss, list) else one(loss)
        self.compile(optimizer=optimizers_mod.get(config["optimizer"]), loss=loss,
                     loss_weights=config.get("loss_weights"),
                     metrics=config.get("metrics") or None)

    # -- one step ----------------------------------------------------------------------------
    def _step(self, xs, ys, training):
        """Forward (+ backward and update when training); updates the running metrics."""
        preds, masks = self._run(xs, training)
        self._resolve_compile(ys, preds)
        logits = self._output_logits()
        layers = self._trainable_layers()
        penalty = np.float32(self._activity_loss + penalties.weight_penalty(layers))
        if training:
            loss, grads, wrt = self._compile_loss.value_and_grads(ys, preds, logits, masks)
            loss = np.float32(loss + penalty)
            if not self._nan_guard or self._distribution.all_finite(loss):
                if self._nan_guard:
                    self._snapshot_weights()
                self._run_backward(grads, wrt)
                penalties.add_weight_penalty_grads(layers)
                self._apply_gradients(layers)
                penalties.apply_constraints(layers)
        else:
            loss = np.float32(self._compile_loss.value(ys, preds, logits, masks) + penalty)
        self._loss_tracker.update_state(loss, sample_weight=len(xs[0]))
        self._compile_metrics.update(ys, preds, masks)
        return loss

    def _apply_gradients(self, layers):
        grads, weights = [], []
        for layer in layers:
            for g, w in zip(layer.grads, layer.weights):
                if g is not None:
                    grads.append(g)
                    weights.append(w)
        grads = self._distribution.reduce_gradients(grads)
        if grads is None:    # accumulating (fit's steps_per_update): no update this batch
            return
        self.optimizer.apply(grads, weights)

    def _snapshot_weights(self):
        ws = self.trainable_weights
        snap = self._nan_snapshot
        if snap is None or len(snap) != len(ws) or any(a.shape != w.shape for a, w in zip(snap, ws)):
            snap = self._nan_snapshot = [np.empty_like(w) for w in ws]
        for dst, src in zip(snap, ws):
            np.copyto(dst, src)

    def _restore_finite_weights(self):
        """Used by TerminateOnNaN: restore the snapshot if the weights are not all finite."""
        ws = self.trainable_weights
        if all(np.isfinite(w).all() for w in ws):
            return False
        if self._nan_snapshot is None or len(self._nan_snapshot) != len(ws):
            return False
        for dst, src in zip(ws, self._nan_snapshot):
            np.copyto(dst, src)
        return True

    # -- data --------------------------------------------------------------------------------
    def _inputs(self, x, what="x"):
        """User data for the model's inputs -> list of arrays (model input order)."""
        return [da.to_array(a, what) for a in self._input_list(x, what)]

    def _targets(self, y, what="y"):
        if y is None:
            return None
        return [da.to_array(a, what) for a in self._target_list(y, what)]

    def _input_list(self, x, what):
        return _per_name(x, self.input_names, what, "input(s)", "inputs", "arrays")

    def _target_list(self, y, what):
        return _per_name(y, self.output_names, what, "target(s) for output(s)", "outputs",
                         "target arrays")

    def _check_data(self, xs, ys, what="x"):
        for a in xs:
            da.check_xy(a, None, what)
        n = len(xs[0])
        yname = what[:-1] + "y"
        for a in xs[1:]:
            if len(a) != n:
                raise ValueError(f"Data cardinality is ambiguous: the {what} arrays have "
                                 f"{[len(v) for v in xs]} samples. Make sure all arrays contain "
                                 "the same number of samples.")
        for a in ys or []:
            da.check_xy(xs[0], a, what)
        return n, yname

    # -- batch API ---------------------------------------------------------------------------
    def _batch(self, x, y, what):
        self._assert_compiled(what)
        xs, ys = self._inputs(x), self._targets(y)
        self._check_data(xs, ys)
        self._ensure_built(xs)
        return xs, ys

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        _no_sample_weights("train_on_batch", sample_weight, class_weight)
        xs, ys = self._batch(x, y, "train_on_batch")
        # No whole-array pre-check of the ids here (fit does one per call): in a single batch
        # the first layer validates them during the forward, before any weight changes.
        self.reset_metrics()
        self._step(xs, ys, training=True)
        logs = self._logs()
        return logs if return_dict else self._flatten_logs(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        _no_sample_weights("test_on_batch", sample_weight)
        xs, ys = self._batch(x, y, "test_on_batch")
        self.reset_metrics()
        self._step(xs, ys, training=False)
        logs = self._logs()
        return logs if return_dict else self._flatten_logs(logs)

    def predict_on_batch(self, x):
        xs = self._inputs(x)
        self._check_data(xs, None)
        self._ensure_built(xs)
        return self._pack_outputs(self._run(xs, training=False)[0])

    # -- fit / evaluate / predict ------------------------------------------------------------
    @dp.scoped
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, steps_per_update=1):
        """Keras' fit, plus `steps_per_update=k`: the gradients of k consecutive batches are
        accumulated and applied as one update (the mean over their samples: for SGD exactly
        the update of one batch k times as large); the last group of an epoch may be
        shorter. Under fastrnn.distributed, `batch_size` is the global batch."""
        self._assert_compiled("fit")
        _no_sample_weights("fit", sample_weight, class_weight)
        verbose = _verbose(verbose)
        xs, ys = self._inputs(x), self._targets(y)
        n, _ = self._check_data(xs, ys)
        if ys is None:
            raise ValueError("fit: y (the targets) is required")
        batch_size = da.positive_int(batch_size, "batch_size", 32)
        epochs = da.non_negative_int(epochs, "epochs")
        initial_epoch = da.non_negative_int(initial_epoch, "initial_epoch")
        if steps_per_epoch is not None:
            steps_per_epoch = da.positive_int(steps_per_epoch, "steps_per_epoch")
        if validation_steps is not None:
            validation_steps = da.positive_int(validation_steps, "validation_steps")
        if validation_batch_size is not None:
            validation_batch_size = da.positive_int(validation_batch_size, "validation_batch_size")
        validation_freq = da.positive_int(validation_freq, "validation_freq")
        steps_per_update = da.positive_int(steps_per_update, "steps_per_update")
        validation_split = da.unit_interval(validation_split, "validation_split")
        val = None
        if validation_split and validation_data is None:
            split_at = int(math.floor(n * (1.0 - validation_split)))
            if split_at == 0 or split_at == n:
                raise ValueError(
                    f"Training data contains {n} samples, which is not sufficient to split it "
                    "into a validation and training set as specified by `validation_split="
                    f"{validation_split}`. Either provide more data, or a different value for "
                    "the `validation_split` argument.")
            val = ([a[split_at:] for a in xs], [a[split_at:] for a in ys])
            xs, ys = [a[:split_at] for a in xs], [a[:split_at] for a in ys]
            n = split_at
        elif validation_data is not None:
            val = self._unpack_validation(validation_data)
        self._ensure_built(xs)
        self._check_input_values(xs)
        if val is not None:
            self._check_input_values(val[0], "validation_data")
        steps = int(steps_per_epoch) if steps_per_epoch else math.ceil(n / batch_size)
        dist = self._distribution = dp.for_fit(
            self, steps_per_update, samples=n, batch_size=batch_size, epochs=epochs,
            initial_epoch=initial_epoch, steps=steps, shuffle=bool(shuffle),
            validation_samples=0 if val is None else len(val[0][0]))
        cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0 and dist.is_main,
                           model=self, verbose=verbose, epochs=epochs, steps=steps)
        self.stop_training = False
        stream = da.BatchStream(n, batch_size, shuffle, dist.shuffle_generator())
        cbs.on_train_begin()
        training_logs = None
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            if not steps_per_epoch:
                stream.new_epoch()
            for step in range(steps):
                idx = dist.train_batch(stream.next(), step, steps)
                cbs.on_train_batch_begin(step)
                self._step([a[idx] for a in xs], [a[idx] for a in ys], training=True)
                cbs.on_train_batch_end(step, self._logs())
                if self.stop_training:
                    break
            epoch_logs = self._logs()
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_arrays(*val, validation_batch_size or batch_size,
                                                 validation_steps, cbs)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            training_logs = epoch_logs
            if self.stop_training:
                break
        cbs.on_train_end(logs=training_logs)
        return cbs.history

    def _unpack_validation(self, data):
        if isinstance(data, (tuple, list)) and len(data) in (2, 3):
            if len(data) == 3 and data[2] is not None:
                raise NotImplementedError("validation sample weights are not supported by "
                                          "fastrnn")
            xs = self._inputs(data[0], "validation x")
            ys = self._targets(data[1], "validation y")
            self._check_data(xs, ys, "validation x")
            return xs, ys
        raise ValueError("validation_data must be a tuple (x_val, y_val) or a list "
                         f"[x_val, y_val], got {type(data).__name__}")

    @dp.scoped
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, **kwargs):
        self._assert_compiled("evaluate")
        _no_sample_weights("evaluate", sample_weight)
        xs, ys = self._inputs(x), self._targets(y)
        self._check_data(xs, ys)
        if ys is None:
            raise ValueError("evaluate: y (the targets) is required")
        self._ensure_built(xs)
        self._check_input_values(xs)
        batch_size = da.positive_int(batch_size, "batch_size", 32)
        verbose = _verbose(verbose)
        steps = self._num_steps(len(xs[0]), batch_size, steps)
        dist = self._distribution = dp.for_evaluate(self, samples=len(xs[0]),
                                                    batch_size=batch_size, steps=steps)
        cbs = CallbackList(callbacks, add_progbar=verbose != 0 and dist.is_main, model=self,
                           verbose=verbose, epochs=1, steps=steps)
        logs = self._evaluate_arrays(xs, ys, batch_size, steps, cbs)
        return logs if return_dict else self._flatten_logs(logs)

    @staticmethod
    def _num_steps(n, batch_size, steps):
        num_batches = math.ceil(n / batch_size)
        return min(da.positive_int(steps, "steps"), num_batches) if steps is not None \
            else num_batches

    def _evaluate_arrays(self, xs, ys, batch_size, steps, cbs):
        n = len(xs[0])
        steps = self._num_steps(n, batch_size, steps)
        self.reset_metrics()
        cbs.on_test_begin()
        for step in range(steps):
            idx = self._distribution.shard(slice(step * batch_size,
                                                 min(n, (step + 1) * batch_size)))
            cbs.on_test_batch_begin(step)
            self._step([a[idx] for a in xs], [a[idx] for a in ys], training=False)
            cbs.on_test_batch_end(step, self._logs())
        logs = self._logs()
        cbs.on_test_end(logs)
        return logs

    @dp.scoped
    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        """Keras' predict. Under fastrnn.distributed each rank predicts a contiguous block of
        the rows (in batches of its share of `batch_size`) and every rank returns all rows."""
        xs = self._inputs(x)
        self._check_data(xs, None)
        self._ensure_built(xs)
        self._check_input_values(xs)
        batch_size = da.positive_int(batch_size, "batch_size", 32)
        verbose = _verbose(verbose)
        n = min(len(xs[0]), self._num_steps(len(xs[0]), batch_size, steps) * batch_size)
        dist = self._distribution = dp.for_predict(self, samples=n, batch_size=batch_size)
        rows, batch_size = dist.predict_rows(n), dist.predict_batch(batch_size)
        steps = math.ceil((rows.stop - rows.start) / batch_size)
        cbs = CallbackList(callbacks, add_progbar=verbose != 0 and dist.is_main, model=self,
                           verbose=verbose, epochs=1, steps=steps)
        cbs.on_predict_begin()
        outs = None
        for step in range(steps):
            start = step * batch_size
            stop = min(rows.stop - rows.start, start + batch_size)
            cbs.on_predict_batch_begin(step)
            preds = self._run([a[rows.start + start:rows.start + stop] for a in xs],
                              training=False)[0]
            if outs is None:
                outs = [np.empty((rows.stop - rows.start,) + p.shape[1:], p.dtype)
                        for p in preds]
            for o, p in zip(outs, preds):
                o[start:stop] = p
            cbs.on_predict_batch_end(step, {"outputs": self._pack_outputs(preds)})
        cbs.on_predict_end()
        return self._pack_outputs(dist.gather_predictions(outs, n))
