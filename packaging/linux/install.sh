#!/bin/sh
# Install (or upgrade) kapmonitor from this unpacked folder.
#
#   ./install.sh            for the current user: ~/.local/opt/kapmonitor, menu entry, icon,
#                           and ~/.local/bin/kapmonitor
#   sudo ./install.sh       for everyone on this computer: /opt/kapmonitor, /usr/local/bin/kapmonitor
#   ./install.sh --user     per user even when run as root
#
# An earlier version in the same place is replaced. Recorded sessions are never touched: they live in
# the user's data folder (~/.local/share/kapmonitor), see docs/install.md. Undo with uninstall.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

. "$here/locations.sh"

[ -x "$here/kapmonitor" ] && [ -d "$here/_internal" ] || {
    echo "install.sh: run me from the unpacked kapmonitor folder (kapmonitor and _internal/ beside me)" >&2
    exit 1
}

if [ "$here" != "$app_dir" ]; then
    echo "installing kapmonitor into $app_dir"
    mkdir -p "$(dirname "$app_dir")"
    staging="$app_dir.new.$$"
    rm -rf "$staging"
    cp -a "$here" "$staging"
    rm -rf "$app_dir.old"
    [ -e "$app_dir" ] && mv "$app_dir" "$app_dir.old"
    mv "$staging" "$app_dir"
    rm -rf "$app_dir.old"
fi

mkdir -p "$bin_dir" "$share_dir/applications"
ln -sf "$app_dir/kapmonitor" "$bin_dir/kapmonitor"

for png in "$app_dir"/icons/kapmonitor-*.png; do
    size=${png##*-}; size=${size%.png}
    dest="$share_dir/icons/hicolor/${size}x${size}/apps"
    mkdir -p "$dest"
    cp "$png" "$dest/kapmonitor.png"
done
mkdir -p "$share_dir/icons/hicolor/scalable/apps"
cp "$app_dir/icons/kapmonitor.svg" "$share_dir/icons/hicolor/scalable/apps/kapmonitor.svg"

sed "s|@EXEC@|$app_dir/kapmonitor|" "$app_dir/kapmonitor.desktop" > "$share_dir/applications/kapmonitor.desktop"
chmod 644 "$share_dir/applications/kapmonitor.desktop"

command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share_dir/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$share_dir/icons/hicolor" || true

echo "kapmonitor is installed: find it in the applications menu, or run: $bin_dir/kapmonitor"
echo "check this installation with: $bin_dir/kapmonitor --self-test"
case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) echo "note: $bin_dir is not on your PATH; use the full path above or the menu entry" ;;
esac
