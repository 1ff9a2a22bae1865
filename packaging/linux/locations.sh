# Where install.sh puts kapmonitor and uninstall.sh removes it from; sourced by both so they agree.
# Sets app_dir, bin_dir and share_dir from the arguments ("--user" or nothing) and the user id.

system=no
[ "$(id -u)" = "0" ] && system=yes
case "${1:-}" in
    --user) system=no ;;
    "") ;;
    *) echo "usage: $0 [--user]   (--user: only for this user, even as root)" >&2; exit 2 ;;
esac

if [ "$system" = "yes" ]; then
    app_dir=/opt/kapmonitor
    bin_dir=/usr/local/bin
    share_dir=/usr/share
else
    app_dir="$HOME/.local/opt/kapmonitor"
    bin_dir="$HOME/.local/bin"
    share_dir="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
