"""``python -m kapmonitor``: hand over to the application's composition root.

The core never imports the outer layers; this entry module is the one
exception (declared in the import-linter contracts), because ``python -m
kapmonitor`` must start the whole application, which ``ui.main`` assembles.
"""

from __future__ import annotations

import sys

from ui.main import main

if __name__ == "__main__":
    sys.exit(main())
