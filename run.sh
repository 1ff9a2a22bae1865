#!/bin/sh
# The run command: installs kapmonitor if needed and starts the bedside app on the simulated
# sensor, with the database in your user data directory. Extra arguments go to kapmonitor.
# With no display (a headless server) it runs a fast simulated recording in the terminal instead.
set -eu
cd "$(dirname "$0")"
. scripts/common.sh

need_debs $QT_OFFSCREEN_DEBS
ensure_venv ""

if [ "$(uname -s)" = "Linux" ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    say "no display found (DISPLAY and WAYLAND_DISPLAY are unset): running a simulated session"
    say "in the terminal at 120x speed instead of opening the window (Ctrl-C ends it cleanly)"
    exec "$VENV_DIR/bin/kapmonitor" record --sensor simulated --speed 120 --baseline-minutes 5 --minutes 120 "$@"
fi
need_debs $QT_X11_DEBS
exec "$VENV_DIR/bin/kapmonitor" --demo "$@"
