"""`python -m paddle_inception.cli <command> ...`"""

import sys

from . import main

sys.exit(main())
