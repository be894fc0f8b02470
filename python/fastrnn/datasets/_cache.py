"""The tokenised IMDB cache: ``<cache>/imdb_tokens_v<format>_<key>.npz`` (no pickle), one per
source, keyed by a fingerprint of the source; written atomically."""
import glob
import hashlib
import json
import os

import numpy as np

from .._atomic import atomic_write
from ._files import SPLITS, list_folder
from ._tokenize import TOKENIZER_VERSION

CACHE_FORMAT_VERSION = 1
_PREFIX = f"imdb_tokens_v{CACHE_FORMAT_VERSION}_"
_MIB = 1 << 20


class CacheError(Exception):
    """A cache file is unreadable or inconsistent."""


def fingerprint(source):
    """Cache key of a source: size and the sha256 of the first and last MiB of an archive; the
    names, sizes and mtimes of a folder's review files."""
    kind, location = source
    digest = hashlib.sha256()
    digest.update(f"tokenizer={TOKENIZER_VERSION};kind={kind};".encode())
    if kind == "archive":
        size = os.path.getsize(location)
        digest.update(str(size).encode())
        with open(location, "rb") as f:
            digest.update(f.read(_MIB))
            if size > _MIB:
                f.seek(max(size - _MIB, _MIB))
                digest.update(f.read(_MIB))
    else:
        entries = list_folder(location)
        entries.sort(key=lambda e: (e[0], e[1], e[2]))
        for split, label, rid, rating, _full, st in entries:
            digest.update(
                f"{split}/{label}/{rid}_{rating}:{st.st_size}:{st.st_mtime_ns};".encode()
            )
    return digest.hexdigest()[:24]


def cache_path(cache_dir, key):
    return os.path.join(cache_dir, f"{_PREFIX}{key}.npz")


def cached_files(cache_dir):
    """[(path, key)] of the cache files in `cache_dir`, the most recently written first."""
    paths = glob.glob(os.path.join(glob.escape(cache_dir), f"{_PREFIX}*.npz"))
    dated = []
    for path in paths:
        try:
            dated.append((os.stat(path).st_mtime_ns, path))
        except OSError:   # removed meanwhile
            continue
    dated.sort(reverse=True)
    return [(path, os.path.basename(path)[len(_PREFIX):-len(".npz")]) for _, path in dated]


def _meta_array(key, n_words):
    meta = {"format": CACHE_FORMAT_VERSION, "key": key, "n_words": n_words,
            "tokenizer": TOKENIZER_VERSION}
    return np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8).copy()


def save_cache(path, arrays, key, n_words):
    with atomic_write(path) as f:
        np.savez(f, meta=_meta_array(key, n_words), **arrays)


def _decode_vocab(raw):
    text = raw.tobytes().decode("utf-8")
    return text.split("\n") if text else []


def load_cache(path, key, names):
    """Load the arrays `names` (plus the decoded vocabulary) from the cache
    file, checking consistency; raises CacheError on any problem."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            if (meta.get("format") != CACHE_FORMAT_VERSION or meta.get("key") != key
                    or meta.get("tokenizer") != TOKENIZER_VERSION):
                raise CacheError(f"metadata mismatch: {meta}")
            n_words = int(meta["n_words"])
            arrays = {name: z[name] for name in names}
            vocab = _decode_vocab(z["vocab"]) if "vocab" not in arrays else None
    except CacheError:
        raise
    except Exception as e:  # BadZipFile, bad CRC, KeyError, ValueError, OSError...
        raise CacheError(f"{type(e).__name__}: {e}") from e
    if vocab is None:
        vocab = _decode_vocab(arrays["vocab"])
    if len(vocab) != n_words:
        raise CacheError(f"vocabulary has {len(vocab)} words, expected {n_words}")
    if "counts" in arrays and arrays["counts"].shape != (n_words,):
        raise CacheError("counts array has the wrong shape")
    for split in SPLITS:
        if f"{split}_tokens" not in arrays:
            continue
        tokens = arrays[f"{split}_tokens"]
        offsets = arrays[f"{split}_offsets"]
        labels = arrays[f"{split}_labels"]
        n = len(labels)
        if (tokens.ndim != 1 or offsets.shape != (n + 1,) or n == 0
                or offsets[0] != 0 or offsets[-1] != len(tokens)
                or np.any(np.diff(offsets) < 0)):
            raise CacheError(f"inconsistent {split} offsets")
        if len(tokens) and (tokens.min() < (1 if split == "train" else 0)
                            or tokens.max() > n_words):
            raise CacheError(f"{split} word ranks out of range")
        if np.any((labels != 0) & (labels != 1)):
            raise CacheError(f"{split} labels are not 0/1")
        for extra in ("ids", "ratings"):
            name = f"{split}_{extra}"
            if name in arrays and arrays[name].shape != (n,):
                raise CacheError(f"{name} has the wrong shape")
    return arrays, vocab
