#!/bin/sh
# Remove kapmonitor installed by install.sh (run as the same user: sudo if it was installed with sudo).
# Recorded sessions are kept: the database in the user's data folder is not touched (see docs/install.md
# for how to remove it too, after backing it up).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/locations.sh"

rm -f "$share_dir/applications/kapmonitor.desktop"
rm -f "$share_dir"/icons/hicolor/*/apps/kapmonitor.png "$share_dir/icons/hicolor/scalable/apps/kapmonitor.svg"
if [ -L "$bin_dir/kapmonitor" ]; then
    rm -f "$bin_dir/kapmonitor"
fi
rm -rf "$app_dir"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share_dir/applications" || true

echo "kapmonitor is removed from $app_dir."
echo "Recorded sessions were kept in ${XDG_DATA_HOME:-$HOME/.local/share}/kapmonitor (delete that folder"
echo "yourself, after a backup, if they must go too)."
