#!/bin/sh
# Check the built Linux package the way a clinic would get it, on a machine without Python.
#
#   packaging/smoke_test.sh [TARBALL]     (default: the newest packaging/dist/kapmonitor-*-linux-*.tar.gz)
#
# Unpacks the tarball into a temporary directory and runs the bundle with a clean environment
# (env -i: no virtual environment, no PYTHONPATH, PATH=/usr/bin:/bin, a fresh HOME):
#   1. kapmonitor --version
#   2. kapmonitor --self-test (window offscreen, simulated session, database, CSV export)
#   3. kapmonitor record --sensor simulated --speed 600 --minutes 10, then sessions, export and report
#   4. install.sh --user into the fresh HOME (menu entry, icon, command), the installed command, uninstall.sh
# and reports the unpacked size. Exit status 0 only if everything passed.
set -eu
cd "$(dirname "$0")/.."

tarball=${1:-$(ls -t packaging/dist/kapmonitor-*-linux-*.tar.gz 2>/dev/null | head -n 1)}
[ -n "$tarball" ] && [ -f "$tarball" ] || { echo "smoke_test: no tarball; run packaging/build.sh first" >&2; exit 1; }
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kapmonitor-smoke.XXXXXX")
keep=no
cleanup() { [ "$keep" = "yes" ] && echo "smoke_test: files kept in $tmp" >&2 || rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "smoke_test: FAIL $*" >&2; keep=yes; exit 1; }
step() { echo "== $*"; }

mkdir -p "$tmp/home" "$tmp/work"
tar -C "$tmp" -xzf "$tarball"
bundle=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'kapmonitor-*')
[ -x "$bundle/kapmonitor" ] || fail "no kapmonitor executable in $tarball"

# The clean environment: nothing from this shell, no Python of ours reachable.
run() {
    env -i HOME="$tmp/home" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen "$@"
}

step "kapmonitor --version"
out=$(cd "$tmp/work" && run "$bundle/kapmonitor" --version) || fail "--version exited with $?"
echo "$out"
case "$out" in kapmonitor\ *) ;; *) fail "--version printed '$out'" ;; esac

step "kapmonitor --self-test (clean environment)"
start=$(date +%s)
status=0
(cd "$tmp/work" && run "$bundle/kapmonitor" --self-test >"$tmp/selftest.out" 2>"$tmp/selftest.err") || status=$?
cat "$tmp/selftest.out"
[ "$status" = 0 ] || { cat "$tmp/selftest.err" >&2; fail "--self-test exited with status $status"; }
grep -q "self-test: frozen bundle at $bundle" "$tmp/selftest.out" || fail "the self-test did not run the bundle"
echo "(self-test took $(( $(date +%s) - start )) s)"

step "kapmonitor record --sensor simulated --speed 600 --minutes 10 (temporary database)"
db="$tmp/work/record.db"
(cd "$tmp/work" && run "$bundle/kapmonitor" --db "$db" record --sensor simulated --speed 600 --minutes 10 \
    --baseline-minutes 1 --seed 5 </dev/null >"$tmp/record.out" 2>"$tmp/record.err") || {
    cat "$tmp/record.err" >&2; fail "record exited with non-zero status"; }
tail -n 1 "$tmp/record.err"
grep -q "recorded event session_ended" "$tmp/record.out" || fail "record did not end the session"
(cd "$tmp/work" && run "$bundle/kapmonitor" --db "$db" sessions) || fail "sessions failed"
(cd "$tmp/work" && run "$bundle/kapmonitor" --db "$db" export latest -o "$tmp/work/session.csv" 2>/dev/null) \
    || fail "export failed"
rows=$(($(wc -l <"$tmp/work/session.csv") - 1))
[ "$rows" -gt 100 ] || fail "export wrote only $rows rows"
echo "exported $rows CSV rows"
(cd "$tmp/work" && run "$bundle/kapmonitor" --db "$db" report latest -o "$tmp/work/session.pdf" 2>/dev/null) \
    || fail "report failed"
head -c 5 "$tmp/work/session.pdf" | grep -q '%PDF-' || fail "report did not write a PDF"
if command -v pdftotext >/dev/null 2>&1; then  # the bundled font must reach the PDF (PITFALLS.md #11)
    pdftotext "$tmp/work/session.pdf" - | grep -q "session report" || fail "the PDF report has no text"
fi
echo "wrote a $(($(wc -c <"$tmp/work/session.pdf") / 1024)) KiB PDF report"

step "install.sh --user / uninstall.sh --user (fresh HOME)"
run "$bundle/install.sh" --user >/dev/null || fail "install.sh failed"
desktop="$tmp/home/.local/share/applications/kapmonitor.desktop"
[ -f "$desktop" ] || fail "no menu entry at $desktop"
grep -q "^Exec=$tmp/home/.local/opt/kapmonitor/kapmonitor$" "$desktop" || fail "menu entry Exec is wrong"
[ -f "$tmp/home/.local/share/icons/hicolor/256x256/apps/kapmonitor.png" ] || fail "icon not installed"
[ -f "$tmp/home/.local/share/icons/hicolor/scalable/apps/kapmonitor.svg" ] || fail "SVG icon not installed"
run "$tmp/home/.local/bin/kapmonitor" --version >/dev/null || fail "installed command does not run"
run "$tmp/home/.local/opt/kapmonitor/uninstall.sh" --user >/dev/null || fail "uninstall.sh failed"
[ ! -e "$tmp/home/.local/opt/kapmonitor" ] && [ ! -e "$desktop" ] && [ ! -e "$tmp/home/.local/bin/kapmonitor" ] \
    || fail "uninstall.sh left files behind"
echo "installed, ran and uninstalled"

step "size"
echo "unpacked: $(du -sh "$bundle" | cut -f1)   ($(du -sm "$bundle" | cut -f1) MiB)"
echo "tarball:  $(du -h "$tarball" | cut -f1)   $(basename "$tarball")"
echo "smoke_test: all passed"
