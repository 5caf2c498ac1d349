"""``python -m farm``: the same as the ``farm`` console script."""

import sys

from farm.cli import main

sys.exit(main())
