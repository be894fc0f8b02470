"""IMDB movie-review sentiment dataset, built from the raw Large Movie Review Dataset.

Drop-in replacement for ``keras.datasets.imdb`` (same ``load_data`` signature,
argument semantics and return shapes), but the integer sequences are produced
here from the raw review texts of the Large Movie Review Dataset v1.0
(Maas et al., ACL 2011) instead of being downloaded as Keras' pre-tokenised
``imdb.npz``.  Only NumPy and the standard library are used.

Public API
----------
``load_data(path=None, num_words=None, skip_top=0, maxlen=None, seed=113,
start_char=1, oov_char=2, index_from=3)``
    ``(x_train, y_train), (x_test, y_test)``: ``x_*`` are 1-D NumPy object
    arrays whose items are Python lists of ints, ``y_*`` are int64 arrays of
    0 (negative) / 1 (positive).  25,000 train and 25,000 test reviews.
``get_word_index(path=None)``
    ``dict`` word -> rank (1 = most frequent word in the training reviews).
``encode(texts, num_words=None, skip_top=0, start_char=1, oov_char=2,
index_from=3, path=None)``
    Encode a ``str`` or a list of ``str`` exactly as ``load_data`` encodes the
    reviews (so a trained model can score a typed review).
``decode(sequence, index_from=3, start_char=1, oov_char=2, path=None)``
    Turn an id sequence back into a space-separated string of tokens.
``tokenize(text)``
    The tokeniser described below, as a list of ``str``.
``DatasetNotFoundError``
    Raised (a ``FileNotFoundError``) when no data can be found or downloaded.
``InvalidDatasetError``
    Raised (a ``ValueError``) when a file or folder is not a usable copy of
    the dataset (unreadable archive, wrong layout, failed checksum).

Where the data comes from
-------------------------
Accepted sources: the archive ``aclImdb_v1_labeled.tar.gz`` (50,000 labelled
reviews only), the full public archive ``aclImdb_v1.tar.gz`` (its
``train/unsup`` reviews and ``*.feat`` files are ignored), or an extracted
``aclImdb`` folder (the folder itself or its parent).  Only the files
``{train,test}/{pos,neg}/<id>_<rating>.txt`` are read.  They are ordered by
split, then label (neg = 0 before pos = 1), then numeric id; that ordering is
what the seeded shuffle of ``load_data`` permutes.

The source is looked up in this order:

1. the ``path`` argument (a file, or a folder that is ``aclImdb``, contains
   ``aclImdb/`` or contains one of the archives);
2. the environment variable ``FASTRNN_DATA`` (same rules as ``path``);
3. the cache folder (``FASTRNN_CACHE_DIR``, default ``~/.cache/fastrnn``):
   ``aclImdb_v1_labeled.tar.gz``, ``aclImdb_v1.tar.gz`` or ``aclImdb/``;
4. otherwise ``aclImdb_v1.tar.gz`` is downloaded from
   https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz into the
   cache folder (progress bar on stderr).  No checksum of the public archive
   is hard-coded: if ``FASTRNN_IMDB_SHA256`` (or the module attribute
   ``ARCHIVE_SHA256``) is set the download must match it; in every case the
   download must be a readable gzip tar holding the four
   ``{train,test}/{pos,neg}`` review folders, else it is deleted and
   ``InvalidDatasetError`` is raised.  Set ``FASTRNN_NO_DOWNLOAD=1`` to forbid
   downloading.  If the download fails, ``DatasetNotFoundError`` explains the
   three ways of supplying the data by hand.

Unlike Keras, ``path`` names the data itself, not a cache file name.

Tokenisation
------------
Each review is turned into words as follows:

1. the text is lowercased (``str.lower``);
2. the apostrophe look-alikes ``\\u2019 \\u2018 \\u00b4 ` \\x91 \\x92`` (curly
   quotes, acute accent, backtick and their mis-decoded Windows-1252 forms)
   are replaced by the ASCII apostrophe ``'``;
3. HTML line breaks ``<br />``, ``<br/>`` and ``<br>`` are replaced by a space;
4. words are the maximal runs of letters, digits and apostrophes ("letters"
   and "digits" in the Unicode sense: characters for which ``str.isalnum()``
   is true; the underscore is not a letter), with leading and trailing
   apostrophes stripped and empty words dropped.  Everything else
   (punctuation, whitespace, symbols) separates words.

So ``"It's <br />GREAT, isn't it?!  'Really'"`` becomes
``["it's", "great", "isn't", "it", "really"]`` and ``"don\\u00b4t"`` becomes
``"don't"``.

Word index and ids
------------------
Words are ranked by their number of occurrences in the 25,000 *training*
reviews (ties broken by ascending code-point order of the word); rank 1 is the
most frequent word (``"the"``), as in Keras' word index.  ``get_word_index``
returns that ranking.  In the sequences a word has id ``rank + index_from``;
``start_char`` marks the start of every sequence, ``oov_char`` replaces words
that fall outside ``[skip_top, num_words)`` (exactly the Keras rules, applied
to ids, i.e. after adding ``index_from``; the start marker is subject to the
same rule, as in Keras) and test-set words that never occur in the training
reviews.  With ``oov_char=None`` such words are dropped instead.
``maxlen`` keeps only sequences whose length (start marker included) is
strictly less than ``maxlen``, as in Keras, and raises ``ValueError`` if that
leaves no train or no test sequence.  With ``num_words=None`` Keras uses the
largest id present in the (maxlen-filtered) data as the bound, so the single
largest id becomes ``oov_char``; this quirk is reproduced, and ``encode``
with ``num_words=None`` uses the bound of the unfiltered data.

Differences from Keras' ``imdb.npz``
------------------------------------
The texts are the same 50,000 labelled reviews, but the vocabulary is not the
one of Keras' pre-tokenised file (88,584 words, built with an undocumented
tokeniser that, for example, keeps ``br`` from ``<br />`` as a frequent word):
here the vocabulary has 81,411 words (every word of the training reviews), so
ranks, vocabulary size and sequence lengths differ somewhat from Keras'
(mean training sequence length 234.5 ids with the start marker, median 175,
maximum 2,474).  The train/test review order before shuffling is the
deterministic order described above, not Keras' stored order, so
``x_train[0]`` is not the same review as in Keras.  Test words unseen in
training become ``oov_char`` (Keras' documentation says such words are
skipped).  ``x_*`` is always 1-D, even if every sequence has the same length
(Keras then returns a 2-D object array).

Caching
-------
The first call reads the source, tokenises all 50,000 reviews and writes the
result (ranked vocabulary, training counts, every review as word ranks in one
flat int32 array plus int64 offsets, labels, review ids and ratings) to
``<cache>/imdb_tokens_v<format>_<key>.npz`` (no pickle; written to a
temporary file and moved into place with ``os.replace``).  ``<key>`` is a
digest of the source: size plus sha256 of its first and last MiB for an
archive, names/sizes/mtimes of the review files for a folder.  Later calls
only read that file.  A cache file that cannot be read or fails its
consistency checks is rebuilt (with a warning).  If the cache folder is not
writable, the data is rebuilt on every call (with a warning).
"""

import gc
import hashlib
import json
import numbers
import os
import re
import sys
import tarfile
import tempfile
import time
import urllib.request
import warnings
import zlib
from array import array
from collections import defaultdict
from itertools import repeat

import numpy as np

__all__ = [
    "ARCHIVE_SHA256",
    "ARCHIVE_URL",
    "CACHE_FORMAT_VERSION",
    "DEFAULT_ARCHIVE_NAMES",
    "DatasetNotFoundError",
    "EXTRACTED_FOLDER_NAME",
    "InvalidDatasetError",
    "decode",
    "default_cache_dir",
    "downloader",
    "encode",
    "get_word_index",
    "load_data",
    "tokenize",
]

ARCHIVE_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# Archive names looked for (in this order) inside folders and the cache.
DEFAULT_ARCHIVE_NAMES = ("aclImdb_v1_labeled.tar.gz", "aclImdb_v1.tar.gz")
EXTRACTED_FOLDER_NAME = "aclImdb"
DOWNLOAD_NAME = "aclImdb_v1.tar.gz"
# Optional expected sha256 of the downloaded archive (None: not checked; the
# environment variable FASTRNN_IMDB_SHA256 takes precedence).
ARCHIVE_SHA256 = None
CACHE_FORMAT_VERSION = 1
TOKENIZER_VERSION = 1

ENV_DATA = "FASTRNN_DATA"
ENV_CACHE_DIR = "FASTRNN_CACHE_DIR"
ENV_SHA256 = "FASTRNN_IMDB_SHA256"
ENV_NO_DOWNLOAD = "FASTRNN_NO_DOWNLOAD"

_SPLITS = ("train", "test")
_LABELS = ("neg", "pos")
_MIB = 1 << 20


class DatasetNotFoundError(FileNotFoundError):
    """The IMDB data could not be found locally nor downloaded."""


class InvalidDatasetError(ValueError):
    """A file or folder is not a usable copy of the Large Movie Review Dataset."""


class _CacheError(Exception):
    """A cache file is unreadable or inconsistent."""


# --------------------------------------------------------------------------
# Tokenisation
# --------------------------------------------------------------------------

_APOSTROPHE_LIKE = ("\u2019", "\u2018", "\u00b4", "`", "\x91", "\x92")
_BR_RE = re.compile(r"<br\s*/?>")
# Runs of letters/digits/apostrophes that start and end with a letter/digit:
# identical to "take [alnum']+ runs, strip leading/trailing apostrophes and
# drop empty words".
_WORD_RE = re.compile(r"[^\W_]+(?:'+[^\W_]+)*")


def tokenize(text):
    """Split one review into words (see the module docstring for the rules)."""
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str, got {type(text).__name__}")
    text = text.lower()
    for char in _APOSTROPHE_LIKE:  # (chained str.replace is much faster than str.translate)
        text = text.replace(char, "'")
    return _WORD_RE.findall(_BR_RE.sub(" ", text))


# --------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------


def _check_int(name, value, minimum=None, maximum=None, allow_none=False):
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"`{name}` must be an integer, got None")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = "an integer or None" if allow_none else "an integer"
        raise ValueError(
            f"`{name}` must be {expected}, got {value!r} "
            f"(type {type(value).__name__})"
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {name}={value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}, got {name}={value}")
    return value


def _check_encoding_args(num_words, skip_top, start_char, oov_char, index_from):
    return (
        _check_int("num_words", num_words, minimum=1, allow_none=True),
        _check_int("skip_top", skip_top, minimum=0),
        _check_int("start_char", start_char, minimum=0, allow_none=True),
        _check_int("oov_char", oov_char, minimum=0, allow_none=True),
        _check_int("index_from", index_from, minimum=0),
    )


# --------------------------------------------------------------------------
# Locating the data
# --------------------------------------------------------------------------


def default_cache_dir():
    """The cache folder: ``$FASTRNN_CACHE_DIR`` or ``~/.cache/fastrnn``."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.path.join(os.path.expanduser("~"), ".cache", "fastrnn")


def _is_dataset_folder(folder):
    return all(os.path.isdir(os.path.join(folder, s)) for s in _SPLITS)


def _find_in_folder(folder):
    """A source inside `folder` (an aclImdb folder, its parent, or a folder
    holding one of the archives), or None."""
    if _is_dataset_folder(folder):
        return ("folder", folder)
    for name in DEFAULT_ARCHIVE_NAMES:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return ("archive", candidate)
    candidate = os.path.join(folder, EXTRACTED_FOLDER_NAME)
    if os.path.isdir(candidate) and _is_dataset_folder(candidate):
        return ("folder", candidate)
    return None


def _source_from_user_path(value, origin):
    location = os.path.abspath(os.path.expanduser(os.fspath(value)))
    if os.path.isfile(location):
        return ("archive", location)
    if os.path.isdir(location):
        found = _find_in_folder(location)
        if found is not None:
            return found
        raise DatasetNotFoundError(
            f"{origin} points to the folder {location!r}, which is not an "
            f"extracted {EXTRACTED_FOLDER_NAME}/ folder (with train/ and test/ "
            f"subfolders) and contains neither {EXTRACTED_FOLDER_NAME}/ nor "
            f"one of {', '.join(DEFAULT_ARCHIVE_NAMES)}."
        )
    raise DatasetNotFoundError(f"{origin} points to {location!r}, which does not exist.")


def _how_to_supply(cache_dir):
    names = " or ".join(DEFAULT_ARCHIVE_NAMES)
    return (
        "Supply the Large Movie Review Dataset in one of these ways:\n"
        f"  1. pass it as the `path` argument, e.g. "
        f"imdb.load_data(path='/data/aclImdb_v1.tar.gz'): an archive ({names}), "
        f"an extracted {EXTRACTED_FOLDER_NAME}/ folder, or its parent folder;\n"
        f"  2. set the environment variable {ENV_DATA} to such a file or folder;\n"
        f"  3. copy the archive ({names}) or the extracted "
        f"{EXTRACTED_FOLDER_NAME}/ folder into the cache folder {cache_dir!r} "
        f"(set {ENV_CACHE_DIR} to use another cache folder).\n"
        f"The archive can be downloaded from {ARCHIVE_URL}"
    )


def _resolve_source(path):
    """Return ("archive" | "folder", absolute path), downloading if needed."""
    if path is not None:
        return _source_from_user_path(path, f"`path`={path!r}")
    env = os.environ.get(ENV_DATA)
    if env:
        return _source_from_user_path(env, f"the environment variable {ENV_DATA}={env!r}")
    cache_dir = default_cache_dir()
    if os.path.isdir(cache_dir):
        found = _find_in_folder(cache_dir)
        if found is not None:
            return found
    return ("archive", _download_to_cache(cache_dir))


# --------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------


def _progress(done, total, name, stream):
    if total:
        frac = min(done / total, 1.0)
        width = 30
        filled = int(width * frac)
        bar = "#" * filled + "." * (width - filled)
        stream.write(
            f"\rDownloading {name} [{bar}] {100 * frac:5.1f}% "
            f"({done / _MIB:.1f}/{total / _MIB:.1f} MiB)"
        )
    else:
        stream.write(f"\rDownloading {name} {done / _MIB:.1f} MiB")
    stream.flush()


def _urllib_download(url, destination):
    """Default downloader: stream `url` into the file `destination`, with a
    progress bar on stderr.  Raises OSError (e.g. urllib.error.URLError)."""
    name = url.rsplit("/", 1)[-1]
    with urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        last = 0.0
        with open(destination, "wb") as out:
            while True:
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                now = time.monotonic()
                if now - last > 0.1:
                    _progress(done, total, name, sys.stderr)
                    last = now
        _progress(done, total, name, sys.stderr)
        sys.stderr.write("\n")
    if total and done != total:
        raise OSError(f"incomplete download of {url}: got {done} of {total} bytes")


# Injectable downloader: any callable(url, destination_path) that writes the
# file or raises.  Tests replace it to stay offline.
downloader = _urllib_download


def _sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_to_cache(cache_dir):
    if os.environ.get(ENV_NO_DOWNLOAD, "").strip() not in ("", "0"):
        raise DatasetNotFoundError(
            f"IMDB data not found and downloading is disabled "
            f"({ENV_NO_DOWNLOAD} is set).\n" + _how_to_supply(cache_dir)
        )
    try:
        os.makedirs(cache_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".tmp", dir=cache_dir)
        os.close(fd)
    except OSError as e:
        raise DatasetNotFoundError(
            f"IMDB data not found, and the cache folder {cache_dir!r} is not "
            f"writable so it cannot be downloaded there ({e}).\n"
            + _how_to_supply(cache_dir)
        ) from e
    try:
        try:
            downloader(ARCHIVE_URL, tmp)
        except Exception as e:  # network errors, HTTP errors, timeouts...
            raise DatasetNotFoundError(
                f"IMDB data not found locally and the download from "
                f"{ARCHIVE_URL} failed: {type(e).__name__}: {e}\n"
                + _how_to_supply(cache_dir)
            ) from e
        expected = os.environ.get(ENV_SHA256) or ARCHIVE_SHA256
        if expected:
            actual = _sha256_of(tmp)
            if actual.lower() != expected.strip().lower():
                raise InvalidDatasetError(
                    f"the download from {ARCHIVE_URL} has sha256 {actual}, "
                    f"expected {expected} (configured by {ENV_SHA256} or "
                    f"ARCHIVE_SHA256); the file was deleted."
                )
        _check_archive_layout(tmp, what=f"the download from {ARCHIVE_URL}")
        final = os.path.join(cache_dir, DOWNLOAD_NAME)
        os.replace(tmp, final)
        return final
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _check_archive_layout(archive, what):
    counts = dict.fromkeys(((s, l) for s in _SPLITS for l in _LABELS), 0)
    for split, label, _id, _rating, _data in _iter_archive(archive, read=False):
        counts[(split, label)] += 1
    missing = [f"{s}/{l}" for (s, l), n in counts.items() if n == 0]
    if missing:
        raise InvalidDatasetError(
            f"{what} is a tar archive but has no review files in "
            f"{', '.join(missing)} (expected aclImdb/{{train,test}}/{{pos,neg}}/"
            f"<id>_<rating>.txt)."
        )


# --------------------------------------------------------------------------
# Reading the raw reviews
# --------------------------------------------------------------------------

_MEMBER_RE = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_FILE_RE = re.compile(r"(\d+)_(\d+)\.txt")


def _iter_archive(archive, read=True):
    """Yield (split, label, id, rating, bytes or None) for each review file."""
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                m = _MEMBER_RE.search(member.name)
                if m is None:
                    continue
                data = tar.extractfile(member).read() if read else None
                yield m.group(1), m.group(2), int(m.group(3)), int(m.group(4)), data
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise InvalidDatasetError(
            f"cannot read {archive!r} as a (gzip) tar archive of the Large Movie "
            f"Review Dataset: {type(e).__name__}: {e}"
        ) from e


def _list_folder(root):
    """[(split, label, id, rating, full path, stat)] for an aclImdb folder."""
    entries = []
    for split in _SPLITS:
        for label in _LABELS:
            folder = os.path.join(root, split, label)
            if not os.path.isdir(folder):
                continue
            with os.scandir(folder) as it:
                for entry in it:
                    m = _FILE_RE.fullmatch(entry.name)
                    if m is None or not entry.is_file():
                        continue
                    entries.append(
                        (split, label, int(m.group(1)), int(m.group(2)),
                         entry.path, entry.stat())
                    )
    return entries


def _iter_folder(root):
    for split, label, rid, rating, full, _st in _list_folder(root):
        with open(full, "rb") as f:
            yield split, label, rid, rating, f.read()


def _fingerprint(source):
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
        entries = _list_folder(location)
        entries.sort(key=lambda e: (e[0], e[1], e[2]))
        for split, label, rid, rating, _full, st in entries:
            digest.update(
                f"{split}/{label}/{rid}_{rating}:{st.st_size}:{st.st_mtime_ns};".encode()
            )
    return digest.hexdigest()[:24]


# --------------------------------------------------------------------------
# Building the tokenised arrays
# --------------------------------------------------------------------------


def _build_arrays(source):
    """Read and tokenise every labelled review of `source`."""
    kind, location = source
    records = _iter_archive(location) if kind == "archive" else _iter_folder(location)

    # Provisional ids in first-seen order; a defaultdict whose factory is its
    # own __len__ hands out 0, 1, 2, ... to new words at C speed.
    provisional = defaultdict()
    provisional.default_factory = provisional.__len__
    lookup = provisional.__getitem__
    flat = array("i")
    meta = []  # (split index, label, id, rating, start, end)
    seen = set()
    for split, label, rid, rating, data in records:
        key = (split, label, rid)
        if key in seen:
            raise InvalidDatasetError(
                f"{location!r} contains the review {split}/{label}/{rid}_*.txt twice."
            )
        seen.add(key)
        words = tokenize(data.decode("utf-8", errors="replace"))
        start = len(flat)
        flat.extend(map(lookup, words))
        meta.append((_SPLITS.index(split), _LABELS.index(label), rid, rating, start, len(flat)))

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
    for si, split in enumerate(_SPLITS):
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
    for split in _SPLITS:
        out[f"{split}_tokens"] = rank_of[pieces[split]] if len(pieces[split]) else np.zeros(0, np.int32)

    vocab = [words[i] for i in order]
    out["vocab"] = np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8).copy()
    out["counts"] = train_counts[np.asarray(order, dtype=np.int64)].astype(np.int64)
    return out, vocab


# --------------------------------------------------------------------------
# Cache file
# --------------------------------------------------------------------------

def _cache_path(cache_dir, key):
    return os.path.join(cache_dir, f"imdb_tokens_v{CACHE_FORMAT_VERSION}_{key}.npz")


def _meta_array(key, n_words):
    meta = {"format": CACHE_FORMAT_VERSION, "key": key, "n_words": n_words,
            "tokenizer": TOKENIZER_VERSION}
    return np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8).copy()


def _save_cache(path, arrays, key, n_words):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".imdb-", suffix=".npz.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=_meta_array(key, n_words), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _decode_vocab(raw):
    text = raw.tobytes().decode("utf-8")
    return text.split("\n") if text else []


def _load_cache(path, key, names):
    """Load the arrays `names` (plus the decoded vocabulary) from the cache
    file, checking consistency; raises _CacheError on any problem."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            if (meta.get("format") != CACHE_FORMAT_VERSION or meta.get("key") != key
                    or meta.get("tokenizer") != TOKENIZER_VERSION):
                raise _CacheError(f"metadata mismatch: {meta}")
            n_words = int(meta["n_words"])
            arrays = {name: z[name] for name in names}
            vocab = _decode_vocab(z["vocab"]) if "vocab" not in arrays else None
    except _CacheError:
        raise
    except Exception as e:  # BadZipFile, bad CRC, KeyError, ValueError, OSError...
        raise _CacheError(f"{type(e).__name__}: {e}") from e
    if vocab is None:
        vocab = _decode_vocab(arrays["vocab"])
    if len(vocab) != n_words:
        raise _CacheError(f"vocabulary has {len(vocab)} words, expected {n_words}")
    if "counts" in arrays and arrays["counts"].shape != (n_words,):
        raise _CacheError("counts array has the wrong shape")
    for split in _SPLITS:
        if f"{split}_tokens" not in arrays:
            continue
        tokens = arrays[f"{split}_tokens"]
        offsets = arrays[f"{split}_offsets"]
        labels = arrays[f"{split}_labels"]
        n = len(labels)
        if (tokens.ndim != 1 or offsets.shape != (n + 1,) or n == 0
                or offsets[0] != 0 or offsets[-1] != len(tokens)
                or np.any(np.diff(offsets) < 0)):
            raise _CacheError(f"inconsistent {split} offsets")
        if len(tokens) and (tokens.min() < (1 if split == "train" else 0)
                            or tokens.max() > n_words):
            raise _CacheError(f"{split} word ranks out of range")
        if np.any((labels != 0) & (labels != 1)):
            raise _CacheError(f"{split} labels are not 0/1")
        for extra in ("ids", "ratings"):
            name = f"{split}_{extra}"
            if name in arrays and arrays[name].shape != (n,):
                raise _CacheError(f"{name} has the wrong shape")
    return arrays, vocab


def _get_data(path, names):
    """(arrays, vocab) for the source designated by `path`, from the cache
    when possible, else built (and cached)."""
    source = _resolve_source(path)
    key = _fingerprint(source)
    cache_file = _cache_path(default_cache_dir(), key)
    if os.path.isfile(cache_file):
        try:
            return _load_cache(cache_file, key, names)
        except _CacheError as e:
            warnings.warn(
                f"IMDB cache file {cache_file!r} is unreadable or corrupted "
                f"({e}); rebuilding it from {source[1]!r}.",
                RuntimeWarning,
                stacklevel=3,
            )
    arrays, vocab = _build_arrays(source)
    try:
        _save_cache(cache_file, arrays, key, len(vocab))
    except OSError as e:
        warnings.warn(
            f"could not write the IMDB cache file {cache_file!r} ({e}); the "
            f"data will be tokenised again next time.",
            RuntimeWarning,
            stacklevel=3,
        )
    return {name: arrays[name] for name in names}, vocab


def _get_vocab(path):
    arrays, vocab = _get_data(path, ())
    return vocab


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def get_word_index(path=None):
    """Return the word index: ``dict`` word -> rank (1 = most frequent).

    Ranks come from word frequencies in the 25,000 training reviews (ties
    broken by ascending word).  In ``load_data`` sequences a word has id
    ``rank + index_from``.  ``path`` designates the data as in ``load_data``.
    """
    vocab = _get_vocab(path)
    return {word: rank for rank, word in enumerate(vocab, start=1)}


def _to_object_array(values, offsets, order):
    """1-D object array of the lists values[offsets[i]:offsets[i+1]], i in order."""
    bounds = offsets.tolist()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # tens of thousands of new lists would trigger useless GC passes
    try:
        lists = [values[bounds[i]:bounds[i + 1]].tolist() for i in order.tolist()]
        return np.fromiter(lists, dtype=object, count=len(lists))
    finally:
        if gc_was_enabled:
            gc.enable()


def _map_ids(values, unknown, offsets, num_words, skip_top, oov_char):
    """Keras' final rule: keep ids in [skip_top, num_words), else oov_char
    (or drop them if oov_char is None).  `unknown` marks words absent from
    the training vocabulary (always out of range)."""
    keep = (~unknown) & (values >= skip_top) & (values < num_words)
    if oov_char is not None:
        values = np.where(keep, values, oov_char)
        return values, offsets
    segment = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    kept_per_segment = np.bincount(segment[keep], minlength=len(offsets) - 1)
    new_offsets = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(kept_per_segment, out=new_offsets[1:])
    return values[keep], new_offsets


def load_data(
    path=None,
    num_words=None,
    skip_top=0,
    maxlen=None,
    seed=113,
    start_char=1,
    oov_char=2,
    index_from=3,
):
    """Load the IMDB sentiment dataset as integer sequences (Keras semantics).

    Args:
        path: the data: an ``aclImdb_v1_labeled.tar.gz`` / ``aclImdb_v1.tar.gz``
            archive, an extracted ``aclImdb`` folder or its parent.  ``None``:
            ``$FASTRNN_DATA``, then the cache folder, then download (see the
            module docstring).  Unlike Keras this is not a cache file name.
        num_words: keep only the ids ``< num_words`` (ids are word rank +
            ``index_from``); others become ``oov_char``.  ``None``: all words
            (Keras quirk: the largest id present is also replaced).
        skip_top: ids ``< skip_top`` become ``oov_char``.
        maxlen: keep only sequences of length ``< maxlen`` (start marker
            included); ``None`` keeps all.
        seed: seed of the ``np.random.RandomState`` that shuffles the train,
            then the test reviews.
        start_char: id prepended to every sequence (``None``: none).
        oov_char: id of out-of-vocabulary words (``None``: drop them).
        index_from: offset added to word ranks.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_*`` 1-D object arrays
        of Python lists of ints, ``y_*`` int64 arrays of 0/1 labels.
    """
    num_words, skip_top, start_char, oov_char, index_from = _check_encoding_args(
        num_words, skip_top, start_char, oov_char, index_from
    )
    maxlen = _check_int("maxlen", maxlen, minimum=1, allow_none=True)
    seed = _check_int("seed", seed, minimum=0, maximum=2**32 - 1, allow_none=True)

    names = tuple(f"{s}_{k}" for s in _SPLITS for k in ("tokens", "offsets", "labels"))
    arrays, _vocab = _get_data(path, names)

    rng = np.random.RandomState(seed)
    orders = []
    for split in _SPLITS:
        order = np.arange(len(arrays[f"{split}_labels"]))
        rng.shuffle(order)
        orders.append(order)

    extra = 0 if start_char is None else 1
    if maxlen:
        for k, split in enumerate(_SPLITS):
            lengths = np.diff(arrays[f"{split}_offsets"]) + extra
            orders[k] = orders[k][lengths[orders[k]] < maxlen]
        if any(len(order) == 0 for order in orders):
            raise ValueError(
                "After filtering for sequences shorter than maxlen="
                f"{maxlen}, no sequence was kept. Increase maxlen."
            )

    # Ids of every review (in stored order), start marker included; words
    # absent from the training vocabulary (rank 0) are flagged as unknown.
    prepared = []
    largest = None
    for k, split in enumerate(_SPLITS):
        ranks = arrays[f"{split}_tokens"]
        offsets = arrays[f"{split}_offsets"].astype(np.int64)
        unknown = ranks == 0
        values = ranks.astype(np.int64)
        values += index_from
        if start_char is not None:
            starts = offsets[:-1]
            values = np.insert(values, starts, start_char)
            unknown = np.insert(unknown, starts, False)
            offsets = offsets + np.arange(len(offsets))
        if not num_words:
            # Keras: num_words = largest id of the kept sequences.
            candidates = ~unknown
            if maxlen:
                kept = np.zeros(len(offsets) - 1, dtype=bool)
                kept[orders[k]] = True
                candidates &= np.repeat(kept, np.diff(offsets))
            if candidates.any():
                m = int(values[candidates].max())
                largest = m if largest is None else max(largest, m)
        prepared.append((values, unknown, offsets))

    if not num_words:
        num_words = largest if largest is not None else 0

    result = []
    for k, split in enumerate(_SPLITS):
        values, unknown, offsets = prepared[k]
        values, offsets = _map_ids(values, unknown, offsets, num_words, skip_top, oov_char)
        x = _to_object_array(values, offsets, orders[k])
        y = arrays[f"{split}_labels"][orders[k]].astype(np.int64)
        result.append((x, y))
    return tuple(result)


def _default_num_words(n_words, start_char, index_from):
    """Keras' num_words=None bound for the unfiltered data: the largest id."""
    candidates = []
    if n_words:
        candidates.append(n_words + index_from)
    if start_char is not None:
        candidates.append(start_char)
    return max(candidates) if candidates else 0


def encode(texts, num_words=None, skip_top=0, start_char=1, oov_char=2,
           index_from=3, path=None):
    """Encode review text(s) exactly as ``load_data`` encodes the reviews.

    Args:
        texts: a ``str`` or a list (iterable) of ``str``.
        num_words, skip_top, start_char, oov_char, index_from: as in
            ``load_data`` (use the values the model was trained with).
            ``num_words=None`` uses the bound of the unfiltered data (the
            largest id is then ``oov_char``, as in ``load_data``).
        path: the data, as in ``load_data`` (needed for the word index).

    Returns:
        A list with one list of ids per text (a one-element list for a str).
        Unknown words and words outside ``[skip_top, num_words)`` become
        ``oov_char`` (dropped if ``oov_char`` is None).
    """
    num_words, skip_top, start_char, oov_char, index_from = _check_encoding_args(
        num_words, skip_top, start_char, oov_char, index_from
    )
    if isinstance(texts, str):
        texts = [texts]
    elif isinstance(texts, (bytes, bytearray)):
        raise TypeError("`texts` must be a str or a list of str, got bytes; decode it first")
    else:
        try:
            texts = list(texts)
        except TypeError:
            raise TypeError(
                f"`texts` must be a str or a list of str, got {type(texts).__name__}"
            ) from None
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"`texts[{i}]` must be a str, got {type(t).__name__}")

    vocab = _get_vocab(path)
    word_index = {word: rank for rank, word in enumerate(vocab, start=1)}
    bound = num_words or _default_num_words(len(vocab), start_char, index_from)
    get = word_index.get

    encoded = []
    for text in texts:
        seq = [] if start_char is None else [start_char]
        seq.extend(r + index_from if r else None for r in map(get, tokenize(text), repeat(0)))
        out = []
        for w in seq:
            if w is not None and skip_top <= w < bound:
                out.append(w)
            elif oov_char is not None:
                out.append(oov_char)
        encoded.append(out)
    return encoded


def decode(sequence, index_from=3, start_char=1, oov_char=2, path=None):
    """Inverse of ``encode`` for display: ids -> space-separated words.

    ``start_char`` shows as ``[START]``, ``oov_char`` as ``[OOV]``, padding
    (0) is skipped and ids that match no word show as ``[UNK]``.
    """
    index_from = _check_int("index_from", index_from, minimum=0)
    start_char = _check_int("start_char", start_char, minimum=0, allow_none=True)
    oov_char = _check_int("oov_char", oov_char, minimum=0, allow_none=True)
    vocab = _get_vocab(path)
    words = []
    for w in sequence:
        w = int(w)
        if start_char is not None and w == start_char:
            words.append("[START]")
        elif oov_char is not None and w == oov_char:
            words.append("[OOV]")
        elif w == 0:
            continue
        elif 1 <= w - index_from <= len(vocab):
            words.append(vocab[w - index_from - 1])
        else:
            words.append("[UNK]")
    return " ".join(words)
