#!/bin/sh
# The run command: installs kapmonitor if needed and starts the bedside app on the simulated
# sensor. Demo sessions go to their own database (demo.db in your user data directory), never to
# the clinical one, unless you name one with --db. Extra arguments go to kapmonitor.
# With no display (a headless server) it runs a fast simulated recording in the terminal instead.
set -eu
cd "$(dirname "$0")"
. scripts/common.sh

need_debs $QT_OFFSCREEN_DEBS
ensure_venv ""

if [ "$(uname -s)" = "Linux" ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    say "no display found (DISPLAY and WAYLAND_DISPLAY are unset): running a simulated session"
    say "in the terminal at 120x speed instead of opening the window (Ctrl-C ends it cleanly)"
    db="$("$VENV_DIR/bin/python" -c 'from db.paths import demo_db_path; print(demo_db_path())')"
    if [ "${1:-}" = "--db" ] && [ $# -ge 2 ]; then
        db="$2"
        shift 2
    fi
    say "simulated sessions go to $db"
    exec "$VENV_DIR/bin/kapmonitor" --db "$db" record --sensor simulated --speed 120 --baseline-minutes 5 --minutes 120 "$@"
fi
need_debs $QT_X11_DEBS
exec "$VENV_DIR/bin/kapmonitor" --demo "$@"
