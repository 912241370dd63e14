#!/usr/bin/env bash
# Build the Linux bundle and tarball from this checkout (see installer/build.py), installing
# what the build needs: binutils (PyInstaller reads the libraries' headers with objdump), the
# libraries Qt's X11 plugin links (so the build can resolve them) and PyInstaller in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
# shellcheck disable=SC2086
ensure_debian_packages binutils $QT_XCB_PACKAGES
ensure_venv installer
log "building the bundle (a few minutes)"
exec "$VENV/bin/python" installer/build.py "$@"
