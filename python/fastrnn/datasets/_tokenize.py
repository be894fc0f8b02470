"""Reviews -> words -> word ranks (the rules are in the docstring of `fastrnn.datasets.imdb`)."""
import re
from array import array
from collections import defaultdict

import numpy as np

from ._files import LABELS, SPLITS, InvalidDatasetError, iter_reviews

TOKENIZER_VERSION = 1

_APOSTROPHE_LIKE = ("\u2019", "\u2018", "\u00b4", "`", "\x91", "\x92")
_BR_RE = re.compile(r"<br\s*/?>")
# Runs of letters/digits/apostrophes that start and end with a letter/digit:
# identical to "take [alnum']+ runs, strip leading/trailing apostrophes and
# drop empty words".
_WORD_RE = re.compile(r"[^\W_]+(?:'+[^\W_]+)*")


def tokenize(text):
    """Split one review into words (see the module docstring of `imdb` for the rules)."""
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str, got {type(text).__name__}")
    text = text.lower()
    for char in _APOSTROPHE_LIKE:  # (chained str.replace is much faster than str.translate)
        text = text.replace(char, "'")
    return _WORD_RE.findall(_BR_RE.sub(" ", text))


def build_arrays(source):
    """Read and tokenise every labelled review of `source`; returns (arrays, vocab): the
    arrays the cache stores (per split: word ranks as one flat int32 array with int64
    offsets, labels, review ids, ratings; the vocabulary as UTF-8 and its training counts)
    and the words in rank order."""
    location = source[1]
    # Provisional ids in first-seen order; a defaultdict whose factory is its
    # own __len__ hands out 0, 1, 2, ... to new words at C speed.
    provisional = defaultdict()
    provisional.default_factory = provisional.__len__
    lookup = provisional.__getitem__
    flat = array("i")
    meta = []  # (split index, label, id, rating, start, end)
    seen = set()
    for split, label, rid, rating, data in iter_reviews(source):
        key = (split, label, rid)
        if key in seen:
            raise InvalidDatasetError(
                f"{location!r} contains the review {split}/{label}/{rid}_*.txt twice."
            )
        seen.add(key)
        words = tokenize(data.decode("utf-8", errors="replace"))
        start = len(flat)
        flat.extend(map(lookup, words))
        meta.append((SPLITS.index(split), LABELS.index(label), rid, rating, start, len(flat)))

    counts_per_split = [sum(1 for m in meta if m[0] == i) for i in range(2)]
    if not all(counts_per_split):
        raise InvalidDatasetError(
            f"{location!r} holds {counts_per_split[0]} training and "
            f"{counts_per_split[1]} test reviews; both must be non-empty "
            f"(expected files aclImdb/{{train,test}}/{{pos,neg}}/<id>_<rating>.txt)."
        )

    meta.sort(key=lambda m: (m[0], m[1], m[2]))
    flat = np.frombuffer(flat, dtype=np.intc).astype(np.int64) if len(flat) else np.zeros(0, np.int64)
    words = list(provisional)

    out = {}
    pieces = {}
    for si, split in enumerate(SPLITS):
        rows = [m for m in meta if m[0] == si]
        lengths = np.array([m[5] - m[4] for m in rows], dtype=np.int64)
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        chunks = [flat[m[4]:m[5]] for m in rows]
        pieces[split] = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
        out[f"{split}_offsets"] = offsets
        out[f"{split}_labels"] = np.array([m[1] for m in rows], dtype=np.int8)
        out[f"{split}_ids"] = np.array([m[2] for m in rows], dtype=np.int64)
        out[f"{split}_ratings"] = np.array([m[3] for m in rows], dtype=np.int16)

    # Rank words by training frequency, ties by ascending word.
    train_counts = np.bincount(pieces["train"], minlength=len(words))
    present = np.flatnonzero(train_counts)
    order = sorted(present.tolist(), key=lambda i: (-int(train_counts[i]), words[i]))
    rank_of = np.zeros(len(words), dtype=np.int32)  # 0 = not in the training vocabulary
    rank_of[np.asarray(order, dtype=np.int64)] = np.arange(1, len(order) + 1, dtype=np.int32)
    for split in SPLITS:
        out[f"{split}_tokens"] = rank_of[pieces[split]] if len(pieces[split]) else np.zeros(0, np.int32)

    vocab = [words[i] for i in order]
    out["vocab"] = np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8).copy()
    out["counts"] = train_counts[np.asarray(order, dtype=np.int64)].astype(np.int64)
    return out, vocab
