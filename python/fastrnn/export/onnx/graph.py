"""Building an ONNX graph with `onnx.helper`: unique names, nodes, constants, small op helpers.

Converters see tensors as `Tensor` records (ONNX name, static shape with symbolic names for the
dynamic axes, Keras mask) and add nodes through a `Graph`; nothing here knows about layers.
"""
from dataclasses import dataclass, field

import numpy as np
from onnx import TensorProto, helper, numpy_helper

DEFAULT_OPSET = 17
_INT64_MIN = np.iinfo(np.int64).min


@dataclass
class Tensor:
    """A value of the graph: `shape` has ints for static dims, strings ("batch", "time") for
    dynamic ones and None where the size is not known before run time; `mask` is a
    `masks.Mask` (Keras' mask travelling with the tensor); `checks` names the bool [batch]
    flags of the rows this value cannot be computed exactly for (masks.py; set by the
    walker)."""
    name: str
    shape: tuple
    dtype: int = TensorProto.FLOAT
    mask: object = None
    checks: tuple = ()


@dataclass
class Graph:
    opset: int = DEFAULT_OPSET
    mask_padding: str = "pre"
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    # bool [batch] tensors: rows whose mask the exported graph cannot reproduce (see masks.py),
    # appended each time a converter relies on one
    bad_rows: list = field(default_factory=list)
    _used: set = field(default_factory=set)
    _weights: dict = field(default_factory=dict)
    _memo: dict = field(default_factory=dict)

    def name(self, hint):
        hint = "".join(c if c.isalnum() or c in "_./" else "_" for c in hint) or "t"
        name, i = hint, 1
        while name in self._used:
            name, i = f"{hint}_{i}", i + 1
        self._used.add(name)
        return name

    def op(self, op_type, inputs, outputs=1, hint=None, **attrs):
        """Add a node; returns its output name (or the list of names when outputs > 1).
        `outputs` may also be a list of booleans: False leaves that optional output unnamed."""
        hint = hint or op_type.lower()
        if isinstance(outputs, int):
            outputs = [True] * outputs
        names = [self.name(f"{hint}_out{i}" if len(outputs) > 1 else hint) if want else ""
                 for i, want in enumerate(outputs)]
        used = len(names)
        while used and not names[used - 1]:    # unnamed trailing outputs are left out
            used -= 1
        self.nodes.append(helper.make_node(op_type, list(inputs), names[:used],
                                           name=self.name(f"{hint}_{op_type}"), **attrs))
        return names[0] if len(names) == 1 else names

    def weight(self, array, hint):
        """An initializer holding `array`. The same hint with the same contents gives the same
        initializer: the calls of a shared layer share its weights, constants are shared."""
        arr = np.array(array, order="C")
        key = (hint, arr.dtype.str, arr.shape)
        for old, name in self._weights.get(key, ()):
            if old.tobytes() == arr.tobytes():
                return name
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(arr, name))
        self._weights.setdefault(key, []).append((arr, name))
        return name

    def const(self, value, dtype=np.float32):
        """A small constant, shared by every use of the same value."""
        arr = np.asarray(value, dtype=dtype)
        return self.weight(arr, f"const_{arr.dtype.name}")

    def memo(self, key, build):
        """`build()` once per key (e.g. one time-major copy of a tensor for several ops)."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    # -- helpers whose spelling depends on the opset ------------------------------------------
    def reduce(self, op_type, x, axes, keepdims=0, hint=None):
        if op_type == "ReduceSum" or self.opset >= 18:   # axes became an input
            return self.op(op_type, [x, self.const(axes, np.int64)], keepdims=keepdims,
                           hint=hint)
        return self.op(op_type, [x], axes=list(axes), keepdims=keepdims, hint=hint)

    def squeeze(self, x, axes, hint=None):
        return self.op("Squeeze", [x, self.const(axes, np.int64)], hint=hint)

    def unsqueeze(self, x, axes, hint=None):
        return self.op("Unsqueeze", [x, self.const(axes, np.int64)], hint=hint)

    def reverse(self, x, axis, hint=None):
        """`x` reversed along `axis` (a whole-axis flip, whatever its length)."""
        return self.op("Slice", [x, self.const([-1], np.int64), self.const([_INT64_MIN], np.int64),
                                 self.const([axis], np.int64), self.const([-1], np.int64)],
                       hint=hint or "reversed")

    def shape(self, x, start=0, end=None):
        """int64 [n]: the dims of `x` from `start` (to `end`)."""
        def build():
            attrs = {"start": start} if end is None else {"start": start, "end": end}
            return self.op("Shape", [x], hint="shape", **attrs)
        return self.memo(("shape", x, start, end), build)

    def dim(self, x, axis):
        """Length of `x` along `axis` as an int32 scalar."""
        return self.memo(("dim", x, axis), lambda: self.op(
            "Cast", [self.squeeze(self.shape(x, axis, axis + 1), [0])], to=TensorProto.INT32,
            hint="length"))

    def cast(self, x, to, hint=None):
        return self.memo(("cast", x, to), lambda: self.op("Cast", [x], to=to, hint=hint))

    def any(self, x, axes, keepdims=0, hint=None):
        """Logical OR of a bool tensor over `axes` (ReduceMax takes no bool before opset 20)."""
        flags = self.reduce("ReduceMax", self.cast(x, TensorProto.INT32), axes, keepdims)
        return self.op("Cast", [flags], to=TensorProto.BOOL, hint=hint or "any")

    def live(self, outputs):
        """(nodes, initializers) that the names `outputs` depend on: what converters built for
        results nothing reads (a layer's unused outputs, a mask no layer uses) is left out."""
        needed, nodes = set(outputs), []
        for node in reversed(self.nodes):
            if any(name in needed for name in node.output):
                nodes.append(node)
                needed.update(node.input)
        return nodes[::-1], [t for t in self.initializers if t.name in needed]

    def value_info(self, tensor):
        return helper.make_tensor_value_info(tensor.name, tensor.dtype, list(tensor.shape))
