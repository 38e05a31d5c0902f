"""``python -m microkit``: the command line (see :mod:`microkit.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
