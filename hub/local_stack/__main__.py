"""``python -m hub.local_stack``: run the local stack until Ctrl-C (see launcher.py)."""

import sys

from .launcher import main

if __name__ == "__main__":
    sys.exit(main())
