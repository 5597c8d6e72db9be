"""``python -m jaxseg segment ...``: the same as the ``jaxseg`` console script."""

import sys

from jaxseg.cli.segment import main

if __name__ == "__main__":
    sys.exit(main())
