"""IMDB movie-review sentiment dataset, built from the raw Large Movie Review Dataset.

Drop-in replacement for ``keras.datasets.imdb`` (same ``load_data`` signature,
argument semantics and return shapes), but the integer sequences are produced
here from the raw review texts of the Large Movie Review Dataset v1.0
(Maas et al., ACL 2011) instead of being downloaded as Keras' pre-tokenised
``imdb.npz``.

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
index_from=3, path=None, word_index=None)``
    Encode a ``str`` or a list of ``str`` exactly as ``load_data`` encodes the
    reviews (so a trained model can score a typed review); ``word_index`` (as
    returned by ``get_word_index``) replaces the dataset.
``decode(sequence, index_from=3, start_char=1, oov_char=2, path=None)``
    Turn an id sequence back into a space-separated string of tokens.
``tokenize(text)``
    The tokeniser described below, as a list of ``str``.
``DatasetNotFoundError``
    Raised (a ``FileNotFoundError``) when no data can be found or downloaded.
``InvalidDatasetError``
    Raised (a ``ValueError``) when a file or folder is not a usable copy of
    the dataset (unreadable, truncated or corrupted archive, wrong layout,
    failed checksum); the message names the file and what is wrong.

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
3. the cache folder (``FASTRNN_CACHE_DIR``, default: the per-user cache
   folder of ``platformdirs``, ``~/.cache/fastrnn`` on Linux or
   ``$XDG_CACHE_HOME/fastrnn`` when that is set): ``aclImdb_v1_labeled.tar.gz``,
   ``aclImdb_v1.tar.gz`` or ``aclImdb/``;
4. the tokenised cache (see Caching) that an earlier call built in the cache
   folder from any source (the most recently written one, if there are
   several), so that once the data was loaded from anywhere, ``load_data()``
   works without it (and offline);
5. otherwise ``aclImdb_v1.tar.gz`` is downloaded (with ``pooch``) from
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
temporary file, synced and moved into place with ``os.replace``).  ``<key>`` is a
digest of the source: size plus sha256 of its first and last MiB for an
archive, names/sizes/mtimes of the review files for a folder.  Later calls
only read that file.  A cache file that cannot be read or fails its
consistency checks is rebuilt (with a warning).  If the cache folder is not
writable, the data is rebuilt on every call (with a warning).
"""

import gc
import numbers
import os
import warnings
from collections.abc import Mapping
from itertools import repeat

import numpy as np

from . import _cache, _download, _files
# _build_arrays, _save_cache, _fingerprint, _cache_path: looked up here at call time, so that
# tests can replace them; the ENV_* names document the environment variables.
from ._cache import CACHE_FORMAT_VERSION
from ._cache import cache_path as _cache_path
from ._cache import fingerprint as _fingerprint
from ._cache import save_cache as _save_cache
from ._download import ENV_NO_DOWNLOAD, ENV_SHA256  # noqa: F401
from ._files import (ARCHIVE_URL, DEFAULT_ARCHIVE_NAMES, ENV_CACHE_DIR, ENV_DATA,  # noqa: F401
                     EXTRACTED_FOLDER_NAME, SPLITS, DatasetNotFoundError, InvalidDatasetError,
                     default_cache_dir)
from ._tokenize import build_arrays as _build_arrays
from ._tokenize import tokenize

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

# Optional expected sha256 of the downloaded archive (None: not checked; the
# environment variable FASTRNN_IMDB_SHA256 takes precedence).
ARCHIVE_SHA256 = None
# Injectable downloader: any callable(url, destination_path) that writes the
# file or raises.  Tests replace it to stay offline.
downloader = _download.http_download

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
# Finding the data: the source's own cache, else any earlier cache, else a download
# --------------------------------------------------------------------------


def _warn(message):
    # Points at load_data (or get_word_index, encode, decode) or at its caller.
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def _from_any_cache(cache_dir, names):
    """(arrays, vocab) from the most recent readable tokenised cache, or None."""
    for cache_file, key in _cache.cached_files(cache_dir):
        try:
            return _cache.load_cache(cache_file, key, names)
        except _cache.CacheError as e:
            _warn(f"IMDB cache file {cache_file!r} is unreadable or corrupted ({e}) and its "
                  "source is unknown; ignoring it.")
    return None


def _get_data(path, names):
    """(arrays, vocab) for the data designated by `path`, from the cache when possible, else
    built from the source (and cached)."""
    cache_dir = default_cache_dir()
    source = _files.local_source(path, cache_dir)
    if source is None:
        found = _from_any_cache(cache_dir, names)
        if found is not None:
            return found
        sha256 = os.environ.get(ENV_SHA256) or ARCHIVE_SHA256
        source = ("archive", _download.fetch_archive(cache_dir, downloader, sha256))
    key = _fingerprint(source)
    cache_file = _cache_path(cache_dir, key)
    if os.path.isfile(cache_file):
        try:
            return _cache.load_cache(cache_file, key, names)
        except _cache.CacheError as e:
            _warn(f"IMDB cache file {cache_file!r} is unreadable or corrupted ({e}); "
                  f"rebuilding it from {source[1]!r}.")
    arrays, vocab = _build_arrays(source)
    try:
        _save_cache(cache_file, arrays, key, len(vocab))
    except OSError as e:
        _warn(f"could not write the IMDB cache file {cache_file!r} ({e}); the data will be "
              "tokenised again next time.")
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

    names = tuple(f"{s}_{k}" for s in SPLITS for k in ("tokens", "offsets", "labels"))
    arrays, _vocab = _get_data(path, names)

    rng = np.random.RandomState(seed)
    orders = []
    for split in SPLITS:
        order = np.arange(len(arrays[f"{split}_labels"]))
        rng.shuffle(order)
        orders.append(order)

    extra = 0 if start_char is None else 1
    if maxlen:
        for k, split in enumerate(SPLITS):
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
    for k, split in enumerate(SPLITS):
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
    for k, split in enumerate(SPLITS):
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


def _check_word_index(word_index):
    if not isinstance(word_index, Mapping):
        raise TypeError("`word_index` must be a dict word -> rank (as get_word_index returns), "
                        f"got {type(word_index).__name__}")
    for word, rank in word_index.items():
        if not isinstance(word, str):
            raise TypeError(f"`word_index` keys must be str, got {word!r}")
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or rank < 1:
            raise ValueError(f"`word_index` ranks must be integers >= 1, got "
                             f"word_index[{word!r}]={rank!r}")
    return word_index


def encode(texts, num_words=None, skip_top=0, start_char=1, oov_char=2,
           index_from=3, path=None, word_index=None):
    """Encode review text(s) exactly as ``load_data`` encodes the reviews.

    Args:
        texts: a ``str`` or a list (iterable) of ``str``.
        num_words, skip_top, start_char, oov_char, index_from: as in
            ``load_data`` (use the values the model was trained with).
            ``num_words=None`` uses the bound of the unfiltered data (the
            largest id is then ``oov_char``, as in ``load_data``).
        path: the data, as in ``load_data`` (needed for the word index).
        word_index: a ``dict`` word -> rank (e.g. from ``get_word_index``, or
            the part of it a model knows) to use instead of the data's; then
            ``num_words=None`` takes the largest rank as the vocabulary size.

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

    if word_index is None:
        vocab = _get_vocab(path)
        word_index = {word: rank for rank, word in enumerate(vocab, start=1)}
    elif path is not None:
        raise ValueError("encode: pass either `path` or `word_index`, not both")
    else:
        word_index = _check_word_index(word_index)
    n_words = max(word_index.values(), default=0)
    bound = num_words or _default_num_words(n_words, start_char, index_from)
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
