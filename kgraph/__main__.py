"""`python -m kgraph`: the command line (see `kgraph.cli`)."""

from __future__ import annotations

import sys

from kgraph.cli import main

if __name__ == "__main__":
    sys.exit(main())
