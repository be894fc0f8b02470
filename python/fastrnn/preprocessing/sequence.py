"""Sequence preprocessing utilities (Keras-compatible, NumPy only)."""

import numbers

import numpy as np

__all__ = ["pad_sequences"]

_MODES = ("pre", "post")


def pad_sequences(
    sequences,
    maxlen=None,
    dtype="int32",
    padding="pre",
    truncating="pre",
    value=0.0,
):
    """Pad (and truncate) a list of sequences into one 2-D (or N-D) array.

    Same behaviour as ``keras.utils.pad_sequences``.

    Args:
        sequences: list (or other sized iterable, e.g. a NumPy array) of
            sequences; each sequence is a list/array whose items are scalars
            or arrays of a common shape.
        maxlen: length of the output sequences.  ``None``: the length of the
            longest sequence.
        dtype: dtype of the output (``object`` for variable-length strings).
        padding: ``"pre"`` or ``"post"``: add ``value`` before or after each
            sequence shorter than ``maxlen``.
        truncating: ``"pre"`` or ``"post"``: drop the items at the start or at
            the end of each sequence longer than ``maxlen``.
        value: padding value (a number, or a string with a string/object
            ``dtype``).

    Returns:
        ``np.ndarray`` of shape ``(len(sequences), maxlen) + sample_shape``
        where ``sample_shape`` is the shape of the items of the first
        non-empty sequence.

    Raises:
        ValueError: ``sequences`` has no length or contains a non-sequence;
            ``padding`` / ``truncating`` is not ``"pre"``/``"post"``; a
            sequence's items do not have the common shape; ``value`` is a
            string but ``dtype`` is neither a string dtype nor ``object``;
            ``maxlen`` is negative, or ``None`` with no sequences at all.

    Differences from Keras (error cases only): bad ``padding`` /
    ``truncating`` values are rejected even when no sequence is non-empty,
    ``maxlen=0`` returns an array with 0 time steps instead of failing for
    ``truncating="pre"``, and ``maxlen=None`` with zero sequences raises a
    ValueError with an explicit message.
    """
    if truncating not in _MODES:
        raise ValueError(f'Truncating type "{truncating}" not understood')
    if padding not in _MODES:
        raise ValueError(f'Padding type "{padding}" not understood')
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    num_samples = len(sequences)

    lengths = []
    sample_shape = None
    for seq in sequences:
        try:
            n = len(seq)
        except TypeError as e:
            raise ValueError(
                "`sequences` must be a list of iterables. "
                f"Found non-iterable: {seq}"
            ) from e
        lengths.append(n)
        if sample_shape is None and n:
            sample_shape = np.asarray(seq).shape[1:]
    if sample_shape is None:
        sample_shape = ()

    if maxlen is None:
        if not lengths:
            raise ValueError(
                "`maxlen` must be given when `sequences` is empty "
                "(cannot infer the length of the longest sequence)."
            )
        maxlen = max(lengths)
    if isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral):
        raise ValueError(
            f"`maxlen` must be an integer or None, got {maxlen!r} "
            f"(type {type(maxlen).__name__})"
        )
    maxlen = int(maxlen)
    if maxlen < 0:
        raise ValueError(f"`maxlen` must be >= 0 or None, got maxlen={maxlen}")

    is_str_dtype = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_str_dtype:
        raise ValueError(
            f"`dtype` {dtype} is not compatible with `value`'s type: "
            f"{type(value)}\nYou should set `dtype=object` for variable length "
            "strings."
        )

    out = np.full((num_samples, maxlen) + tuple(sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, seq in enumerate(sequences):
        if not lengths[i]:
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(
                f"Shape of sample {kept.shape[1:]} of sequence at "
                f"position {i} is different from expected shape "
                f"{sample_shape}"
            )
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out
