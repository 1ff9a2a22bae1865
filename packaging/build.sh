#!/bin/sh
# Build the frozen Linux application and its tarball.
#
#   packaging/build.sh            -> packaging/dist/kapmonitor/                      (the one-folder bundle)
#                                    packaging/dist/kapmonitor-<version>-linux-<arch>.tar.gz
#
# Needs: the project's virtual environment with PyInstaller (pip install -e '.[packaging]', or
# KAPMONITOR_VENV=/path/to/venv), binutils (strip), and the system libraries Qt links at run time,
# so they get bundled (PITFALLS.md #10): libpulse0 libxcb-icccm4 libxcb-keysyms1 libwayland-cursor0
# libxcb-cursor0 plus the offscreen set from scripts/common.sh. As root, missing ones are installed.
#
# The bundle needs glibc at least as new as the build machine's: build on the oldest distribution the
# clinics run (Debian 12 here, glibc 2.36). macOS and Windows: see packaging/README.md.
set -eu
cd "$(dirname "$0")/.."

# The size budget (MiB): a build that grows past it fails, so growth is a decision, not an accident.
# Measured: 2026-12 on Debian 12, Python 3.11, the locked versions (see packaging/README.md).
BUNDLE_BUDGET_MIB=${KAPMONITOR_BUNDLE_BUDGET_MIB:-225}
TARBALL_BUDGET_MIB=${KAPMONITOR_TARBALL_BUDGET_MIB:-90}
. scripts/common.sh

V="$VENV_DIR/bin"
need_debs $QT_OFFSCREEN_DEBS libpulse0 libxcb-icccm4 libxcb-keysyms1 libwayland-cursor0 libxcb-cursor0 binutils
[ -x "$V/pyinstaller" ] || die "PyInstaller is not in $VENV_DIR: run $V/pip install -e '.[packaging]'"

version=$("$V/python" -c 'from kapmonitor import __version__; print(__version__)')
arch=$(uname -m)
dist=packaging/dist
bundle="$dist/kapmonitor"
name="kapmonitor-$version-linux-$arch"
started=$(date +%s)

say "building kapmonitor $version with $("$V/pyinstaller" --version) (one folder)"
# The icons are committed; regenerate them only when the drawing script is newer.
if [ packaging/make_icons.py -nt ui/assets/icons/kapmonitor-256.png ]; then
    QT_QPA_PLATFORM=offscreen "$V/python" packaging/make_icons.py
fi
"$V/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$dist" --workpath packaging/build packaging/kapmonitor.spec

# Strip debug symbols selectively: numpy's bundled libraries break when stripped (PITFALLS.md #10),
# and the Qt and Python extension wheels ship stripped already.
stripped=0
for lib in $(find "$bundle/_internal" -type f -name '*.so*' \
                 -not -path '*/numpy*' -not -path '*/PySide6/*' -not -path '*/shiboken6/*'); do
    strip --strip-unneeded "$lib" 2>/dev/null && stripped=$((stripped + 1))
done
say "stripped $stripped system and Python libraries (numpy and Qt left as shipped)"

# Desktop integration travels inside the folder; install.sh places it.
cp packaging/linux/kapmonitor.desktop packaging/linux/install.sh packaging/linux/uninstall.sh \
    packaging/linux/locations.sh "$bundle/"
chmod +x "$bundle/install.sh" "$bundle/uninstall.sh"
mkdir -p "$bundle/icons"
cp ui/assets/icons/kapmonitor-*.png ui/assets/icons/kapmonitor.svg "$bundle/icons/"
cp docs/install.md "$bundle/INSTALL.md"

tarball="$dist/$name.tar.gz"
rm -f "$tarball"
tar -C "$dist" --owner=0 --group=0 --transform "s|^kapmonitor|$name|" -czf "$tarball" kapmonitor

# The bill of materials: what the bundle holds, from the lock (the build stops if this environment's
# versions are not the locked ones) and the system libraries PyInstaller copied in.
sbom="$dist/$name.cdx.json"
"$V/python" packaging/sbom.py "$bundle" "$sbom" || die "SBOM not written: see above"

elapsed=$(( $(date +%s) - started ))
bundle_mib=$(( $(du -sb "$bundle" | cut -f1) / 1048576 ))
tarball_mib=$(( $(stat -c %s "$tarball") / 1048576 ))
say "bundle:  $bundle ($bundle_mib MiB unpacked; budget $BUNDLE_BUDGET_MIB MiB)"
say "tarball: $tarball ($tarball_mib MiB; budget $TARBALL_BUDGET_MIB MiB)"
say "SBOM:    $sbom"
[ "$bundle_mib" -le "$BUNDLE_BUDGET_MIB" ] || die "the bundle is $bundle_mib MiB, over its budget of $BUNDLE_BUDGET_MIB MiB: find what grew (du -s $bundle/_internal/* | sort -n) and shrink it, or raise BUNDLE_BUDGET_MIB in packaging/build.sh with the reason"
[ "$tarball_mib" -le "$TARBALL_BUDGET_MIB" ] || die "the tarball is $tarball_mib MiB, over its budget of $TARBALL_BUDGET_MIB MiB"
say "built in ${elapsed} s; check it with: packaging/smoke_test.sh"
