"""``python -m codetether.daemon``: run the daemon in the foreground."""

import sys

from .runner import main

sys.exit(main())
