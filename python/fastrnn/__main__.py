"""`python -m fastrnn ...`: the `fastrnn` command line (see fastrnn.cli)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
