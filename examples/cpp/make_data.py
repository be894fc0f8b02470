"""Writes the data the C/C++ examples check: for each case, a folder with meta.txt (cell, sizes,
options) and raw float32 / uint8 arrays (<name>.bin, row-major, native byte order): the
inputs, weights and upstream gradients, and fastrnn's Python results for them
(fastrnn.ops.rnn_forward / rnn_backward), the expected outputs and gradients.

    python examples/cpp/make_data.py OUT_DIR
"""
import sys
from pathlib import Path

import numpy as np

from fastrnn import ops

# name -> (cell, batch, steps, input_dim, units, options). The LSTM runs with a mask (padding
# at the start of one row, at the end of another) and initial states; the GRU with
# reset_after (two bias rows) and go_backwards.
CASES = {
    "lstm": ("lstm", 3, 7, 5, 4, dict(reset_after=True, go_backwards=False, masked=True)),
    "gru": ("gru", 4, 6, 3, 5, dict(reset_after=True, go_backwards=True, masked=False)),
}


def write_case(folder, cell, batch, steps, input_dim, units, opts, rng):
    info = ops.cell_info(cell)
    gh = info.gates * units
    f32 = lambda *shape: rng.uniform(-0.6, 0.6, size=shape).astype(np.float32)
    arrays = {"x": f32(batch, steps, input_dim), "kernel": f32(input_dim, gh),
              "recurrent_kernel": f32(units, gh),
              "bias": f32(*info.bias_shape(units, opts["reset_after"]))}
    h0 = [f32(batch, units) for _ in range(info.states)]
    mask = None
    if opts["masked"]:
        mask = np.ones((batch, steps), np.uint8)
        mask[1, :2] = 0       # padded before the sequence
        mask[2, -3:] = 0      # padded after it
        arrays["mask"] = mask
    res = ops.rnn_forward(cell, arrays["x"], arrays["kernel"], arrays["recurrent_kernel"],
                          arrays["bias"], initial_state=h0, mask=mask,
                          reset_after=opts["reset_after"], go_backwards=opts["go_backwards"],
                          training=True)
    d_outputs = f32(batch, steps, units)
    d_states = [f32(batch, units) for _ in range(info.states)]
    grads = ops.rnn_backward(res.cache, d_outputs=d_outputs, d_states=d_states)
    arrays.update(d_outputs=d_outputs, outputs=res.outputs, d_x=grads["x"],
                  d_kernel=grads["kernel"], d_recurrent_kernel=grads["recurrent_kernel"],
                  d_bias=grads["bias"])
    for i, s in enumerate("hc"[:info.states]):   # the states: h, and c for the LSTM
        arrays.update({f"{s}0": h0[i], f"{s}_n": res.states[i], f"d_{s}_n": d_states[i],
                       f"d_{s}0": grads["initial_state"][i]})

    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        np.ascontiguousarray(a).tofile(folder / f"{name}.bin")
    meta = dict(cell=cell, batch=batch, steps=steps, input_dim=input_dim, units=units,
                reset_after=int(opts["reset_after"]), go_backwards=int(opts["go_backwards"]),
                masked=int(opts["masked"]))
    (folder / "meta.txt").write_text("".join(f"{k} {v}\n" for k, v in meta.items()))


def main(out):
    rng = np.random.default_rng(17)
    for name, (cell, *sizes, opts) in CASES.items():
        write_case(Path(out) / name, cell, *sizes, opts, rng)
        print(f"wrote {Path(out) / name}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
