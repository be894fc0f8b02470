"""Shared by the ONNX export tests: run an exported model in ONNX Runtime and compare it with
fastrnn's `model.predict` (|ort - fastrnn| <= 1e-5 + 1e-5 * |fastrnn|, all finite);
`predict_on_batch` for models with several outputs, which `predict` does not take. The graph's
declared output shapes must hold: static sizes as computed, symbolic ones consistent with the
inputs' (the same name, the same size)."""
import numpy as np
import onnx
import onnxruntime as ort

from fastrnn.export.onnx import to_onnx

RTOL = ATOL = 1e-5


def session(model_or_path, **export_kwargs):
    """An ONNX Runtime CPU session of a model (exported and checked here) or of a file."""
    if isinstance(model_or_path, str):
        onnx.checker.check_model(model_or_path, full_check=True)
        data = model_or_path
    else:
        proto = to_onnx(model_or_path, **export_kwargs)
        onnx.checker.check_model(proto, full_check=True)
        assert_no_dead_nodes(proto.graph)
        data = proto.SerializeToString()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1   # tests share a loaded machine
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def assert_no_dead_nodes(graph):
    """Every node computes something the graph uses (the exporter adds only what is needed)."""
    used = {name for node in graph.node for name in node.input}
    used |= {out.name for out in graph.output}
    for node in graph.node:
        assert any(name in used for name in node.output if name), \
            f"unused {node.op_type} node {node.name!r}"


def feeds(sess, x):
    """ONNX Runtime's feed for model data: an array, a list (input order) or a dict (names)."""
    if isinstance(x, dict):
        return dict(x)
    xs = x if isinstance(x, (list, tuple)) else [x]
    names = [i.name for i in sess.get_inputs()]
    assert len(xs) == len(names), f"{len(xs)} arrays for inputs {names}"
    return dict(zip(names, xs))


def run(sess, x):
    return sess.run(None, feeds(sess, x))


def assert_declared_shapes(sess, feed, outs):
    """Every input and output has the shape the graph declares (see the module docstring)."""
    sizes = {}
    pairs = [(i.name, i.shape, feed[i.name].shape) for i in sess.get_inputs()]
    pairs += [(o.name, o.shape, out.shape) for o, out in zip(sess.get_outputs(), outs)]
    for name, declared, actual in pairs:
        assert len(declared) == len(actual), f"{name}: declared {declared}, got {actual}"
        for d, n in zip(declared, actual):
            if isinstance(d, str):
                assert sizes.setdefault(d, n) == n, f"{name}: {d} = {sizes[d]} and {n}"
            elif d is not None:
                assert d == n, f"{name}: declared {declared}, got {actual}"


def as_list(y):
    return [np.asarray(v) for v in y] if isinstance(y, list) else [np.asarray(y)]


def assert_close(got, ref, what=""):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    assert np.isfinite(got).all() and np.isfinite(ref).all(), f"{what}: not finite"
    err = np.abs(got.astype(np.float64) - ref)
    bound = ATOL + RTOL * np.abs(ref.astype(np.float64))
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert (err <= bound).all(), (f"{what}: |onnx - fastrnn| = {err[worst]:.3g} > "
                                  f"{bound[worst]:.3g} at {worst} (fastrnn {ref[worst]!r})")


def assert_matches(model, inputs, sess=None, **export_kwargs):
    """ONNX Runtime's outputs equal model.predict's on every array of `inputs`."""
    sess = sess or session(model, **export_kwargs)
    several = len(sess.get_outputs()) > 1
    for x in inputs:
        refs = model.predict_on_batch(x) if several else model.predict(x, verbose=0)
        refs = as_list(list(refs.values()) if isinstance(refs, dict) else refs)
        feed = feeds(sess, x)
        outs = sess.run(None, feed)
        assert len(outs) == len(refs), f"{len(outs)} outputs, fastrnn has {len(refs)}"
        shapes = [v.shape for v in feed.values()]
        for i, (got, ref) in enumerate(zip(outs, refs)):
            assert_close(got, ref, f"output {i} for input shapes {shapes}")
        assert_declared_shapes(sess, feed, outs)
    return sess


def randomize(model, rng, scale=0.5):
    """Random weights (biases included, so their conversion is exercised)."""
    model.set_weights([rng.normal(scale=scale, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])


def padded_ids(rng, lengths, steps, vocab, padding):
    """int64 ids [len(lengths), steps]: row i has lengths[i] non-zero ids, zeros elsewhere on
    the `padding` side."""
    ids = np.zeros((len(lengths), steps), np.int64)
    for i, n in enumerate(lengths):
        tokens = rng.integers(1, vocab, size=n)
        if n:
            if padding == "pre":
                ids[i, steps - n:] = tokens
            else:
                ids[i, :n] = tokens
    return ids
