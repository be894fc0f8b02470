"""Masks in Keras Functional graphs, and fastrnn's implicit masks.

fastrnn carries a mask with each tensor (an `Embedding(mask_zero=True)` or `Masking` starts
one, layers pass it on through `compute_mask`). Keras 3 computes masks with operations that
its Functional configs record: an Embedding with `mask_zero` adds `NotEqual(x, 0)` on its
input `x`, a Masking layer `Any(NotEqual(x, mask_value), axis=-1)`, and a layer whose `call`
takes `mask` receives the result as its `mask=` argument. Reading a file, exactly these two
operations are recognised (their arguments checked) and dropped, and each recorded `mask=`
must equal the mask fastrnn will carry there; any other operation (merging masks, arithmetic
on tensors, ...) is an error, never executed. tf-keras records no mask operations.

Keras 3 passes the mask only to a call with a single tensor argument: a recurrent layer
called with `initial_state` ignores the mask of its input in Keras 3 (not in tf-keras), which
fastrnn cannot reproduce in either direction.
"""
import numpy as np

# Keras 3 classes whose `call` takes `mask` (Keras fills it in from the input's mask).
MASK_ARGUMENT = ("SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional", "TimeDistributed",
                 "GlobalAveragePooling1D", "BatchNormalization")
OPERATIONS = ("NotEqual", "Any")
_OPERATION_MODULES = ("keras.src.ops", "keras.ops")


class Mask:
    """The mask of a tensor: `source != value` ("not_equal": an Embedding with mask_zero,
    value 0), `any(source != value, axis=-1)` ("any": Masking), or "combined" (computed by a
    merge layer from several masks). `producer` is the node that computed it."""

    def __init__(self, kind, source=None, value=None, producer=None):
        self.kind, self.source, self.value, self.producer = kind, source, value, producer

    def same(self, other):
        return isinstance(other, Mask) and self.kind != "combined" and \
            (self.kind, self.source, self.value) == (other.kind, other.source, other.value)

    def __repr__(self):
        if self.kind == "combined":
            return "a mask combined by a merge layer"
        text = f"{list(self.source)} != {self.value!r}"
        return f"any({text}, axis=-1)" if self.kind == "any" else text


def is_operation(spec):
    """Whether a Functional config entry is a Keras 3 operation, not a layer (Keras 3's
    legacy .h5 writer leaves out the module: then only the mask operations are known)."""
    if not isinstance(spec, dict):
        return False
    module = spec.get("module")
    if module is None:
        return spec.get("class_name") in OPERATIONS
    return isinstance(module, str) and module.startswith(_OPERATION_MODULES)


def operation_mask(name, cls, config, node, masks, src):
    """The Mask an operation node computes, after checking it is one Keras adds for masks."""
    where = f"operation {name!r} ({cls})"
    if cls not in OPERATIONS:
        raise src.unsupported(f"{where}: Keras operations in a Functional graph are not "
                              "supported (fastrnn never executes operations from a file); only "
                              "the mask operations of Embedding(mask_zero=True) and Masking "
                              "are recognised")
    expected = {"name"} | ({"axis", "keepdims"} if cls == "Any" else set())
    if not isinstance(config, dict) or set(config) - expected or node.kwargs:
        raise src.unsupported(f"{where}: arguments {config!r}, {node.kwargs!r} are not those "
                              "of a mask operation")
    args = node.args
    if cls == "NotEqual":
        if len(args) != 2 or not is_ref(args[0]) or isinstance(args[1], bool) or \
                not isinstance(args[1], (int, float)):
            raise src.unsupported(f"{where}: expected (tensor, number) arguments, got "
                                  f"{args!r}")
        return Mask("not_equal", args[0], args[1], node)
    inner = masks.get(args[0]) if len(args) == 1 and is_ref(args[0]) else None
    if inner is None or inner.kind != "not_equal" or config.get("axis") != -1 or \
            config.get("keepdims", False):
        raise src.unsupported(f"{where}: expected any(not_equal(x, value), axis=-1), got "
                              f"arguments {args!r} and {config!r}")
    return Mask("any", inner.source, inner.value, node)


def is_ref(value):
    """A (layer name, node index, tensor index) reference."""
    return isinstance(value, tuple) and len(value) == 3


def output_masks(layer, node, arg_masks, arg_shapes):
    """The masks fastrnn gives a call's outputs (a list: the first outputs' masks, the others
    have none), from the masks of its positional argument (one, or a list for merge layers)
    and their shapes."""
    cls = type(layer).__name__
    source = node.args[0] if node.args else None
    if cls == "Embedding":
        out = Mask("not_equal", source, 0, node) if layer.mask_zero else None
    elif cls == "Masking":
        out = Mask("any", source, layer.mask_value, node)
    elif isinstance(arg_masks, list):
        out = _merged(layer, node, arg_masks, arg_shapes)
    else:
        try:
            out = layer.compute_mask(None, arg_masks)
        except (TypeError, ValueError, AttributeError, IndexError):
            out = Mask("combined", producer=node)   # a layer that computes a new mask
    return out if isinstance(out, list) else [out]


def _merged(layer, node, arg_masks, arg_shapes):
    """A merge layer's mask: None or "combined", as its compute_mask decides on stand-in
    arrays of the inputs' shapes."""
    if all(m is None for m in arg_masks):
        return None
    dummies = [np.zeros([d or 1 for d in shape], np.float32) for shape in arg_shapes]
    stand_ins = [None if m is None else np.ones(x.shape[:2], bool)
                 for m, x in zip(arg_masks, dummies)]
    try:
        out = layer.compute_mask(dummies, stand_ins)
    except (TypeError, ValueError, IndexError):
        out = True
    return None if out is None else Mask("combined", producer=node)
