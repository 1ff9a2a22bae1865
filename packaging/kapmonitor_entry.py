"""PyInstaller entry point: the frozen ``kapmonitor`` runs the same ``main`` as the console script."""

import sys

from ui.main import main

if __name__ == "__main__":
    sys.exit(main())
