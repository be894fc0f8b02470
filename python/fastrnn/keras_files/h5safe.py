"""Guarded access to HDF5 files from outside.

Nothing is followed or allocated before it is checked: soft/external links, external and
virtual datasets are refused; a dataset is read only once its dtype is numeric and its shape
is the one the model expects (so a crafted file cannot request a huge allocation); attribute
sizes are checked before they are read. Every h5py/HDF5 failure becomes a ModelFileError.
"""
import contextlib
import json

import h5py
import numpy as np

from ..saving import ModelFileError

MAX_ATTRIBUTE_BYTES = 64 << 20     # a list of names larger than this is refused
MAX_JSON_DEPTH = 64                # Keras configs nest a handful of levels
# What h5py/libhdf5 raise on damaged files (OSError for most, the others for odd metadata).
H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError,
             OverflowError, UnicodeDecodeError, NotImplementedError, SystemError)


@contextlib.contextmanager
def guarded(where, what="HDF5 data"):
    """Turn h5py/HDF5 failures inside the block into ModelFileError naming `what`."""
    try:
        yield
    except ModelFileError:
        raise
    except H5_ERRORS as e:
        raise ModelFileError(f"{where}: cannot read {what} (truncated or corrupted file?): "
                             f"{type(e).__name__}: {e}") from e


@contextlib.contextmanager
def open_file(path, where):
    with guarded(where, "the HDF5 file"):
        f = h5py.File(path, "r")
    try:
        yield f
    finally:
        with contextlib.suppress(*H5_ERRORS):
            f.close()


def _child(group, name, kind, where):
    with guarded(where, f"{name!r}"):
        link = group.get(name, default=None, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise ModelFileError(f"{where}: {group.name}/{name} is a {type(link).__name__}; "
                                 "links to other objects or files are not allowed")
        obj = group[name]
    if not isinstance(obj, kind):
        raise ModelFileError(f"{where}: {obj.name} is not an HDF5 "
                             f"{'group' if kind is h5py.Group else 'dataset'}")
    return obj


def group(parent, path, where, required=True):
    """The group at `path` (components separated by '/'), or None if absent and not required."""
    current = parent
    for part in [p for p in path.split("/") if p]:
        current = _child(current, part, h5py.Group, where)
        if current is None:
            if required:
                raise ModelFileError(f"{where}: missing HDF5 group {path!r}")
            return None
    return current


def has(parent, name, where):
    with guarded(where, f"{name!r}"):
        return name in parent


def keys(grp, where):
    with guarded(where, f"the members of {grp.name}"):
        return list(grp.keys())


def dataset(grp, name, shape, what, where):
    """Read dataset `name` of `grp` after checking it holds numbers of exactly `shape`."""
    ds = _child(grp, name, h5py.Dataset, where)
    if ds is None:
        raise ModelFileError(f"{where}: {what} is missing (no dataset {grp.name}/{name})")
    with guarded(where, what):
        if ds.external or ds.is_virtual:
            raise ModelFileError(f"{where}: {what} refers to data outside the file "
                                 "(external or virtual dataset); not allowed")
        dtype = ds.dtype
        if dtype.kind not in "biuf" or dtype.itemsize > 8:
            raise ModelFileError(f"{where}: {what} holds {dtype}, expected numbers")
        if tuple(ds.shape) != tuple(shape):
            raise ModelFileError(f"{where}: {what} has shape {tuple(ds.shape)}, expected "
                                 f"{tuple(shape)}")
        return np.asarray(ds[()])


def attribute(obj, name, where):
    """A string or list-of-strings attribute (None if absent), size-checked before reading."""
    with guarded(where, f"attribute {name!r}"):
        if name not in obj.attrs:
            return None
        attr = obj.attrs.get_id(name)
        count = 1
        for d in attr.shape or ():
            count *= d
        # Attribute data is stored uncompressed in the file, so the file's size bounds it; this
        # only refuses absurd declared sizes before h5py allocates for them.
        if count * max(attr.dtype.itemsize, 1) > MAX_ATTRIBUTE_BYTES:
            raise ModelFileError(f"{where}: attribute {name!r} of {obj.name} declares "
                                 f"{count} items; not a Keras file")
        value = obj.attrs[name]
    return _text(value, name, where)


def _text(value, name, where):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim <= 1:
        if value.size == 0:     # h5py stores an empty list as an empty float array
            return []
        if value.dtype.kind in "SOU":
            return [_text(v, name, where) for v in value.tolist()]
    raise ModelFileError(f"{where}: attribute {name!r} holds {type(value).__name__}, "
                         "expected text")


def name_list(obj, name, where):
    """A list of names stored as attribute `name` or, when long, as `name0`, `name1`, ...
    (how Keras splits attributes beyond the HDF5 header limit)."""
    value = attribute(obj, name, where)
    if value is None:
        value, chunk = [], 0
        while (part := attribute(obj, f"{name}{chunk}", where)) is not None:
            value.extend(part if isinstance(part, list) else [part])
            chunk += 1
        if not chunk:
            return None
    if isinstance(value, str):
        value = [value]
    return value


def json_attribute(obj, name, where):
    text = attribute(obj, name, where)
    return None if text is None else parse_json(text, f"attribute {name!r}", where)


def parse_json(text, what, where):
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="strict")
    if not isinstance(text, str):
        raise ModelFileError(f"{where}: {what} is not JSON text")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ModelFileError(f"{where}: {what} is not valid JSON: {e}") from e
    if _depth(value) > MAX_JSON_DEPTH:
        raise ModelFileError(f"{where}: {what} nests more than {MAX_JSON_DEPTH} levels")
    return value


def _depth(value):
    """Nesting depth, without recursion (a crafted config cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest
