"""Conv1D (+ the pooling after it) forward and forward+backward: fastrnn against Keras 3/TF.

The shapes of Keras' IMDB examples:
  imdb_cnn_lstm  Conv1D(64, 5, relu) on [30, 100, 128] -> MaxPooling1D(4)
  imdb_cnn       Conv1D(250, 3, relu) on [32, 400, 50] -> GlobalMaxPooling1D

    PYTHONPATH=python python bench/conv1d.py [--threads N] [--repeats R]

Each framework runs in its own subprocess with its thread pools pinned to N (default: all
usable cores). "step" is the layer pair's forward plus backward (input and weight gradients,
an upstream gradient of ones); TensorFlow's runs as one tf.function. Median milliseconds,
wall time and (in parentheses) the process's CPU time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import apply_thread_env, default_threads, measure, thread_env  # noqa: E402

CASES = {   # name: (batch, steps, channels, filters, kernel, pooling layer, its arguments)
    "imdb_cnn_lstm": (30, 100, 128, 64, 5, "MaxPooling1D", {"pool_size": 4}),
    "imdb_cnn": (32, 400, 50, 250, 3, "GlobalMaxPooling1D", {}),
}


def _inputs(case):
    import numpy as np
    b, t, c = CASES[case][:3]
    return np.random.default_rng(0).standard_normal((b, t, c)).astype(np.float32)


def _fastrnn(case):
    import numpy as np
    from fastrnn import layers as L
    _, _, _, f, k, pool, pool_args = CASES[case]
    x = _inputs(case)
    conv, pooling = L.Conv1D(f, k, activation="relu"), getattr(L, pool)(**pool_args)
    dy = np.ones(pooling.compute_output_shape(conv.compute_output_shape(x.shape)), np.float32)

    def forward():
        return pooling(conv(x))

    def step():
        forward()
        conv.backward(pooling.backward(dy))

    return forward, step


def _tf(case):
    import keras
    import tensorflow as tf
    _, _, _, f, k, pool, pool_args = CASES[case]
    x = tf.constant(_inputs(case))
    conv, pooling = keras.layers.Conv1D(f, k, activation="relu"), getattr(keras.layers, pool)(
        **pool_args)
    pooling(conv(x))

    @tf.function
    def forward():
        return pooling(conv(x))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(pooling(conv(x)))
        return tape.gradient(loss, [x] + conv.trainable_weights)

    return (lambda: forward().numpy()), (lambda: [g.numpy() for g in step()])


def worker(framework, threads, repeats):
    apply_thread_env(threads)
    if framework == "tf":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    out = {}
    for case in CASES:
        forward, step = (_tf if framework == "tf" else _fastrnn)(case)
        out[case] = {}
        for name, fn in (("forward", forward), ("step", step)):
            m = measure(fn, 3, repeats, 0.05)
            out[case][name] = m["median_ms"]
            out[case][name + "_cpu"] = statistics.median(m["cpu_ms"])
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=default_threads())
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--worker", choices=("fastrnn", "tf"))
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.threads, args.repeats)
    results = {}
    for fw in ("fastrnn", "tf"):
        proc = subprocess.run([sys.executable, __file__, "--worker", fw, "--threads",
                               str(args.threads), "--repeats", str(args.repeats)],
                              env=thread_env(args.threads), capture_output=True, text=True,
                              check=True)
        results[fw] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"threads={args.threads}; median wall ms (median process CPU ms: all threads, "
          "steadier than wall time on a loaded machine)")
    print("| case | forward fastrnn | forward TF | step fastrnn | step TF |")
    print("|---|---|---|---|---|")
    for case in CASES:
        a, b = results["fastrnn"][case], results["tf"][case]
        cells = [f"{r[k]:.1f} ({r[k + '_cpu']:.1f})" for k in ("forward", "step")
                 for r in (a, b)]
        print(f"| {case} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
