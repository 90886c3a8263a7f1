"""``python -m dejpeg``: the ``dejpeg`` command line."""

import sys

from dejpeg.cli.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
