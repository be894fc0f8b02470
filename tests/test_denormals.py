"""The recurrent kernels flush denormal floats to zero (as TensorFlow's CPU kernels do: they
cost x86 cores ~100x per instruction, and fading gradients reach them), in every thread, and
leave the caller's floating-point mode as it was."""
import numpy as np
import pytest

from fastrnn import ops
from fastrnn.threads import get_num_threads, set_num_threads

TINY = np.float32(1e-20)        # TINY * TINY = 1e-40: a float32 denormal


def _denormal_product():
    return np.float32(TINY) * np.float32(TINY)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("training", [True, False])   # training: the backward too
def test_kernels_flush_denormals_and_restore_the_callers_mode(threads, training):
    assert _denormal_product() > 0, "this platform flushes already: nothing to test"
    B, T, D, H = 8, 3, 4, 5
    x = np.full((B, T, D), TINY, np.float32)
    kernel = np.full((D, H), TINY, np.float32)
    recurrent = np.zeros((H, H), np.float32)
    before = get_num_threads()
    set_num_threads(threads)
    try:
        res = ops.simple_rnn_forward(x, kernel, recurrent, activation="linear",
                                     training=training)
        # exactly: each output is D * 1e-40 (denormal), written as zero
        assert np.all(res.outputs == 0)
        if training:   # gradients of tiny upstream gradients: denormal products again
            grads = ops.rnn_backward(res.cache, np.full_like(res.outputs, TINY))
            assert np.all(grads["kernel"] == 0) and np.all(grads["x"] == 0)
    finally:
        set_num_threads(before)
    assert _denormal_product() > 0, "the caller's floating-point mode was changed"
