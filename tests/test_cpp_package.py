"""The C/C++ package's locator, `python -m fastrnn --cmakedir` (for CMake's -Dfastrnn_DIR=...).

Installed (`pip install .`, as CI runs the suite) it prints the folder of fastrnnConfig.cmake,
which lies beside its version file and targets, under the package's headers and libraries. In
a source tree (PYTHONPATH=python) there is no C++ package and it says so with exit code 1.
The package itself is checked by building and running examples/cpp against it (ctest, from
.ci/run). Any other arguments still go to the `fastrnn` command line.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import fastrnn

PACKAGE = Path(fastrnn.__file__).resolve().parent
SOURCE_TREE = PACKAGE == (Path(__file__).resolve().parents[1] / "python" / "fastrnn")


def python_m_fastrnn(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(PACKAGE.parent), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "fastrnn", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_cmakedir_names_the_installed_cmake_package():
    proc = python_m_fastrnn("--cmakedir")
    if SOURCE_TREE:
        assert proc.returncode == 1, proc
        assert "no C++ package in" in proc.stderr and proc.stdout == "", proc
        return
    assert proc.returncode == 0, proc
    cmakedir = Path(proc.stdout.strip())
    assert cmakedir == PACKAGE / "lib" / "cmake" / "fastrnn"
    for name in ("fastrnnConfig.cmake", "fastrnnConfigVersion.cmake", "fastrnnTargets.cmake"):
        assert (cmakedir / name).is_file(), name
    version = re.search(r'set\(PACKAGE_VERSION "([^"]+)"\)',
                        (cmakedir / "fastrnnConfigVersion.cmake").read_text()).group(1)
    assert version == fastrnn.__version__
    for path in ("include/fastrnn/fastrnn.hpp", "include/fastrnn/fastrnn_c.h",
                 "lib/libfastrnn.a", "lib/libfastrnn_c.so"):
        assert (PACKAGE / path).is_file(), path


def test_other_arguments_go_to_the_command_line():
    proc = python_m_fastrnn("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"fastrnn {fastrnn.__version__}", proc
    proc = python_m_fastrnn()
    assert proc.returncode == 2 and "a command is required" in proc.stderr, proc
    proc = python_m_fastrnn("--cmakedir", "extra")
    assert proc.returncode == 2 and "fastrnn: error:" in proc.stderr, proc
