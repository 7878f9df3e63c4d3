"""``python -m berth.cli``, as ``python -m berth`` and the ``berth`` script."""

import sys

from berth.cli import main

sys.exit(main())
