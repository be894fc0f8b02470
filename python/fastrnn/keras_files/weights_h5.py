"""Layer weights in Keras' HDF5 layouts.

Keras 3 (`model.weights.h5` inside .keras files, and `.weights.h5` files): one group per layer
under `layers/`, named by the snake-cased Keras class with a counter (`lstm`, `lstm_1`, ...),
not by the layer's name; a layer's variables are datasets `vars/0`, `vars/1`, ... of the object
that owns them (`layers/lstm/cell/vars`, `layers/bidirectional/forward_layer/cell/vars`,
`layers/time_distributed/layer/vars`). tf.keras 2.13 files name the root
`_layer_checkpoint_dependencies` instead of `layers`.

Legacy HDF5 (Keras 2 `.h5`, and Keras 3's legacy writer): `model_weights` (or the root of a
weights-only file) lists `layer_names`; each layer group lists `weight_names`, the paths of its
datasets (`lstm/lstm_cell/kernel:0`). Layers with weights are matched by position, as Keras does.
"""
import numpy as np

from ..saving import ModelFileError
from . import h5safe
from .config import RECURRENT, snake_case

_WRAPPED = {"Bidirectional": ("forward_layer", "backward_layer"), "TimeDistributed": ("layer",)}
_ROOTS = ("layers", "_layer_checkpoint_dependencies")


def keras3_groups(layer, prefix=""):
    """[(path below the layer's group, layer or cell owning the variables there)] in weight
    order. An RNN's cell is `cell`, a StackedRNNCells' cells `cell/cells/<class>[_<n>]`."""
    cls = type(layer).__name__
    if cls in _WRAPPED:
        return [g for attr in _WRAPPED[cls]
                for g in keras3_groups(getattr(layer, attr), f"{prefix}{attr}/")]
    if cls == "RNN":
        if type(layer.cell).__name__ != "StackedRNNCells":
            return [(prefix + "cell", layer.cell)]
        used = {}
        return [(f"{prefix}cell/cells/{_unique(snake_case(type(c).__name__), used)}", c)
                for c in layer.cell.cells]
    return [(prefix + ("cell" if cls in RECURRENT else ""), layer)]


def _unique(name, used):
    """Keras' container naming: the first `lstm`, then `lstm_1`, `lstm_2`, ..."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _describe(layer, owner, i, path):
    return (f"layer {layer.name!r} ({type(layer).__name__}) weight "
            f"{owner.weight_names[i]!r} ({path})")


def read_keras3(h5, layers, where):
    """Arrays for `layers` (built; in Keras' order) from a Keras 3 layout, one list per layer."""
    root = None
    for name in _ROOTS:
        root = h5safe.group(h5, name, where, required=False)
        if root is not None:
            break
    out, used = [], {}
    for layer in layers:
        group_name = _unique(snake_case(type(layer).__name__), used)
        arrays = []
        for sub, owner in keras3_groups(layer):
            path = "/".join(p for p in ("layers", group_name, sub, "vars") if p)
            n = len(owner.weights)
            vars_group = None if root is None else h5safe.group(
                root, "/".join(p for p in (group_name, sub, "vars") if p), where,
                required=False)
            found = [] if vars_group is None else h5safe.keys(vars_group, where)
            if sorted(found) != sorted(str(i) for i in range(n)):
                raise ModelFileError(
                    f"{where}: layer {layer.name!r} ({type(layer).__name__}) expects "
                    f"{n} weight(s) at {path}, the file has {len(found)}"
                    + (f" ({sorted(found)[:6]})" if found else ""))
            for i, w in enumerate(owner.weights):
                arrays.append(h5safe.dataset(vars_group, str(i), w.shape,
                                             _describe(layer, owner, i, f"{path}/{i}"), where))
        out.append(arrays)
    return out


def write_keras3(h5, model_name, layers):
    h5.create_group("vars").attrs["name"] = model_name
    root = h5.create_group("layers")
    used = {}
    for layer in layers:
        group = root.create_group(_unique(snake_case(type(layer).__name__), used))
        group.create_group("vars").attrs["name"] = layer.name
        for sub, owner in keras3_groups(layer):
            if not sub:
                vars_group = group["vars"]
            else:
                vars_group = group.require_group(sub).create_group("vars")
                vars_group.attrs["name"] = owner.name
            for i, w in enumerate(owner.weights):
                vars_group.create_dataset(str(i), data=np.asarray(w))


def read_legacy(group, layers, where):
    """(arrays per layer, file weight names per layer) from a legacy layout whose
    `layer_names` live on `group`; layers with weights are matched by position."""
    names = h5safe.name_list(group, "layer_names", where)
    if names is None:
        raise ModelFileError(f"{where}: no 'layer_names' in the HDF5 weights")
    file_layers = []
    for name in names:
        layer_group = h5safe.group(group, name, where)
        weight_names = h5safe.name_list(layer_group, "weight_names", where) or []
        if weight_names:
            file_layers.append((name, layer_group, weight_names))
    with_weights = [layer for layer in layers if layer.weights]
    if len(file_layers) != len(with_weights):
        raise ModelFileError(
            f"{where}: the file holds weights for {len(file_layers)} layer(s) "
            f"{[n for n, _, _ in file_layers][:8]}, the model has {len(with_weights)} layer(s) "
            f"with weights {[layer.name for layer in with_weights][:8]}")
    arrays, file_names = {}, {}
    for (name, layer_group, weight_names), layer in zip(file_layers, with_weights):
        if len(weight_names) != len(layer.weights):
            raise ModelFileError(
                f"{where}: layer {layer.name!r} ({type(layer).__name__}) has "
                f"{len(layer.weights)} weights, the file's layer {name!r} has "
                f"{len(weight_names)} ({weight_names[:6]})")
        values = []
        for i, (wname, w) in enumerate(zip(weight_names, layer.weights)):
            parent, _, leaf = wname.rpartition("/")
            holder = h5safe.group(layer_group, parent, where) if parent else layer_group
            values.append(h5safe.dataset(holder, leaf, w.shape,
                                         _describe(layer, layer, i, f"{name}/{wname}"), where))
        arrays[id(layer)] = values
        file_names[id(layer)] = weight_names
    return ([arrays.get(id(layer), []) for layer in layers],
            [file_names.get(id(layer), []) for layer in layers])


def legacy_weight_names(layer):
    """Keras 2 style dataset names of a layer's weights (`dense/kernel:0`,
    `bidirectional/forward_lstm/kernel:0`)."""
    prefix = layer.name + "/"
    return [(n if n.startswith(prefix) else prefix + n) + ":0" for n in layer.weight_names]


def write_legacy(group, layers):
    """Write `layers`' weights in the legacy layout onto `group` (`model_weights`)."""
    group.attrs["layer_names"] = np.array([layer.name.encode() for layer in layers])
    for layer in layers:
        layer_group = group.create_group(layer.name)
        names = legacy_weight_names(layer)
        layer_group.attrs["weight_names"] = np.array([n.encode() for n in names])
        for name, w in zip(names, layer.weights):
            layer_group.create_dataset(name, data=np.asarray(w))
