#!/usr/bin/env bash
# Build fastrnn._core with AddressSanitizer + UndefinedBehaviorSanitizer in a separate build
# directory (the in-tree python/fastrnn/_core*.so is never touched) and run the kernel, fuzz,
# bad-input and reliability tests against it.
#
#   tools/sanitize.sh                      # build (incremental) + default test set
#   tools/sanitize.sh tests/test_fuzz.py   # build + only the given tests (any pytest args)
#   tools/sanitize.sh -x -rxX              # default test set with extra pytest options
#   FASTRNN_FUZZ=long tools/sanitize.sh tests/test_fuzz.py   # the long fuzz profile
#
# Environment:
#   ASAN_BUILD_DIR  build directory      (default /tmp/fastrnn-asan-build)
#   ASAN_PKG_DIR    copied package root  (default /tmp/fastrnn-asan-pkg)
#   PYTHON          interpreter          (default python)
#   ASAN_OPT        optimisation flags   (default "-O1 -g": about half the compile time of
#                   -O2 with the same detection; used when the build dir is first configured)
#   SKIP_BUILD=1    reuse the existing build
#
# Any sanitizer report aborts the test process (halt_on_error=1) and the script exits
# non-zero; the report is on stderr and the whole log is kept in $ASAN_BUILD_DIR/pytest.log.
# Leak detection is off: CPython itself "leaks" by design at exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${ASAN_BUILD_DIR:-/tmp/fastrnn-asan-build}"
PKG="${ASAN_PKG_DIR:-/tmp/fastrnn-asan-pkg}"
PY="${PYTHON:-python}"
GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)

# Arguments go to pytest; without a test path among them, the default set is run.
DEFAULT_TESTS=(tests/test_kernels_reference.py tests/test_kernel_object.py tests/test_fuzz.py
               tests/test_bad_input.py tests/test_reliability_inputs.py tests/test_threads.py)
TESTS=("$@")
has_path=0
for a in "$@"; do
  if [[ -e "$ROOT/${a%%::*}" || -e "${a%%::*}" ]]; then has_path=1; fi
done
if [[ $has_path == 0 ]]; then TESTS+=("${DEFAULT_TESTS[@]}"); fi

t0=$(date +%s)
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  PYBIND11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')"
  if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" \
      -DFASTRNN_SANITIZE=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="${ASAN_OPT:--O1 -g}" \
      -DSKBUILD_PROJECT_NAME=fastrnn -DSKBUILD_PROJECT_VERSION=0.1.0 \
      -DPython_EXECUTABLE="$(command -v "$PY")" \
      -Dpybind11_DIR="$PYBIND11_DIR"
  fi
  cmake --build "$BUILD" --parallel
fi
t1=$(date +%s)

# A private copy of the package with the instrumented extension in it.
rm -rf "$PKG"
mkdir -p "$PKG"
cp -r "$ROOT/python/fastrnn" "$PKG/"
rm -f "$PKG"/fastrnn/_core*.so
cp "$BUILD"/_core*.so "$PKG/fastrnn/"

LIBASAN="$(gcc -print-file-name=libasan.so)"
LIBUBSAN="$(gcc -print-file-name=libubsan.so)"
# allocator_may_return_null=1: an impossible allocation (tested on purpose) must become a
# MemoryError, not an ASan "allocation-size-too-big" abort.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
run_sanitized() { LD_PRELOAD="$LIBASAN:$LIBUBSAN" "$@"; }

# Positive controls: a deliberate heap overflow (ASan) and a signed overflow (UBSan) in
# instrumented libraries loaded the same way as the extension (preloaded runtimes, dlopen from
# an uninstrumented python) must each abort the process with a report. Otherwise the setup is
# not effective and a clean run below would mean nothing.
CTRL="$BUILD/control"
mkdir -p "$CTRL"
cat > "$CTRL/asan.c" <<'C'
#include <stdlib.h>
int fastrnn_oob(int i) { int* p = malloc(4 * sizeof(int)); p[i] = 1; int v = p[0]; free(p); return v; }
C
cat > "$CTRL/ubsan.c" <<'C'
int fastrnn_add(int a, int b) { return a + b; }
C
gcc -shared -fPIC -O0 -g -fsanitize=address "$CTRL/asan.c" -o "$CTRL/libasanctl.so"
gcc -shared -fPIC -O0 -g -fsanitize=undefined "$CTRL/ubsan.c" -o "$CTRL/libubsanctl.so"
check_control() {  # $1: python statement, $2: expected report text
  local status
  set +e
  ( run_sanitized "$PY" -c "import ctypes; $1; print('survived')" ) >"$CTRL/out.txt" 2>&1
  status=$?
  set -e
  if [[ $status != 0 ]] && grep -q "$2" "$CTRL/out.txt" && ! grep -q survived "$CTRL/out.txt"
  then
    return 0
  fi
  cat "$CTRL/out.txt" >&2
  echo "sanitize.sh: positive control '$2' was NOT detected; the sanitizer setup is broken" >&2
  exit 2
}
check_control "ctypes.CDLL('$CTRL/libasanctl.so').fastrnn_oob(4)" "heap-buffer-overflow"
check_control "ctypes.CDLL('$CTRL/libubsanctl.so').fastrnn_add(2**31 - 1, 1)" \
  "signed integer overflow"
echo "sanitize.sh: positive controls detected (ASan heap overflow, UBSan signed overflow)"

cd "$ROOT"
set +e
FASTRNN_SANITIZED=1 PYTHONPATH="$PKG" \
  run_sanitized "$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}" 2>&1 | tee "$BUILD/pytest.log"
rc=${PIPESTATUS[0]}
set -e
t2=$(date +%s)

if grep -qE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$BUILD/pytest.log"; then
  echo "sanitize.sh: SANITIZER REPORT FOUND (see above / $BUILD/pytest.log)" >&2
  if [[ $rc == 0 ]]; then rc=1; fi
elif ! grep -qE "[0-9]+ passed" "$BUILD/pytest.log"; then
  echo "sanitize.sh: pytest did not report results (rc=$rc); see $BUILD/pytest.log" >&2
  if [[ $rc == 0 ]]; then rc=1; fi
fi
echo "sanitize.sh: build $((t1 - t0)) s, tests $((t2 - t1)) s, exit $rc"
exit "$rc"
