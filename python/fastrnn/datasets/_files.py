"""The Large Movie Review Dataset on disk: where it is and how to read its reviews.

A source is ("archive", path) for a gzip tar (the labelled-only ``aclImdb_v1_labeled.tar.gz``
or the public ``aclImdb_v1.tar.gz``) or ("folder", path) for an extracted ``aclImdb`` folder.
Only ``{train,test}/{pos,neg}/<id>_<rating>.txt`` files are read.
"""
import gzip
import os
import re
import tarfile
import zlib

import platformdirs

ARCHIVE_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# Archive names looked for (in this order) inside folders and the cache.
DEFAULT_ARCHIVE_NAMES = ("aclImdb_v1_labeled.tar.gz", "aclImdb_v1.tar.gz")
EXTRACTED_FOLDER_NAME = "aclImdb"
DOWNLOAD_NAME = "aclImdb_v1.tar.gz"

ENV_DATA = "FASTRNN_DATA"
ENV_CACHE_DIR = "FASTRNN_CACHE_DIR"

SPLITS = ("train", "test")
LABELS = ("neg", "pos")
_MEMBER_RE = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_FILE_RE = re.compile(r"(\d+)_(\d+)\.txt")


class DatasetNotFoundError(FileNotFoundError):
    """The IMDB data could not be found locally nor downloaded."""


class InvalidDatasetError(ValueError):
    """A file or folder is not a usable copy of the Large Movie Review Dataset."""


def default_cache_dir():
    """The cache folder: ``$FASTRNN_CACHE_DIR``, else the per-user cache folder of
    `platformdirs` (``~/.cache/fastrnn`` on Linux, or ``$XDG_CACHE_HOME/fastrnn``)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return platformdirs.user_cache_dir("fastrnn", appauthor=False)


# --- locating a source --------------------------------------------------------------------------
def _is_dataset_folder(folder):
    return all(os.path.isdir(os.path.join(folder, s)) for s in SPLITS)


def find_in_folder(folder):
    """A source inside `folder` (an aclImdb folder, its parent, or a folder holding one of the
    archives), or None."""
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


def source_from_user_path(value, origin):
    """The source a user named (`origin` says how, for the messages)."""
    location = os.path.abspath(os.path.expanduser(os.fspath(value)))
    if os.path.isfile(location):
        return ("archive", location)
    if os.path.isdir(location):
        found = find_in_folder(location)
        if found is not None:
            return found
        raise DatasetNotFoundError(
            f"{origin} points to the folder {location!r}, which is not an "
            f"extracted {EXTRACTED_FOLDER_NAME}/ folder (with train/ and test/ "
            f"subfolders) and contains neither {EXTRACTED_FOLDER_NAME}/ nor "
            f"one of {', '.join(DEFAULT_ARCHIVE_NAMES)}."
        )
    raise DatasetNotFoundError(f"{origin} points to {location!r}, which does not exist.")


def local_source(path, cache_dir):
    """The source named by `path`, else by ``$FASTRNN_DATA``, else found in `cache_dir`; None
    when there is none of these."""
    if path is not None:
        return source_from_user_path(path, f"`path`={path!r}")
    env = os.environ.get(ENV_DATA)
    if env:
        return source_from_user_path(env, f"the environment variable {ENV_DATA}={env!r}")
    return find_in_folder(cache_dir) if os.path.isdir(cache_dir) else None


def how_to_supply(cache_dir):
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


# --- reading the reviews ------------------------------------------------------------------------
def _iter_archive(archive, read=True):
    """Yield (split, label, id, rating, bytes or None) for each review file."""
    try:
        with open(archive, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        # gzip.open, unlike tarfile's own stream, checks the CRC at the end of the data.
        with (gzip.open(archive, "rb") if gzipped else open(archive, "rb")) as stream:
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    m = _MEMBER_RE.search(member.name)
                    if m is None:
                        continue
                    data = tar.extractfile(member).read() if read else None
                    yield m.group(1), m.group(2), int(m.group(3)), int(m.group(4)), data
            while stream.read(1 << 20):   # the rest (tar padding), so that the CRC is checked
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        # One short error: the cause is in the message, its traceback would add nothing.
        raise InvalidDatasetError(
            f"cannot read {archive!r} as a (gzip) tar archive of the Large Movie Review "
            f"Dataset ({type(e).__name__}: {e}): the file is truncated, corrupted or of "
            f"another kind; get it again from {ARCHIVE_URL}"
        ) from None


def list_folder(root):
    """[(split, label, id, rating, full path, stat)] for an aclImdb folder."""
    entries = []
    for split in SPLITS:
        for label in LABELS:
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
    for split, label, rid, rating, full, _st in list_folder(root):
        with open(full, "rb") as f:
            yield split, label, rid, rating, f.read()


def iter_reviews(source):
    """Yield (split, label, id, rating, raw bytes) for each review file of `source`."""
    kind, location = source
    return _iter_archive(location) if kind == "archive" else _iter_folder(location)


def check_archive_layout(archive, what):
    """Raise InvalidDatasetError unless `archive` is a tar holding the four review folders."""
    counts = dict.fromkeys(((s, l) for s in SPLITS for l in LABELS), 0)
    for split, label, _id, _rating, _data in _iter_archive(archive, read=False):
        counts[(split, label)] += 1
    missing = [f"{s}/{l}" for (s, l), n in counts.items() if n == 0]
    if missing:
        raise InvalidDatasetError(
            f"{what} is a tar archive but has no review files in "
            f"{', '.join(missing)} (expected aclImdb/{{train,test}}/{{pos,neg}}/"
            f"<id>_<rating>.txt)."
        )
