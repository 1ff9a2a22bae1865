# Shared helpers for ./run.sh and ./test.sh (POSIX sh). Sourced, not executed.

VENV_DIR="${KAPMONITOR_VENV:-.venv}"

say() { printf 'kapmonitor: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

is_root() { [ "$(id -u)" = "0" ]; }

# Packages missing among the Debian package names given (empty output = all there).
missing_debs() {
    command -v dpkg-query >/dev/null 2>&1 || return 0
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$pkg"
    done
}

# Install Debian packages as root; otherwise name the missing ones and stop.
need_debs() {
    missing=$(missing_debs "$@")
    [ -z "$missing" ] && return 0
    command -v apt-get >/dev/null 2>&1 || { say "not a Debian/Ubuntu system; make sure these libraries are present: $missing"; return 0; }
    if is_root; then
        say "installing system packages: $missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null || die "apt-get update failed"
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null || die "apt-get install failed for: $missing"
    else
        die "missing system packages: $missing -- install them with: sudo apt-get install $missing"
    fi
}

# Like need_debs, but what is missing only limits what can be tested: as root the packages are
# installed; otherwise they are named and the caller goes on (the tests that need them skip and say so).
want_debs() {
    missing=$(missing_debs "$@")
    [ -z "$missing" ] && return 0
    if is_root && command -v apt-get >/dev/null 2>&1; then
        need_debs "$@"
    else
        say "not installed: $missing -- the tests that need them will be skipped (install: sudo apt-get install $missing)"
    fi
}

# The first Python >= 3.11 on PATH.
find_python() {
    for cand in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$cand" ] || continue
        command -v "$cand" >/dev/null 2>&1 || continue
        if "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$cand"; return 0
        fi
    done
    return 1
}

# Create the virtual environment and install kapmonitor's locked dependencies, then kapmonitor itself,
# when pyproject.toml or the lock changed since the last install. $1 names the extras wanted: none
# (./run.sh) installs requirements/run.lock, the app's; any (./test.sh: dev; CI: dev,packaging)
# installs requirements/dev.lock, which holds every extra. pip checks every file against the lock's
# SHA-256 (--require-hashes), so each install gets the same bytes; scripts/lock.sh refreshes the locks.
ensure_venv() {
    extras="$1"
    py=$(find_python) || die "Python >= 3.11 is required (found none on PATH); install python3 (>= 3.11)"
    if [ ! -x "$VENV_DIR/bin/python" ]; then
        if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
            ver=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
            need_debs "python$ver-venv"
        fi
        say "creating virtual environment in $VENV_DIR"
        "$py" -m venv "$VENV_DIR" || die "could not create a virtual environment with $py"
    fi
    lock=requirements/dev.lock
    [ -z "$extras" ] && lock=requirements/run.lock
    stamp="$VENV_DIR/.kapmonitor-installed-$(basename "$lock" .lock)"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
        say "installing the locked dependencies ($lock) and kapmonitor (first time: a few minutes)"
        "$VENV_DIR/bin/python" -m pip install -q --require-hashes -r "$lock" \
            || die "pip install -r $lock failed (a file whose hash is not in the lock is refused)"
        "$VENV_DIR/bin/python" -m pip install -q --no-deps -e . || die "pip install -e . failed"
        rm -f "$VENV_DIR"/.kapmonitor-installed-*
        touch "$stamp"
    fi
}

# Qt needs these even offscreen (PITFALLS.md #3).
QT_OFFSCREEN_DEBS="libgl1 libegl1 libxkbcommon0 libglib2.0-0 libfontconfig1 libdbus-1-3"
# A real window on X11 additionally needs these.
QT_X11_DEBS="libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-xkb1"
