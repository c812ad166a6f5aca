"""``python -m podrunner``: tools/run-release."""

import sys

from .cli import main

sys.exit(main())
