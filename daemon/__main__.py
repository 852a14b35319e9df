"""``python -m codetether.daemon``: run the daemon in the foreground (or, with
``worker``, a cluster worker: :mod:`codetether.daemon.worker`)."""

import sys

if sys.argv[1:2] == ["worker"]:
    from .worker import main
else:
    from .runner import main

sys.exit(main())
