"""Runtime CPU dispatch (a portable build, FASTRNN_NATIVE=OFF; cpp/src/isa.hpp).

A portable build runs the best of its kernel variants the CPU supports ('avx512', 'avx2',
'baseline'); FASTRNN_ISA forces a lower one. These tests check, for whichever build is
installed:
  * the variant it reports against the CPU's flags in /proc/cpuinfo;
  * every variant forced through FASTRNN_ISA in a fresh interpreter: the CPU's supported ones
    match the NumPy reference (tests/reference.py) and give bitwise repeatable results, the
    others and unknown names fail the import (ImportError) with a clear message; in a native
    build every name but 'native' must fail that way;
  * that in a portable build no global function of the extension holds AVX (ymm/zmm) code:
    only the variants' local copies may (objdump); in a native build, that the same check
    finds some (it can fail).
.ci/run runs them against a portable build too, with FASTRNN_REQUIRE_DISPATCH=1: there the
build must be one.
"""
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import fastrnn
import pytest
from fastrnn import _core

VARIANTS = ("baseline", "avx2", "avx512")  # lowest first
ISA = _core.isa()
DISPATCH = ISA in VARIANTS
TESTS = Path(__file__).resolve().parent

# x86-64-v3 and -v4 as /proc/cpuinfo spells them (lzcnt is 'abm'; v3 includes v2).
_V3 = {"cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "bmi1",
       "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}
_V4 = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}


def cpu_best():
    """The best variant this CPU runs, from the kernel's flags (which drop what the OS has not
    enabled)."""
    text = Path("/proc/cpuinfo").read_text()
    flags = set(re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split())
    if not _V3 <= flags:
        return "baseline"
    return "avx512" if _V4 <= flags else "avx2"


def test_requirements():
    if os.environ.get("FASTRNN_REQUIRE_DISPATCH") == "1":
        assert DISPATCH, f"FASTRNN_REQUIRE_DISPATCH=1 but fastrnn._core.isa() is {ISA!r}"
    assert platform.system() == "Linux" and platform.machine() == "x86_64", \
        "the checks below read /proc/cpuinfo and x86-64 code"


def test_reported_variant_matches_cpu():
    forced = os.environ.get("FASTRNN_ISA", "")
    if not DISPATCH:
        assert ISA == "native" and forced in ("", "native"), (ISA, forced)
        return
    expected = forced or cpu_best()
    assert ISA == expected, f"isa() {ISA!r}, FASTRNN_ISA {forced!r}, CPU {cpu_best()!r}"


# Forward (training) and backward of each cell on odd sizes (vector tails, the fused and the
# unfused paths), float64 against the NumPy reference, float32 loosely; then Dense, whose
# products use the same GEMM micro-kernel; each twice, the second bitwise equal.
_PARITY = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import reference as ref
import fastrnn
from fastrnn import _core, ops

rng = np.random.default_rng(7)
def check(name, ours, theirs, atol, rtol):
    ours = np.asarray(ours)
    bad = ~np.isfinite(ours) | (np.abs(ours - theirs) > atol + rtol * np.abs(theirs))
    assert not bad.any(), (name, float(np.max(np.abs(ours - theirs))))

def run(cell, dtype, a):
    res = ops.rnn_forward(cell, *[np.asarray(v, dtype) for v in a[:4]], training=True)
    g = ops.rnn_backward(res.cache, np.asarray(a[4], dtype))
    return [res.outputs, *res.states, g["x"], g["kernel"], g["recurrent_kernel"], g["bias"]]

for cell, G in (("simple_rnn", 1), ("lstm", 4), ("gru", 3)):
    for B, T, D, H in ((5, 6, 7, 19), (33, 4, 3, 40)):
        a = [rng.normal(size=(B, T, D)), 0.4 * rng.normal(size=(D, G * H)),
             0.4 * rng.normal(size=(H, G * H)),
             0.3 * rng.normal(size=(2, G * H) if cell == "gru" else (G * H,)),
             rng.normal(size=(B, T, H))]
        out, states, cache = ref.rnn_forward(cell, *a[:4])
        grads = ref.rnn_backward(cache, a[4])
        want = [out, *states, grads["x"], grads["kernel"], grads["recurrent_kernel"],
                grads["bias"]]
        for dtype, atol, rtol in ((np.float64, 1e-10, 1e-9), (np.float32, 2e-4, 2e-4)):
            got = run(cell, dtype, a)
            for i, (o, w) in enumerate(zip(got, want, strict=True)):
                check(f"{cell} {B}x{T}x{D}x{H} {np.dtype(dtype).name} result {i}", o, w,
                      atol, rtol)
            again = run(cell, dtype, a)
            assert all(np.array_equal(p, q) for p, q in zip(got, again)), (cell, "repeat")

for dtype, atol in ((np.float64, 1e-10), (np.float32, 2e-4)):
    x, k, b = rng.normal(size=(37, 21)), rng.normal(size=(21, 45)), rng.normal(size=45)
    dy = rng.normal(size=(37, 45))
    c = [np.ascontiguousarray(v, dtype) for v in (x, k, b, dy)]
    z, y = _core.dense_forward(c[0], c[1], c[2], "tanh")
    dk, db = np.empty_like(c[1]), np.empty_like(c[2])
    dx = _core.dense_backward(c[0], c[1], c[3], y, "tanh", False, dk, db)
    want_y = np.tanh(x @ k + b)
    dz = dy * (1 - want_y ** 2)
    for name, o, w in (("y", y, want_y), ("dx", dx, dz @ k.T), ("d_kernel", dk, x.T @ dz),
                       ("d_bias", db, dz.sum(0))):
        check(f"dense {name} {np.dtype(dtype).name}", o, w, atol, atol)
print("ran", _core.isa())
"""


def run_forced(name):
    pkg = Path(fastrnn.__file__).resolve().parents[1]
    env = dict(os.environ, FASTRNN_ISA=name, OMP_NUM_THREADS="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(pkg), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-c", _PARITY, str(TESTS)], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", VARIANTS + ("native", "sse9"))
def test_forced_variant(name):
    proc = run_forced(name)
    if DISPATCH and name in VARIANTS[:VARIANTS.index(cpu_best()) + 1]:
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.split() == ["ran", name], proc.stdout
    elif not DISPATCH and name == ISA:
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.split() == ["ran", ISA], proc.stdout
    else:
        assert proc.returncode != 0, proc.stdout
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"ImportError: FASTRNN_ISA='{name}': "), last
        if not DISPATCH:
            reason = "this build has no runtime dispatch"
        elif name in VARIANTS:
            reason = "this CPU lacks it"
        else:
            reason = "unknown variant; expected one of 'baseline', 'avx2', 'avx512'"
        assert reason in last, last


_FUNCTION = re.compile(r"^([0-9a-f]+) <(.+)>:$")
_AVX_REGISTER = re.compile(r"%[yz]mm\d")


def functions_with_avx(so):
    """{address: (symbol, holds ymm/zmm instructions)} for every function of `so`'s
    disassembly (by address: a variant's local copy has the same name as the global one)."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(so)], check=True,
                         capture_output=True, text=True).stdout
    result, address = {}, None
    for line in out.splitlines():
        m = _FUNCTION.match(line)
        if m:
            address = int(m.group(1), 16)
            result[address] = (m.group(2), False)
        elif address is not None and _AVX_REGISTER.search(line):
            result[address] = (result[address][0], True)
    return result


def global_functions(so):
    """Addresses of the functions that `so` defines as global or weak symbols (nm)."""
    out = subprocess.run(["nm", "--defined-only", str(so)], check=True, capture_output=True,
                         text=True).stdout
    return {int(parts[0], 16) for parts in (line.split() for line in out.splitlines())
            if len(parts) == 3 and parts[1] in "TWV"}


def test_no_avx_outside_the_variants():
    assert shutil.which("objdump") and shutil.which("nm"), "binutils (objdump, nm) missing"
    so = Path(_core.__file__)
    functions = functions_with_avx(so)
    exported = global_functions(so)
    assert len(exported) > 20, "too few global functions found (stripped?)"
    leaked = sorted(functions[a][0] for a in exported if functions.get(a, ("", False))[1])
    if not DISPATCH:
        # A native build on an AVX machine has AVX code in global functions wherever the
        # compiler chose it: the check finds them, so it can fail (.ci/run runs it on a
        # portable build, which must have none).
        assert ISA == "native"
        if cpu_best() != "baseline":
            assert leaked, "no global AVX function found in a -march=native build"
        return
    assert not leaked, f"global functions with AVX code: {leaked[:20]}"
    # The variants are there, with their AVX code (else the check above proves nothing).
    local_avx = [a for a, (_, has) in functions.items() if has and a not in exported]
    assert len(local_avx) > 50, len(local_avx)
