"""Tests for fastrnn.datasets.imdb.

Most logic is checked on tiny fake ``aclImdb`` folders/archives built in
tmp_path.  The real data (``$FASTRNN_TEST_IMDB``, default
../shared/datasets/aclImdb_v1_labeled.tar.gz next to the repository, as in
.ci/run) is tokenised once per session
into a temporary cache folder; if it is missing the tests that need it FAIL,
unless FASTRNN_ALLOW_NO_DATA=1.  No test touches the network: the downloader is
replaced by one that fails the test if it is called.
"""

import functools
import hashlib
import http.server
import importlib
import io
import itertools
import os
import re
import shutil
import sys
import tarfile
import threading
import time
import traceback
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import platformdirs
import pytest


from fastrnn.datasets import _download, imdb

REPO = Path(__file__).resolve().parents[1]
IMDB_ARCHIVE = os.environ.get(
    "FASTRNN_TEST_IMDB",
    str(REPO.parent / "shared" / "datasets" / "aclImdb_v1_labeled.tar.gz"),
)
ENV_VARS = ("FASTRNN_DATA", "FASTRNN_CACHE_DIR", "FASTRNN_NO_DOWNLOAD", "FASTRNN_IMDB_SHA256")


def _no_network(url, destination):
    pytest.fail(f"the test tried to download {url}")


# ---------------------------------------------------------------------------
# Independent reference implementation (written from the documented rules)
# ---------------------------------------------------------------------------

_APOSTROPHE_LIKE = "\u2019\u2018\u00b4`\x91\x92"


def reference_tokenize(text):
    text = text.lower()
    for ch in _APOSTROPHE_LIKE:
        text = text.replace(ch, "'")
    text = text.replace("<br />", " ").replace("<br/>", " ").replace("<br>", " ")
    chars = [c if (c.isalnum() or c == "'") else " " for c in text]
    words = (w.strip("'") for w in "".join(chars).split())
    return [w for w in words if w]


def reference_ranks(train_texts):
    counts = {}
    for text in train_texts:
        for w in reference_tokenize(text):
            counts[w] = counts.get(w, 0) + 1
    ordered = sorted(counts, key=lambda w: (-counts[w], w))
    return {w: r for r, w in enumerate(ordered, start=1)}, counts


# ---------------------------------------------------------------------------
# Tiny fake datasets
# ---------------------------------------------------------------------------

TINY = {
    ("train", "pos"): {
        (0, 9): "This movie was GREAT! I loved it.<br /><br />The acting, the music: great.",
        (1, 10): "Great film; the best. Don't miss it!",
        (2, 8): "'Amazing' story... it's a classic, I'd say.<br/>Caf\u00e9 scenes.",
        (10, 7): "the the the great great fun",
    },
    ("train", "neg"): {
        (0, 1): "Bad movie. The worst, the WORST!",
        (3, 2): "I didn't like it; the plot was bad bad bad.",
        (11, 4): "Boring<br />boring... rock'n'roll can't save it",
        (5, 3): "don\u00b4t watch, it`s awful \u2014 terrible_acting",
    },
    ("test", "pos"): {
        (0, 10): "Great movie, I loved the music.",
        (1, 7): "A classic: the best film.",
        (4, 9): "great great story",
    },
    ("test", "neg"): {
        (0, 2): "Bad, boring movie.",
        (2, 1): "The worst plot. Awful!",
        (7, 3): "terrible acting, can't save it",
    },
}
# Test reviews with words never seen in training.
UNSEEN = {("test", "neg"): {(9, 1): "Zyzzyva xylophone, bad!"}}


def _merge(*datasets):
    out = {}
    for data in datasets:
        for group, reviews in data.items():
            out.setdefault(group, {}).update(reviews)
    return out


def write_fake_aclimdb(root, data=TINY, full_layout=False):
    """Write an aclImdb/ folder under `root`; return its path."""
    base = Path(root) / "aclImdb"
    for (split, label), reviews in data.items():
        folder = base / split / label
        folder.mkdir(parents=True, exist_ok=True)
        for (rid, rating), text in reviews.items():
            (folder / f"{rid}_{rating}.txt").write_text(text, encoding="utf-8")
    (base / "README").write_text("fake")
    (base / "imdb.vocab").write_text("the\nand\n")
    if full_layout:  # like the public archive: unsup reviews and .feat files
        (base / "train" / "unsup").mkdir(parents=True, exist_ok=True)
        (base / "train" / "unsup" / "0_0.txt").write_text("unsup unsup unsup unsup words")
        (base / "train" / "labeledBow.feat").write_text("0 0:1\n")
        (base / "train" / "urls_pos.txt").write_text("http://example.com\n")
    return base


def write_fake_archive(path, data=TINY, full_layout=False):
    """Write a .tar.gz holding aclImdb/ (built in a sibling folder); return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = write_fake_aclimdb(path.parent / ("src_" + path.name), data, full_layout)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
    return path


def sorted_reviews(data, split):
    """(label, text) in the documented pre-shuffle order."""
    out = []
    for label_name, label in (("neg", 0), ("pos", 1)):
        for (rid, _rating), text in sorted(data.get((split, label_name), {}).items()):
            out.append((label, text))
    return out


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("imdb_cache")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, session_cache):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(session_cache))
    monkeypatch.setattr(imdb, "downloader", _no_network)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A tiny aclImdb folder and a private, empty cache folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(cache))
    folder = write_fake_aclimdb(tmp_path / "data")
    return SimpleNamespace(folder=folder, cache=cache, tmp=tmp_path)


@pytest.fixture(scope="session")
def full_archive():
    if not os.path.isfile(IMDB_ARCHIVE):
        message = (
            f"IMDB archive not found at {IMDB_ARCHIVE!r}: set FASTRNN_TEST_IMDB to "
            "aclImdb_v1_labeled.tar.gz / aclImdb_v1.tar.gz (or an aclImdb folder), "
            "or FASTRNN_ALLOW_NO_DATA=1 to skip the tests that need it."
        )
        if os.environ.get("FASTRNN_ALLOW_NO_DATA") == "1":
            pytest.skip(message)
        pytest.fail(message)
    return IMDB_ARCHIVE


@pytest.fixture(scope="session")
def full(full_archive, session_cache):
    """Default load_data on the real archive, built once into the session cache."""
    with pytest.MonkeyPatch.context() as mp:
        for var in ENV_VARS:
            mp.delenv(var, raising=False)
        mp.setenv("FASTRNN_CACHE_DIR", str(session_cache))
        mp.setattr(imdb, "downloader", _no_network)
        start = time.perf_counter()
        (x_train, y_train), (x_test, y_test) = imdb.load_data(path=full_archive)
        build_seconds = time.perf_counter() - start
        word_index = imdb.get_word_index(path=full_archive)
    print(f"\n[imdb] first build (tar read + tokenise + cache write): {build_seconds:.1f} s")
    return SimpleNamespace(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        word_index=word_index, build_seconds=build_seconds,
    )


@pytest.fixture(scope="session")
def raw_sample(full_archive):
    """Every 50th review text of each group of the real archive, keyed by its
    position in the documented pre-shuffle order."""
    keys, texts = [], {}
    pattern = re.compile(r"(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
    with tarfile.open(full_archive, "r|*") as tar:
        for member in tar:
            m = pattern.search(member.name)
            if not member.isfile() or m is None:
                continue
            key = (m.group(1), m.group(2), int(m.group(3)))
            keys.append(key)
            if key[2] % 50 == 7:
                texts[key] = tar.extractfile(member).read().decode("utf-8")
    position = {}
    for split in ("train", "test"):
        ordered = sorted((k for k in keys if k[0] == split), key=lambda k: (k[1], k[2]))
        position.update({k: i for i, k in enumerate(ordered)})
    return SimpleNamespace(texts=texts, position=position)


def flat(x):
    return np.fromiter(itertools.chain.from_iterable(x), dtype=np.int64)


def shuffled_positions(seed, n_train, n_test):
    rng = np.random.RandomState(seed)
    train = np.arange(n_train)
    rng.shuffle(train)
    test = np.arange(n_test)
    rng.shuffle(test)
    return train, test


# ---------------------------------------------------------------------------
# Real data
# ---------------------------------------------------------------------------


def test_full_counts_labels_and_types(full):
    assert full.x_train.shape == (25000,) and full.x_test.shape == (25000,)
    assert full.x_train.dtype == object and full.x_test.dtype == object
    assert full.y_train.shape == (25000,) and full.y_test.shape == (25000,)
    assert full.y_train.dtype.kind == "i"
    assert set(np.unique(full.y_train)) == {0, 1} and set(np.unique(full.y_test)) == {0, 1}
    assert int(full.y_train.sum()) == 12500 and int(full.y_test.sum()) == 12500
    first = full.x_train[0]
    assert isinstance(first, list) and all(type(w) is int for w in first)
    # shuffled: labels are mixed, not 12,500 zeros then 12,500 ones
    assert 0 < full.y_train[:100].sum() < 100


def test_full_id_conventions(full):
    vocab_size = len(full.word_index)
    assert 60000 < vocab_size < 120000
    for x in (full.x_train, full.x_test):
        assert all(seq[0] == 1 for seq in x)  # start_char
        ids = flat(x)
        # 0 is never used; 1 only as start marker; 3 (= index_from) is never a word id
        assert not np.isin(ids, [0, 3]).any()
        assert (ids == 1).sum() == len(x)
    train_ids, test_ids = flat(full.x_train), flat(full.x_test)
    # Keras' num_words=None rule: the bound is the largest id, so that id
    # (rank vocab_size + 3) itself becomes oov_char.
    assert train_ids.max() == vocab_size + 2
    assert test_ids.max() <= vocab_size + 2
    assert (train_ids == 2).sum() == 1  # the single occurrence of the rarest word
    assert (test_ids == 2).sum() > 100  # test-only words are out of vocabulary


def test_full_word_index(full):
    wi = full.word_index
    ranks = sorted(wi.values())
    assert ranks == list(range(1, len(wi) + 1))
    inverse = {r: w for w, r in wi.items()}
    assert inverse[1] == "the"
    assert [inverse[r] for r in range(1, 4)] == ["the", "and", "a"]
    for word in ("movie", "film", "great", "bad", "don't", "it's"):
        assert word in wi and wi[word] < 500
    assert "br" not in wi or wi["br"] > 5000  # <br /> tags are not words
    assert all(w == w.lower() and w and w[0] != "'" and w[-1] != "'" for w in wi)
    # ranks follow training frequency (ties alphabetical)
    counts = np.bincount(flat(full.x_train), minlength=len(wi) + 4)[4:]
    counts[-1] += 1  # the rarest word was replaced by oov_char (see above)
    assert (np.diff(counts) <= 0).all()
    for r in range(1, len(wi)):
        if counts[r - 1] == counts[r]:
            assert inverse[r] < inverse[r + 1]


def test_full_tokenizer_matches_reference(raw_sample):
    assert len(raw_sample.texts) >= 900
    for text in raw_sample.texts.values():
        assert imdb.tokenize(text) == reference_tokenize(text)


def test_full_encode_round_trip(full, full_archive, raw_sample):
    train_order, test_order = shuffled_positions(113, 25000, 25000)
    where = {"train": np.argsort(train_order), "test": np.argsort(test_order)}
    data = {"train": (full.x_train, full.y_train), "test": (full.x_test, full.y_test)}
    keys = sorted(raw_sample.texts)[::10]
    texts = [raw_sample.texts[k] for k in keys]
    encoded = imdb.encode(texts, path=full_archive)
    for key, seq in zip(keys, encoded):
        split, label, _rid = key
        i = where[split][raw_sample.position[key]]
        x, y = data[split]
        assert y[i] == (label == "pos")
        assert seq == x[i], key
    # with a vocabulary cap, against a fresh load_data
    (xtr, _), (xte, _) = imdb.load_data(path=full_archive, num_words=5000)
    capped = imdb.encode(texts, num_words=5000, path=full_archive)
    for key, seq in zip(keys, capped):
        x = xtr if key[0] == "train" else xte
        assert seq == x[where[key[0]][raw_sample.position[key]]]
    single = imdb.encode(texts[0], path=full_archive)
    assert single == encoded[:1]


def test_full_num_words_and_skip_top(full, full_archive):
    base = flat(full.x_train)
    (x, _), (xt, _) = imdb.load_data(path=full_archive, num_words=10000)
    ids = flat(x)
    assert ids.max() < 10000 and flat(xt).max() < 10000
    expected = np.where(base < 10000, base, 2)
    np.testing.assert_array_equal(ids, expected)
    (x, _), _ = imdb.load_data(path=full_archive, skip_top=20, num_words=1000)
    ids = flat(x)
    expected = np.where((base >= 20) & (base < 1000), base, 2)  # start_char 1 < 20 too
    np.testing.assert_array_equal(ids, expected)


def test_full_maxlen_filter(full, full_archive):
    (x, y), (xt, yt) = imdb.load_data(path=full_archive, maxlen=100)
    keep = np.array([len(s) < 100 for s in full.x_train])
    assert len(x) == keep.sum() and 0 < len(x) < 25000
    assert all(len(s) < 100 for s in xt)
    kept = [s for s, k in zip(full.x_train, keep) if k]
    kept_test = [s for s in full.x_test if len(s) < 100]
    # Keras' num_words=None bound is the largest id of the *filtered* data
    largest = max(max(s) for s in kept + kept_test)
    assert [[w if w < largest else 2 for w in s] for s in kept] == list(x)
    np.testing.assert_array_equal(y, full.y_train[keep])


def test_full_seeds(full, full_archive):
    (x, y), (xt, yt) = imdb.load_data(path=full_archive)
    assert list(x[:200]) == list(full.x_train[:200]) and (y == full.y_train).all()
    assert list(xt[-200:]) == list(full.x_test[-200:])
    (x2, y2), _ = imdb.load_data(path=full_archive, seed=1)
    assert not (y2 == full.y_train).all()
    assert sorted(map(tuple, x2)) == sorted(map(tuple, full.x_train))


def test_full_cache_hit_reads_the_cache(full, full_archive, session_cache, monkeypatch):
    key = imdb._fingerprint(("archive", os.path.abspath(full_archive)))
    cache_file = Path(imdb._cache_path(str(session_cache), key))
    assert cache_file.is_file()
    before = cache_file.stat().st_mtime_ns

    def no_rebuild(source):
        raise AssertionError("load_data re-tokenised the archive instead of using its cache")

    monkeypatch.setattr(imdb, "_build_arrays", no_rebuild)
    start = time.perf_counter()
    (x, _), _ = imdb.load_data(path=full_archive)
    # Reported, not asserted: timing belongs to benchmarks, not tests.
    print(f"\n[imdb] first build {full.build_seconds:.1f} s; cached load_data "
          f"{time.perf_counter() - start:.2f} s")
    assert len(x) == 25000
    assert cache_file.stat().st_mtime_ns == before  # read, not rebuilt
    assert not [p for p in session_cache.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------
# Tiny data: exact semantics
# ---------------------------------------------------------------------------


def test_tokenize_rules():
    assert imdb.tokenize("It's <br />GREAT, isn't it?!  'Really'") == [
        "it's", "great", "isn't", "it", "really"]
    assert imdb.tokenize("don\u00b4t don\u2019t don`t") == ["don't"] * 3
    assert imdb.tokenize("a<br/>b<BR>c<br   />d") == ["a", "b", "c", "d"]
    assert imdb.tokenize("rock'n'roll ''quoted'' '' x_y 3.5 caf\u00e9") == [
        "rock'n'roll", "quoted", "x", "y", "3", "5", "caf\u00e9"]
    assert imdb.tokenize("") == []
    with pytest.raises(TypeError):
        imdb.tokenize(b"bytes")


def test_tiny_matches_reference(tiny):
    (x, y), (xt, yt) = imdb.load_data(path=tiny.folder, num_words=1000)
    ranks, _counts = reference_ranks(text for _l, text in sorted_reviews(TINY, "train"))
    assert imdb.get_word_index(path=tiny.folder) == ranks
    train, test = sorted_reviews(TINY, "train"), sorted_reviews(TINY, "test")
    order_train, order_test = shuffled_positions(113, len(train), len(test))
    for got_x, got_y, reviews, order in ((x, y, train, order_train), (xt, yt, test, order_test)):
        assert got_x.shape == (len(reviews),) and got_x.dtype == object
        for i, p in enumerate(order):
            label, text = reviews[p]
            assert got_y[i] == label
            assert got_x[i] == [1] + [ranks[w] + 3 for w in reference_tokenize(text)]


def _keras_load_data(monkeypatch, raw, **kwargs):
    keras_imdb = importlib.import_module("keras.src.datasets.imdb")
    monkeypatch.setattr(keras_imdb, "get_file", lambda *a, **k: "unused.npz")
    monkeypatch.setattr(keras_imdb, "npz_utils", SimpleNamespace(load_npz=lambda _p: raw))
    return keras_imdb.load_data(**kwargs)


def test_tiny_matches_keras_load_data(tiny, monkeypatch):
    pytest.importorskip("keras")
    ranks, _ = reference_ranks(text for _l, text in sorted_reviews(TINY, "train"))
    raw = {}
    for split in ("train", "test"):
        reviews = sorted_reviews(TINY, split)
        x = np.empty(len(reviews), dtype=object)
        for i, (_label, text) in enumerate(reviews):
            x[i] = [ranks[w] for w in reference_tokenize(text)]
        raw[f"x_{split}"] = x
        raw[f"y_{split}"] = np.array([label for label, _ in reviews], dtype=np.int64)
    rng = np.random.default_rng(0)
    grid = list(itertools.product(
        [None, 5, 12, 40],  # num_words
        [0, 2, 5],  # skip_top
        [None, 6, 9, 30],  # maxlen
        [1, None, 7],  # start_char
        [2, None],  # oov_char
        [3, 0, 5],  # index_from
        [113, 0],  # seed
    ))
    checked = 0
    for idx in rng.choice(len(grid), size=250, replace=False):
        nw, st, ml, sc, oc, ix, seed = grid[idx]
        kwargs = dict(num_words=nw, skip_top=st, maxlen=ml, start_char=sc,
                      oov_char=oc, index_from=ix, seed=seed)
        try:
            expected = _keras_load_data(monkeypatch, raw, **kwargs)
        except ValueError:
            with pytest.raises(ValueError, match="no sequence was kept"):
                imdb.load_data(path=tiny.folder, **kwargs)
            continue
        got = imdb.load_data(path=tiny.folder, **kwargs)
        for (gx, gy), (ex, ey) in zip(got, expected):
            # (Keras returns a 2-D object array when all sequences have the
            # same length; ours is always 1-D.)
            assert list(gx) == [list(row) for row in ex], kwargs
            np.testing.assert_array_equal(gy, ey)
            assert gx.dtype == object and gx.ndim == 1
        checked += 1
    assert checked > 150


def test_unseen_test_words_are_oov(tiny, tmp_path):
    folder = write_fake_aclimdb(tmp_path / "unseen", _merge(TINY, UNSEEN))
    (_, _), (xt, _) = imdb.load_data(path=folder, seed=None, num_words=None)
    wi = imdb.get_word_index(path=folder)
    assert "zyzzyva" not in wi
    target = [1, 2, 2, wi["bad"] + 3]
    assert target in list(xt)
    (_, _), (xt, _) = imdb.load_data(path=folder, oov_char=None)
    assert [1, wi["bad"] + 3] in list(xt)
    assert imdb.encode("Zyzzyva xylophone, bad!", path=folder) == [target]
    assert imdb.encode("Zyzzyva xylophone, bad!", oov_char=None, path=folder) == [[1, wi["bad"] + 3]]


def test_encode_and_decode(tiny):
    wi = imdb.get_word_index(path=tiny.folder)
    enc = imdb.encode(["The GREAT movie!!", "unknownword the"], path=tiny.folder)
    assert enc == [[1, wi["the"] + 3, wi["great"] + 3, wi["movie"] + 3], [1, 2, wi["the"] + 3]]
    assert imdb.encode("the great", num_words=wi["great"] + 3, path=tiny.folder) == [[1, wi["the"] + 3, 2]]
    assert imdb.encode("the great", skip_top=wi["the"] + 4, start_char=None, path=tiny.folder) == [
        [2, wi["great"] + 3]]
    assert imdb.encode("the", index_from=0, start_char=None, path=tiny.folder) == [[wi["the"]]]
    assert imdb.encode([], path=tiny.folder) == []
    # num_words=None: like load_data, the largest id (rarest word) is oov
    rarest = max(wi, key=wi.get)
    assert imdb.encode(rarest, path=tiny.folder) == [[1, 2]]
    assert imdb.decode(enc[0], path=tiny.folder) == "[START] the great movie"
    assert imdb.decode([0, 0] + enc[1], path=tiny.folder) == "[START] [OOV] the"
    with pytest.raises(TypeError):
        imdb.encode(b"bytes", path=tiny.folder)
    with pytest.raises(TypeError):
        imdb.encode(["ok", 3], path=tiny.folder)
    with pytest.raises(ValueError, match="num_words"):
        imdb.encode("x", num_words=0, path=tiny.folder)


def test_input_forms_give_identical_results(tiny, tmp_path):
    reference = imdb.load_data(path=tiny.folder)
    wi = imdb.get_word_index(path=tiny.folder)
    labeled = write_fake_archive(tmp_path / "aclImdb_v1_labeled.tar.gz")
    public = write_fake_archive(tmp_path / "pub" / "aclImdb_v1.tar.gz", full_layout=True)
    public_folder = write_fake_aclimdb(tmp_path / "pubfolder", full_layout=True)
    for source in (tiny.folder.parent, labeled, public, public_folder, tmp_path / "pub"):
        got = imdb.load_data(path=source)
        for (gx, gy), (ex, ey) in zip(got, reference):
            assert list(gx) == list(ex), source
            np.testing.assert_array_equal(gy, ey)
        assert imdb.get_word_index(path=source) == wi
    assert "unsup" not in wi


def test_env_var_and_cache_folder_lookup(tiny, monkeypatch, tmp_path):
    reference = imdb.get_word_index(path=tiny.folder)
    archive = write_fake_archive(tmp_path / "envdir" / "aclImdb_v1_labeled.tar.gz")
    monkeypatch.setenv("FASTRNN_DATA", str(tmp_path / "envdir"))
    assert imdb.get_word_index() == reference
    monkeypatch.setenv("FASTRNN_DATA", str(archive))
    assert imdb.get_word_index() == reference
    monkeypatch.setenv("FASTRNN_DATA", str(tmp_path / "missing"))
    with pytest.raises(imdb.DatasetNotFoundError, match="FASTRNN_DATA"):
        imdb.get_word_index()
    monkeypatch.delenv("FASTRNN_DATA")
    # data copied into the cache folder is found there
    cache = tmp_path / "cache2"
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(cache))
    write_fake_aclimdb(cache)
    assert imdb.get_word_index() == reference
    with pytest.raises(imdb.DatasetNotFoundError, match="does not exist"):
        imdb.load_data(path=tmp_path / "nope.tar.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(imdb.DatasetNotFoundError, match="not an extracted"):
        imdb.load_data(path=tmp_path / "empty")


def test_corrupted_cache_is_rebuilt(tiny):
    reference = imdb.load_data(path=tiny.folder)
    (cache_file,) = tiny.cache.glob("imdb_tokens_*.npz")
    good = cache_file.read_bytes()
    corruptions = [
        b"garbage, not a zip file",
        good[: len(good) // 2],  # truncated
        good[:-200] + bytes(200),  # damaged central directory
    ]
    # a well-formed npz with inconsistent content
    with np.load(cache_file, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["train_offsets"] = arrays["train_offsets"][::-1].copy()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    corruptions.append(buffer.getvalue())
    for bad in corruptions:
        cache_file.write_bytes(bad)
        with pytest.warns(RuntimeWarning, match="rebuilding"):
            got = imdb.load_data(path=tiny.folder)
        for (gx, gy), (ex, ey) in zip(got, reference):
            assert list(gx) == list(ex)
            np.testing.assert_array_equal(gy, ey)
        assert cache_file.read_bytes() != bad
        with np.load(cache_file, allow_pickle=False) as z:
            assert "train_tokens" in z.files
    assert [p.name for p in tiny.cache.iterdir()] == [cache_file.name]  # no temp files left


def test_cache_key_follows_source_changes(tiny):
    imdb.load_data(path=tiny.folder)
    (tiny.folder / "train" / "pos" / "99_10.txt").write_text("brandnewword brandnewword")
    wi = imdb.get_word_index(path=tiny.folder)
    assert "brandnewword" in wi
    assert len(list(tiny.cache.glob("imdb_tokens_*.npz"))) == 2
    (x, _), _ = imdb.load_data(path=tiny.folder)
    assert len(x) == sum(len(v) for (s, _l), v in TINY.items() if s == "train") + 1


def test_unwritable_cache_still_works(tiny, monkeypatch):
    def fail(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(imdb, "_save_cache", fail)
    with pytest.warns(RuntimeWarning, match="could not write"):
        (x, _), _ = imdb.load_data(path=tiny.folder)
    assert len(x) == 8


def test_bad_sources(tiny, tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"this is not a tar archive")
    with pytest.raises(imdb.InvalidDatasetError, match="cannot read"):
        imdb.load_data(path=bogus)
    only_train = write_fake_aclimdb(tmp_path / "only_train", {k: v for k, v in TINY.items() if k[0] == "train"})
    (only_train / "test").mkdir()
    with pytest.raises(imdb.InvalidDatasetError, match="0 test reviews"):
        imdb.load_data(path=only_train)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_words=0), r"`num_words` must be >= 1, got num_words=0"),
        (dict(num_words=-5), r"num_words.*-5"),
        (dict(num_words=2.5), r"`num_words` must be an integer or None, got 2.5"),
        (dict(skip_top=-1), r"`skip_top` must be >= 0, got skip_top=-1"),
        (dict(maxlen=0), r"`maxlen` must be >= 1, got maxlen=0"),
        (dict(maxlen=-3), r"maxlen.*-3"),
        (dict(index_from=-1), r"`index_from` must be >= 0, got index_from=-1"),
        (dict(start_char=-1), r"start_char"),
        (dict(oov_char="2"), r"oov_char"),
        (dict(seed=-1), r"`seed` must be >= 0"),
        (dict(seed=True), r"seed"),
    ],
)
def test_argument_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        imdb.load_data(**kwargs)


def test_maxlen_too_small_raises(tiny):
    with pytest.raises(ValueError, match="no sequence was kept"):
        imdb.load_data(path=tiny.folder, maxlen=2)


def test_seed_determinism_tiny(tiny):
    a = imdb.load_data(path=tiny.folder, seed=5)
    b = imdb.load_data(path=tiny.folder, seed=5)
    c = imdb.load_data(path=tiny.folder, seed=6)
    assert list(a[0][0]) == list(b[0][0]) and list(a[1][0]) == list(b[1][0])
    assert list(a[0][0]) != list(c[0][0])


# ---------------------------------------------------------------------------
# Download path (never touches the network)
# ---------------------------------------------------------------------------


def test_offline_error_message(tmp_path, monkeypatch):
    cache = tmp_path / "empty_cache"
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(cache))
    calls = []

    def offline(url, destination):
        calls.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(imdb, "downloader", offline)
    with pytest.raises(imdb.DatasetNotFoundError) as info:
        imdb.load_data()
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert calls == [imdb.ARCHIVE_URL]
    for needle in ("`path`", "FASTRNN_DATA", str(cache), "FASTRNN_CACHE_DIR",
                   "aclImdb_v1.tar.gz", "aclImdb_v1_labeled.tar.gz", "no network"):
        assert needle in message, needle
    assert list(cache.iterdir()) == []  # no partial download left behind
    with pytest.raises(imdb.DatasetNotFoundError):
        imdb.get_word_index()
    with pytest.raises(imdb.DatasetNotFoundError):
        imdb.encode("hello")


def test_no_download_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("FASTRNN_NO_DOWNLOAD", "1")
    with pytest.raises(imdb.DatasetNotFoundError, match="FASTRNN_NO_DOWNLOAD"):
        imdb.load_data()  # _no_network would fail the test if called


def test_injected_download(tmp_path, monkeypatch):
    archive = write_fake_archive(tmp_path / "served.tar.gz", full_layout=True)
    cache = tmp_path / "dl_cache"
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(cache))
    calls = []

    def fake_download(url, destination):
        calls.append(url)
        Path(destination).write_bytes(Path(archive).read_bytes())

    monkeypatch.setattr(imdb, "downloader", fake_download)
    (x, y), (xt, yt) = imdb.load_data()
    assert len(x) == 8 and len(xt) == 6
    assert (cache / "aclImdb_v1.tar.gz").is_file()
    imdb.load_data()
    assert calls == [imdb.ARCHIVE_URL]  # second call uses the cached archive


def test_download_verification(tmp_path, monkeypatch):
    cache = tmp_path / "dl_cache"
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(cache))
    archive = write_fake_archive(tmp_path / "served.tar.gz")
    payload = {"data": b"<html>not an archive</html>"}
    monkeypatch.setattr(imdb, "downloader",
                        lambda url, dest: Path(dest).write_bytes(payload["data"]))
    with pytest.raises(imdb.InvalidDatasetError):
        imdb.load_data()
    assert list(cache.iterdir()) == []
    payload["data"] = Path(archive).read_bytes()
    monkeypatch.setenv("FASTRNN_IMDB_SHA256", "0" * 64)
    with pytest.raises(imdb.InvalidDatasetError, match="sha256"):
        imdb.load_data()
    assert list(cache.iterdir()) == []
    monkeypatch.setenv("FASTRNN_IMDB_SHA256", hashlib.sha256(payload["data"]).hexdigest())
    (x, _), _ = imdb.load_data()
    assert len(x) == 8


def test_package_exports():
    import fastrnn
    assert fastrnn.datasets.imdb.load_data is imdb.load_data


# ---------------------------------------------------------------------------
# Without a source: the tokenised cache of an earlier load
# ---------------------------------------------------------------------------


def test_full_load_without_path_uses_the_cache_of_a_load_with_path(full, monkeypatch):
    # `full` loaded the archive by path into the session cache; no path, no FASTRNN_DATA,
    # downloads disabled (and _no_network fails the test if one is tried):
    monkeypatch.setenv("FASTRNN_NO_DOWNLOAD", "1")
    (x, y), (xt, yt) = imdb.load_data()
    assert list(x[:200]) == list(full.x_train[:200]) and (y == full.y_train).all()
    assert list(xt[-200:]) == list(full.x_test[-200:]) and (yt == full.y_test).all()
    assert imdb.get_word_index() == full.word_index


def test_load_without_source_reads_the_newest_cache(tiny, tmp_path, monkeypatch):
    reference = imdb.load_data(path=tiny.folder)
    wi = imdb.get_word_index(path=tiny.folder)
    monkeypatch.setenv("FASTRNN_NO_DOWNLOAD", "1")
    shutil.rmtree(tiny.folder)  # the source is gone: only the cache is left
    got = imdb.load_data()
    for (gx, gy), (ex, ey) in zip(got, reference):
        assert list(gx) == list(ex)
        np.testing.assert_array_equal(gy, ey)
    assert imdb.get_word_index() == wi
    assert imdb.encode("the great movie") == imdb.encode("the great movie", word_index=wi)
    # a later load of another source is what a load without a source finds next
    other = write_fake_aclimdb(tmp_path / "other",
                               _merge(TINY, {("train", "pos"): {(99, 10): "brandnewword"}}))
    imdb.load_data(path=other)
    assert "brandnewword" in imdb.get_word_index()


def test_unreadable_cache_without_source_is_reported(tiny, monkeypatch):
    imdb.load_data(path=tiny.folder)
    (cache_file,) = tiny.cache.glob("imdb_tokens_*.npz")
    cache_file.write_bytes(b"garbage")
    monkeypatch.setenv("FASTRNN_NO_DOWNLOAD", "1")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        with pytest.raises(imdb.DatasetNotFoundError, match="FASTRNN_NO_DOWNLOAD"):
            imdb.load_data()


def test_default_cache_dir_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTRNN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = platformdirs.user_cache_dir("fastrnn", appauthor=False)
    assert imdb.default_cache_dir() == expected
    if sys.platform.startswith("linux"):
        assert expected == str(tmp_path / "xdg" / "fastrnn")
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert imdb.default_cache_dir() == os.path.expanduser("~/.cache/fastrnn")
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(tmp_path / "mine"))
    assert imdb.default_cache_dir() == str(tmp_path / "mine")


# ---------------------------------------------------------------------------
# A corrupt archive: one short error naming the file, like a missing one
# ---------------------------------------------------------------------------


def _short_error(info, path):
    """The error as Python would print it: one exception (no chained traceback), whose
    message names `path`."""
    text = "".join(traceback.format_exception(info.type, info.value, info.tb))
    assert "direct cause" not in text and "During handling" not in text, text
    assert str(path) in str(info.value)
    return str(info.value)


def test_corrupt_and_missing_archives_give_short_errors(tmp_path):
    good = write_fake_archive(tmp_path / "good" / "aclImdb_v1_labeled.tar.gz").read_bytes()
    middle = len(good) // 2
    corrupt = {
        "truncated.tar.gz": good[:middle],
        "flipped.tar.gz": good[:middle] + bytes(b ^ 0xFF for b in good[middle:middle + 64])
        + good[middle + 64:],
        "not-gzip.tar.gz": b"<html>a web page, not an archive</html>",
    }
    for name, data in corrupt.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(imdb.InvalidDatasetError) as info:
            imdb.load_data(path=path)
        message = _short_error(info, path)
        assert "truncated, corrupted or of another kind" in message, message
        assert imdb.ARCHIVE_URL in message
    missing = tmp_path / "missing.tar.gz"
    with pytest.raises(imdb.DatasetNotFoundError) as info:
        imdb.load_data(path=missing)
    assert "does not exist" in _short_error(info, missing)


def test_default_downloader_over_http(tmp_path, capfd):
    """The default downloader (pooch's HTTP downloader with a progress bar) against a local
    server: the bytes arrive unchanged."""
    archive = write_fake_archive(tmp_path / "served" / "aclImdb_v1.tar.gz")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(archive.parent))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            destination = tmp_path / "download.tmp"
            url = f"http://127.0.0.1:{server.server_address[1]}/{archive.name}"
            _download.http_download(url, str(destination))
        finally:
            server.shutdown()
    assert destination.read_bytes() == archive.read_bytes()
    assert "100%" in capfd.readouterr().err  # the progress bar
