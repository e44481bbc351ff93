"""`python -m paddle_inception <command> ...`, same as the `paddle-inception` console script."""

import sys

from .cli import main

sys.exit(main())
