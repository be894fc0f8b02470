"""Benchmark results record paths relative to the project, never a machine's absolute paths."""
import glob
import importlib.util
import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# bench/common.py under its own name (bench/ is not a package, and not put on sys.path here)
_spec = importlib.util.spec_from_file_location("bench_common",
                                               os.path.join(REPO, "bench", "common.py"))
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)


def _absolute_paths(obj):
    if isinstance(obj, dict):
        return [p for v in obj.values() for p in _absolute_paths(v)]
    if isinstance(obj, list):
        return [p for v in obj for p in _absolute_paths(v)]
    return [obj] if isinstance(obj, str) and os.path.isabs(obj) else []


def test_relative_paths():
    out = {"argv": ["--out-dir", os.path.join(REPO, "bench", "results"), "--quick"],
           "info": {"path": os.path.join(REPO, "python", "fastrnn", "__init__.py"),
                    "blas": [{"filepath": "/opt/py/lib/python3.11/site-packages/numpy.libs/b.so"}],
                    "elsewhere": os.path.join(os.path.dirname(REPO), "shared", "x.tar.gz")},
           "threads": 2, "name": "a/b"}
    got = common.relative_paths(out)
    assert got == {"argv": ["--out-dir", os.path.join("bench", "results"), "--quick"],
                   "info": {"path": os.path.join("python", "fastrnn", "__init__.py"),
                            "blas": [{"filepath": "site-packages/numpy.libs/b.so"}],
                            "elsewhere": os.path.join("..", "shared", "x.tar.gz")},
                   "threads": 2, "name": "a/b"}
    assert _absolute_paths(got) == []


def test_committed_results_hold_no_absolute_paths():
    files = glob.glob(os.path.join(REPO, "bench", "results", "*.json"))
    assert files
    for path in files:
        with open(path) as f:
            assert _absolute_paths(json.load(f)) == [], path
