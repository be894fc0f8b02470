"""`Sequential`: a Keras-3-compatible linear stack of fastrnn layers with compile/fit/evaluate.

Training is explicit: forward (masks propagate with `layer.compute_mask`) -> loss and its
gradient -> `layer.backward` in reverse -> optimizer update of every trainable weight in place.
Logs, History keys, progress output, validation_split and shuffling follow Keras 3.
"""
import os

import numpy as np

from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optimizers as optimizers_mod
from . import saving
from ._summary import print_summary
from .layers.base import Layer, unique_name
from .layers.core import InputLayer
from .training_loop import _check_xy, evaluate_loop, fit_loop, predict_loop


def _to_array(x, what):
    if x is None:
        return None
    if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
        x = x[0]
    try:
        arr = np.asarray(x)
    except ValueError as e:    # ragged nested lists (NumPy >= 1.24 refuses them)
        raise ValueError(f"{what}: expected a rectangular numeric array, got ragged data "
                         "(pad sequences first, e.g. fastrnn.preprocessing.pad_sequences): "
                         f"{e}") from None
    if arr.dtype == object:
        raise ValueError(f"{what}: expected a rectangular numeric array, got ragged/object data "
                         "(pad sequences first, e.g. fastrnn.preprocessing.pad_sequences)")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected a real numeric array (bool, int or float), got "
                        f"dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    return arr


def _num(v):
    return float(np.float32(v))


def _verbose(verbose):
    return 1 if verbose == "auto" else int(verbose)


class Sequential:
    """A linear stack of layers, like `keras.Sequential`."""

    def __init__(self, layers=None, trainable=True, name=None):
        self.name = name or unique_name("sequential")
        self.trainable = trainable
        self._layers = []
        self._output_shapes = {}
        self._build_input_shape = None
        self.built = False
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self._loss_obj = None
        self._metric_specs = []
        self._metrics = None
        self._loss_tracker = metrics_mod.Mean(name="loss")
        self.stop_training = False
        self.history = None
        self._nan_guard = False
        self._nan_snapshot = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    # -- structure ---------------------------------------------------------------------------
    def add(self, layer, rebuild=True):
        if not self._layers and not isinstance(layer, InputLayer) and \
                getattr(layer, "input_shape_hint", None) is not None:
            self.add(InputLayer(shape=layer.input_shape_hint), rebuild=False)
        if not isinstance(layer, Layer):
            raise ValueError("Only instances of fastrnn layers can be added to a Sequential "
                             f"model. Received: {layer!r} (of type {type(layer).__name__})")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError("All layers added to a Sequential model should have unique names. "
                             f"Name '{layer.name}' is already the name of a layer in this model.")
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError(f"Sequential model '{self.name}' already has layers; an Input "
                                 "must come first.")
        self._layers.append(layer)
        self.built = False
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild=True):
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        layer = self._layers.pop()
        self._output_shapes.pop(id(layer), None)
        self.built = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self):
        if self._layers and isinstance(self._layers[0], InputLayer) and len(self._layers) > 1:
            self.build(self._layers[0].batch_shape)
        elif self._build_input_shape is not None and self.layers:
            self.build(self._build_input_shape)

    @property
    def layers(self):
        """The layers, without the InputLayer (like Keras)."""
        if self._layers and isinstance(self._layers[0], InputLayer):
            return self._layers[1:]
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[l.name for l in self.layers]}.")

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of shape `input_shape` (batch first)."""
        if input_shape is None:
            if self._layers and isinstance(self._layers[0], InputLayer):
                input_shape = self._layers[0].batch_shape
            else:
                raise ValueError("You must provide an `input_shape` argument.")
        shape = tuple(None if d is None else int(d) for d in input_shape)
        self._build_input_shape = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
                layer.built = True
            try:
                out = layer.compute_output_shape(shape)
            except Exception:     # shape unknown: shown as "?" in the summary
                out = None
            self._output_shapes[id(layer)] = out
            if out is None:
                break
            shape = tuple(out) if not isinstance(out, list) else out[0]
        self.built = True

    def _ensure_built(self, x):
        if not self.built or any(not l.built for l in self.layers):
            if self._layers and isinstance(self._layers[0], InputLayer):
                self.build(self._layers[0].batch_shape)
            else:
                self.build((None,) + tuple(np.shape(x)[1:]))

    def _check_input_values(self, x):
        """Whole-array checks of the first layer (e.g. Embedding ids), run before the first
        batch so that bad data fails before any update and reports its position in `x`."""
        layers = self.layers
        if layers and hasattr(layers[0], "check_inputs"):
            layers[0].check_inputs(x)

    def _output_shape_of(self, layer):
        return self._output_shapes.get(id(layer)) if self.built else None

    @property
    def input_shape(self):
        return self._build_input_shape

    @property
    def output_shape(self):
        return self._output_shape_of(self.layers[-1]) if self.layers else None

    # -- weights -----------------------------------------------------------------------------
    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self.layers if layer.trainable for w in layer.weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self.layers if not layer.trainable for w in layer.weights]

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            detail = ", ".join(f"{l.name}: {[w.shape for w in l.weights]}" for l in self.layers)
            raise ValueError(f"{self.name}.set_weights: expected {expected} arrays ({detail}), "
                             f"got {len(weights)}" +
                             ("; the model is not built yet (call it on data or build it)"
                              if not self.built else ""))
        pos = 0
        chunks = []
        for layer in self.layers:
            n = len(layer.weights)
            chunk = weights[pos:pos + n]
            for i, (dst, src) in enumerate(zip(layer.weights, chunk)):
                if np.shape(src) != dst.shape:
                    raise ValueError(
                        f"Layer '{layer.name}' weight {i} ({layer.weight_names[i]}) expected shape "
                        f"{dst.shape}, got {np.shape(src)}")
                kind = np.asarray(src).dtype.kind
                if kind not in "iuf":   # checked for every layer before anything is written
                    raise TypeError(
                        f"Layer '{layer.name}' weight {i} ({layer.weight_names[i]}) expected a "
                        f"real numeric array, got dtype {np.asarray(src).dtype}")
            chunks.append((layer, chunk))
            pos += n
        for layer, chunk in chunks:
            if chunk:
                layer.set_weights(chunk)

    def _weight_names(self):
        return [n for layer in self.layers for n in layer.weight_names]

    # -- forward / backward ------------------------------------------------------------------
    def _forward(self, x, training, layers=None):
        """Run the stack; returns (output, output mask, index of the layer that produced it)."""
        mask = None
        src = -1
        for i, layer in enumerate(self.layers if layers is None else layers):
            out = layer(x, mask=mask, training=training)
            mask = layer.compute_mask(x, mask)
            if out is not x:
                src = i
            x = out
        return x, mask, src

    def __call__(self, x, training=False):
        x = _to_array(x, "x")
        self._ensure_built(x)
        return self._forward(x, training)[0]

    def _backward(self, dy, src, wrt_logits, layers=None):
        layers = self.layers if layers is None else layers
        first = None
        for i, layer in enumerate(layers):
            if layer.trainable and layer.weights:
                first = i
                break
        if first is None:
            return
        for i in range(src, first - 1, -1):
            layer = layers[i]
            if i == src and wrt_logits:
                dy = layer.backward(dy, wrt_logits=True)
            else:
                dy = layer.backward(dy)
            if dy is None:
                break

    def _logits_of(self, src, layers=None):
        if src < 0:
            return None
        return getattr((self.layers if layers is None else layers)[src], "logits", None)

    # -- compile -----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        if loss_weights is not None or weighted_metrics is not None:
            raise NotImplementedError("compile: loss_weights and weighted_metrics are not "
                                      "supported by fastrnn")
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = loss
        self._loss_obj = None
        if loss is not None and not (isinstance(loss, str) and
                                     loss.lower() in ("crossentropy", "ce")):
            self._loss_obj = losses_mod.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, metrics_mod.Metric)) or callable(metrics):
            metrics = [metrics]
        elif isinstance(metrics, dict):
            raise NotImplementedError("compile: per-output metric dicts are not supported")
        self._metric_specs = list(metrics)
        self._metrics = None
        for spec in self._metric_specs:   # validate names early
            if isinstance(spec, str) and spec.lower() not in ("accuracy", "acc"):
                metrics_mod.get(spec)
        self.compiled = True
        self.stop_training = False

    def _resolve_compile(self, y, y_pred):
        if self._loss_obj is None:
            if self.loss is None:
                raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
            self._loss_obj = losses_mod.get(self.loss, y, y_pred)
        if self._metrics is None:
            self._metrics = [metrics_mod.get(m, y, y_pred) for m in self._metric_specs]

    @property
    def metrics(self):
        """Loss tracker then compiled metrics (Keras order)."""
        if not self.compiled:
            return []
        return [self._loss_tracker] + list(self._metrics or [])

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def _logs(self):
        """Current metric results; keys sorted like Keras' pythonify_logs."""
        return dict(sorted((m.name, m.result()) for m in self.metrics))

    def _flatten_logs(self, logs):
        names = self.metrics_names
        out = [logs[n] for n in names if n in logs]
        out += [logs[k] for k in sorted(logs) if k not in names]
        return out[0] if len(out) == 1 else out

    def _assert_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before calling `{what}()`.")

    # -- one step ----------------------------------------------------------------------------
    def _step(self, x, y, training):
        """Forward (+ backward and update when training); updates the running metrics."""
        layers = self.layers     # resolved once per step
        y_pred, mask, src = self._forward(x, training, layers)
        self._resolve_compile(y, y_pred)
        logits = self._logits_of(src, layers)
        if training:
            loss, grad, wrt_logits = self._loss_obj.value_and_grad(y, y_pred, logits=logits,
                                                                   mask=mask)
            if not self._nan_guard or np.isfinite(loss):
                if self._nan_guard:
                    self._snapshot_weights()
                self._backward(grad, src, wrt_logits, layers)
                self._apply_gradients(layers)
        else:
            loss = self._loss_value(y, y_pred, logits, mask)
        self._loss_tracker.update_state(loss, sample_weight=len(x))
        for m in self._metrics:
            m.update_state(y, y_pred, mask=mask)
        return loss

    def _loss_value(self, y, y_pred, logits, mask):
        obj = self._loss_obj
        if obj._crossentropy and logits is not None:
            y_true, inp = obj._prepare(y, logits)
            per_sample = type(obj)._kernel(y_true, inp, True, False)[0]
            return obj._reduce(per_sample, None, mask, None)[0]
        return obj(y, y_pred, mask=mask)

    def _apply_gradients(self, layers=None):
        grads, weights = [], []
        if not self.trainable:
            return
        for layer in self.layers if layers is None else layers:
            if layer.trainable and layer.weights:
                grads.extend(layer.grads)
                weights.extend(layer.weights)
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

    # -- batch API ---------------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        self._assert_compiled("train_on_batch")
        if sample_weight is not None or class_weight is not None:
            raise NotImplementedError("sample_weight/class_weight are not supported by fastrnn")
        x, y = _to_array(x, "x"), _to_array(y, "y")
        _check_xy(x, y)
        self._ensure_built(x)
        # No whole-array pre-check of the ids here (fit does one per call): in a single batch
        # the first layer validates them during the forward, before any weight changes.
        self.reset_metrics()
        self._step(x, y, training=True)
        logs = self._logs()
        return logs if return_dict else self._flatten_logs(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compiled("test_on_batch")
        x, y = _to_array(x, "x"), _to_array(y, "y")
        _check_xy(x, y)
        self._ensure_built(x)
        self.reset_metrics()
        self._step(x, y, training=False)
        logs = self._logs()
        return logs if return_dict else self._flatten_logs(logs)

    def predict_on_batch(self, x):
        x = _to_array(x, "x")
        _check_xy(x, None)
        self._ensure_built(x)
        return self._forward(x, training=False)[0]

    # -- fit / evaluate / predict ------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        self._assert_compiled("fit")
        if class_weight is not None or sample_weight is not None:
            raise NotImplementedError("sample_weight/class_weight are not supported by fastrnn")
        return fit_loop(self, x, y, batch_size=batch_size, epochs=epochs,
                        verbose=_verbose(verbose), callbacks=callbacks,
                        validation_split=validation_split, validation_data=validation_data,
                        shuffle=shuffle, initial_epoch=initial_epoch,
                        steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                        validation_batch_size=validation_batch_size,
                        validation_freq=validation_freq)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, **kwargs):
        self._assert_compiled("evaluate")
        if sample_weight is not None:
            raise NotImplementedError("sample_weight is not supported by fastrnn")
        logs = evaluate_loop(self, x, y, batch_size=batch_size, verbose=_verbose(verbose),
                             steps=steps, callbacks=callbacks)
        return logs if return_dict else self._flatten_logs(logs)

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        return predict_loop(self, x, batch_size=batch_size, verbose=_verbose(verbose),
                            steps=steps, callbacks=callbacks)

    # -- summary, config, saving -------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "layers": [saving.serialize_layer(l) for l in self._layers],
                "build_input_shape": (None if self._build_input_shape is None
                                      else list(self._build_input_shape))}

    @classmethod
    def from_config(cls, config):
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for spec in config.get("layers", []):
            model.add(saving.deserialize_layer(spec), rebuild=False)
        shape = config.get("build_input_shape")
        if shape is not None and model.layers:
            model.build(tuple(shape))
        return model

    def _compile_config(self):
        if not self.compiled:
            return None
        if self.loss is None:
            loss = None
        elif isinstance(self.loss, str):
            loss = self.loss
        else:
            loss = losses_mod.serialize(losses_mod.get(self.loss))
        metrics = []
        for m in self._metric_specs:
            if isinstance(m, str):
                metrics.append(m)
            else:
                obj = metrics_mod.get(m) if not isinstance(m, metrics_mod.Metric) else m
                metrics.append(obj.name)
        return {"optimizer": optimizers_mod.serialize(self.optimizer), "loss": loss,
                "metrics": metrics}

    def _compile_from_config(self, config):
        self.compile(optimizer=optimizers_mod.get(config["optimizer"]),
                     loss=(losses_mod.get(config["loss"]) if isinstance(config.get("loss"), dict)
                           else config.get("loss")),
                     metrics=config.get("metrics") or None)

    def save(self, filepath, overwrite=True, include_optimizer=True, **kwargs):
        """Save architecture, weights, compile config and optimizer state to one file."""
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        saving.save_model(self, filepath, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        saving.save_weights(self, filepath)

    def load_weights(self, filepath, skip_mismatch=False):
        saving.load_weights(self, filepath)

    def __repr__(self):
        return f"<Sequential name={self.name}, built={self.built}>"


def load_model(filepath, compile=True, **kwargs):
    """Load a model written by `model.save(path)`."""
    return saving.load_model(filepath, compile=compile)
