"""`python -m fastrnn ...`: the `fastrnn` command line (see fastrnn.cli), and, like pybind11's,

    python -m fastrnn --cmakedir     the folder of fastrnnConfig.cmake, for CMake's
                                     -Dfastrnn_DIR=... or CMAKE_PREFIX_PATH (C/C++ package)
"""
import sys
from pathlib import Path

# Where the wheel installs the CMake package (FASTRNN_INSTALL_CMAKEDIR in cmake/install.cmake).
CMAKE_DIR = Path(__file__).resolve().parent / "lib" / "cmake" / "fastrnn"


def cmakedir():
    """Prints CMAKE_DIR; exit code 1 (and why) when this fastrnn has no C++ package."""
    if not (CMAKE_DIR / "fastrnnConfig.cmake").is_file():
        print(f"fastrnn: error: no C++ package in {CMAKE_DIR.parent.parent.parent} (installed by "
              "`pip install`, not present in a source tree)", file=sys.stderr)
        return 1
    print(CMAKE_DIR)
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--cmakedir"]:
        return cmakedir()   # without importing the CLI (and the kernels)
    from .cli import main as cli_main
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
