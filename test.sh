#!/bin/sh
# The test command: installs what the tests need, then runs ruff, mypy, import-linter and pytest.
# Usage: ./test.sh [extra pytest arguments]
set -eu
cd "$(dirname "$0")"
. scripts/common.sh

# System libraries: Qt offscreen, a private D-Bus daemon for the emulated BlueZ, poppler for
# reading PDF text in report tests.
need_debs $QT_OFFSCREEN_DEBS libpulse0 dbus-daemon poppler-utils pulseaudio pulseaudio-utils
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
"$V/pytest" --cov --cov-report=term:skip-covered --cov-fail-under=90 "$@"
