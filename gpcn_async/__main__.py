"""``python -m gpcn_async``: the ``gpcn`` command line."""

import sys

from gpcn_async.cli import main

if __name__ == "__main__":
    sys.exit(main())
