#!/bin/sh
# The test command: installs what the tests need, then runs ruff, mypy, import-linter and pytest.
# Usage: ./test.sh [extra pytest arguments]
set -eu
cd "$(dirname "$0")"
. scripts/common.sh

# System libraries: Qt offscreen, a private D-Bus daemon for the emulated BlueZ, poppler for
# reading PDF text in report tests.
need_debs $QT_OFFSCREEN_DEBS libpulse0 dbus-daemon poppler-utils pulseaudio pulseaudio-utils
# PostgreSQL server binaries: the store tests start throw-away clusters of their own (tests/pg_cluster.py),
# never the machine's cluster. Installed as root; otherwise named, and the PostgreSQL tests skip.
want_debs postgresql
ensure_venv "${KAPMONITOR_EXTRAS:-dev}"

export QT_QPA_PLATFORM=offscreen
V="$VENV_DIR/bin"
say "ruff"
"$V/ruff" check .
say "mypy (strict: kapmonitor, devices, db)"
"$V/mypy"
say "import-linter contracts"
"$V/lint-imports"
say "pytest"
# Two workers (this machine's two cores): 6.5 min instead of 11.5 min, the long real-time tests
# waiting side by side. "./test.sh -n 0" runs everything in one process.
"$V/pytest" -n 2 --cov --cov-report=term:skip-covered --cov-fail-under=90 "$@"
