#!/usr/bin/env bash
# Development build: compiles fastrnn._core with CMake into build/dev (incremental) and copies
# it next to the Python sources, so `PYTHONPATH=python python -m pytest ...` runs this tree's
# code without `pip install`. Extra CMake options pass through, e.g.
#   tools/dev_build.sh -DFASTRNN_OPENMP=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
build=${FASTRNN_DEV_BUILD:-build/dev}
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' python/fastrnn/_version.py 2>/dev/null || true)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPython_EXECUTABLE="$(command -v "$py")" -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" \
  -DSKBUILD_PROJECT_NAME=fastrnn -DSKBUILD_PROJECT_VERSION="${version:-0.1.0}" "$@" >/dev/null
cmake --build "$build"
cp "$build"/_core*.so python/fastrnn/
