"""Sliding windows over the time axis, shared by Conv1D and the 1D pooling layers.

Arrays are channels-last `[batch, time, channels]`. `windows` is a strided view (no copy) of
every window, `[batch, out_len, window, channels]`; `add_windows` is its adjoint (the sum of
window gradients back onto the time axis), a loop over the few window offsets, not over time.
Keras' argument checks and messages (keras/src/utils/argument_validation.py) live here too.
"""
import numpy as np


def check_rank(layer, x, ndim):
    if x.ndim != ndim:
        raise ValueError(f"{layer.name}: expected inputs of rank {ndim}, got shape {x.shape}")


def standardize_tuple(value, n, name, allow_zero=False):
    """An int or an iterable of n ints -> a tuple of n ints (> 0, or >= 0 with allow_zero)."""
    msg = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value!r}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(msg) from None
        if len(values) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                                   for v in values):
            raise ValueError(msg)
        values = tuple(int(v) for v in values)
    bad = sorted({v for v in values if (v < 0 if allow_zero else v <= 0)})
    if bad:
        raise ValueError(f"{msg}, including values {bad} that do not satisfy "
                         f"`value {'>= 0' if allow_zero else '> 0'}`")
    return values


def standardize_padding(value, allow_causal=False):
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    padding = value.lower() if isinstance(value, str) else value
    if padding not in allowed:
        raise ValueError(f"The `padding` argument must be one of {allowed}. "
                         f"Received: padding={value!r}")
    return padding


def standardize_data_format(value):
    data_format = "channels_last" if value is None else str(value).lower()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={value!r}")
    return data_format


def output_length(length, window, stride, padding, dilation=1):
    """Keras' output length (None stays None); "valid" needs a window that fits."""
    if length is None:
        return None
    if padding == "valid":
        out = (length - dilation * (window - 1) - 1) // stride + 1
        if out <= 0:
            raise ValueError(f"Computed output size would be zero or negative: input length "
                             f"{length}, window {window}, dilation_rate {dilation}, strides "
                             f"{stride}, padding 'valid'")
        return out
    return (length - 1) // stride + 1      # "same" and "causal"


def pad_amounts(length, window, stride, padding, dilation=1):
    """(left, right) zeros/-inf added before windowing, as TensorFlow pads "same"."""
    span = dilation * (window - 1) + 1
    if padding == "causal":
        return span - 1, 0
    if padding == "valid":
        return 0, 0
    out = (length - 1) // stride + 1
    total = max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def pad_time(x, left, right, value=0.0):
    if left == 0 and right == 0:
        return x
    return np.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=value)


def windows(xp, window, stride, out_len, dilation=1):
    """View `[B, out_len, window, C]` of the (padded) input: element [b, t, j, c] is
    xp[b, t * stride + j * dilation, c]."""
    sb, st, sc = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (xp.shape[0], out_len, window, xp.shape[2]),
        (sb, st * stride, st * dilation, sc), writeable=False)


def add_windows(d_windows, padded_len, stride, dilation=1):
    """Adjoint of `windows`: [B, out_len, window, C] gradients summed into [B, padded_len, C]."""
    b, out_len, window, c = d_windows.shape
    dxp = np.zeros((b, padded_len, c), d_windows.dtype)
    stop = stride * (out_len - 1) + 1
    for j in range(window):
        start = j * dilation
        dxp[:, start:start + stop:stride] += d_windows[:, :, j]
    return dxp


def channels_last(x, data_format):
    """[B, C, T] -> [B, T, C] view for channels_first data; unchanged otherwise."""
    return np.swapaxes(x, 1, 2) if data_format == "channels_first" else x
