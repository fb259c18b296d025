"""``python -m playground train ...``: see :mod:`playground.cli`."""
import sys

from .cli import main

sys.exit(main())
