"""``python -m dp_assets.cli``: the ``dp`` command without its console script."""

import sys

from dp_assets.cli import main

sys.exit(main())
