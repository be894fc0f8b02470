"""fastrnn activations in ONNX: as graph ops (Dense, Activation) and as the activation
attributes of the RNN/GRU/LSTM operators (the functions ONNX Runtime implements there)."""
import numpy as np

from .. import ExportError

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_GAMMA = 1.0507009873554804934193349852946

# name -> (ONNX activation name, alpha, beta); alpha/beta None when the function takes none.
# Keras 3 hard_sigmoid is relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1); Keras 2's used slope 0.2.
RECURRENT = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "linear": ("Affine", 1.0, 0.0),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),
    "keras2_hard_sigmoid": ("HardSigmoid", 0.2, 0.5),
}


def recurrent_attributes(names, where):
    """`activations`, `activation_alpha` and `activation_beta` for a list of activation names
    (alphas and betas listed for the functions that take them, in order, as ONNX Runtime
    reads them)."""
    funcs, alphas, betas = [], [], []
    for name in names:
        if name not in RECURRENT:
            raise ExportError(f"{where}: activation {name!r} has no ONNX recurrent-operator "
                              f"equivalent (supported: {sorted(RECURRENT)})")
        func, alpha, beta = RECURRENT[name]
        funcs.append(func)
        alphas += [] if alpha is None else [alpha]
        betas += [] if beta is None else [beta]
    attrs = {"activations": funcs}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


def _mul_by(op):
    def build(g, x):
        return g.op("Mul", [x, op(g, x)])
    return build


def _softplus(g, x):
    return g.op("Softplus", [x])


def _gelu(g, x):
    # exact GELU: x * (1 + erf(x / sqrt(2))) / 2
    erf = g.op("Erf", [g.op("Mul", [x, g.const(1.0 / np.sqrt(2.0))])])
    return g.op("Mul", [g.op("Mul", [x, g.const(0.5)]), g.op("Add", [erf, g.const(1.0)])])


# name -> function(graph, x) -> output name (softmax also takes its axis)
ELEMENTWISE = {
    "linear": lambda g, x: x,
    "relu": lambda g, x: g.op("Relu", [x]),
    "relu6": lambda g, x: g.op("Clip", [x, g.const(0.0), g.const(6.0)]),
    "leaky_relu": lambda g, x: g.op("LeakyRelu", [x], alpha=0.2),
    "elu": lambda g, x: g.op("Elu", [x], alpha=1.0),
    "selu": lambda g, x: g.op("Selu", [x], alpha=_SELU_ALPHA, gamma=_SELU_GAMMA),
    "sigmoid": lambda g, x: g.op("Sigmoid", [x]),
    "hard_sigmoid": lambda g, x: g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5),
    "keras2_hard_sigmoid": lambda g, x: g.op("HardSigmoid", [x], alpha=0.2, beta=0.5),
    "tanh": lambda g, x: g.op("Tanh", [x]),
    "softmax": lambda g, x, axis=-1: g.op("Softmax", [x], axis=axis),
    "softplus": _softplus,
    "softsign": lambda g, x: g.op("Softsign", [x]),
    "exponential": lambda g, x: g.op("Exp", [x]),
    "silu": _mul_by(lambda g, x: g.op("Sigmoid", [x])),
    "swish": _mul_by(lambda g, x: g.op("Sigmoid", [x])),
    "mish": _mul_by(lambda g, x: g.op("Tanh", [_softplus(g, x)])),
    "gelu": _gelu,
}


def apply(g, name, x, where, channel_axis=-1):
    """`name` applied to `x`; softmax normalises over `channel_axis`."""
    if name not in ELEMENTWISE:
        raise ExportError(f"{where}: activation {name!r} is not supported by the ONNX exporter "
                          f"(supported: {sorted(ELEMENTWISE)})")
    if name == "softmax":
        return ELEMENTWISE[name](g, x, channel_axis)
    return ELEMENTWISE[name](g, x)
