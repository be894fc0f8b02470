"""Model FLOP counts per benchmark cell (a multiply-add counts 2, an activation counts 1).

Recurrent layer, one direction, input width D, H units, G gates (SimpleRNN 1, GRU 3, LSTM 4):

    forward  = 2*B*T*(D+H)*G*H            input and recurrent matmuls
             + e_cell*B*T*H               elementwise work per unit and step

    e_cell: SimpleRNN 3  (add projections, bias, tanh)
            LSTM     17  (4 x (recurrent add + bias) + 4 activations + c=f*c+i*g (3)
                          + h=o*tanh(c) (2))
            GRU      17  (reset_after: 3 input + 3 recurrent biases, 2 gate adds, 2 sigmoids,
                          r*hh, add, tanh, h=z*h+(1-z)*hh (4))

Bidirectional doubles it; a stack sums its layers (layer 1 reads E features, the next ones H,
or 2H after a bidirectional layer).

    dense forward     = 2*B*F                F = features into Dense(1): H, or 2H if bidir
    train step        = 3 * (recurrent forward + dense forward)   backward ~ 2x forward
                      + B*T*E                embedding gradient (scatter-add)
                      + 8*P                  RMSprop update of all P trainable parameters
    infer  (mode b)   = recurrent forward at (B, T)
    latency (mode c)  = recurrent forward + dense forward at (1, T)

These are model FLOPs: work the framework might redo (recomputation, padding) is not counted,
so "fraction of GEMM peak" = model FLOPs / time / (measured float32 GEMM FLOP/s).
"""

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
ELEMENTWISE = {"simple_rnn": 3, "lstm": 17, "gru": 17}


def recurrent_forward(cfg, batch=None):
    """FLOPs of the recurrent block's forward (all stacked layers, both directions)."""
    B = cfg["B"] if batch is None else batch
    T, H, G = cfg["T"], cfg["H"], GATES[cfg["cell"]]
    dirs = 2 if cfg["bidir"] else 1
    total, D = 0, cfg["E"]
    for _ in range(cfg["stack"]):
        per_dir = 2 * B * T * (D + H) * G * H + ELEMENTWISE[cfg["cell"]] * B * T * H
        total += dirs * per_dir
        D = dirs * H
    return total


def dense_forward(cfg, batch=None):
    B = cfg["B"] if batch is None else batch
    return 2 * B * cfg["H"] * (2 if cfg["bidir"] else 1)


def param_count(cfg):
    """Trainable parameters of Embedding -> recurrent block -> Dense(1) (Keras layout)."""
    H, G = cfg["H"], GATES[cfg["cell"]]
    dirs = 2 if cfg["bidir"] else 1
    n, D = cfg["vocab"] * cfg["E"], cfg["E"]
    for _ in range(cfg["stack"]):
        bias = 2 * G * H if cfg["cell"] == "gru" else G * H   # GRU reset_after: 2 biases
        n += dirs * (D * G * H + H * G * H + bias)
        D = dirs * H
    return n + D + 1


def train_step(cfg):
    B, T, E = cfg["B"], cfg["T"], cfg["E"]
    return 3 * (recurrent_forward(cfg) + dense_forward(cfg)) + B * T * E + 8 * param_count(cfg)


def for_mode(cfg, mode):
    if mode == "train":
        return train_step(cfg)
    if mode == "infer":
        return recurrent_forward(cfg)
    if mode == "latency":
        return recurrent_forward(cfg, batch=1) + dense_forward(cfg, batch=1)
    raise ValueError(f"mode: expected train, infer or latency, got {mode!r}")


def tokens(cfg, mode):
    """Tokens processed by one call: B*T (batch 1 for latency)."""
    return (1 if mode == "latency" else cfg["B"]) * cfg["T"]
