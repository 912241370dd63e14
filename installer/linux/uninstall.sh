#!/bin/sh
# Remove what install.sh installed (use the same PREFIX). Your workspaces, settings, signing
# keys and logs are kept: see README.txt for where they are, and delete them yourself if wanted.
set -eu
prefix=${PREFIX:-$HOME/.local/opt}
if [ "$(id -u)" = 0 ] && [ -n "${PREFIX:-}" ]; then share=/usr/local/share; bin=/usr/local/bin
else share=${XDG_DATA_HOME:-$HOME/.local/share}; bin=$HOME/.local/bin
fi
rm -rf "$prefix/ModelLedger"
rm -f "$bin/modelledger" "$share/applications/modelledger.desktop" \
      "$share/icons/hicolor/256x256/apps/modelledger.png"
command -v update-desktop-database >/dev/null 2>&1 \
    && update-desktop-database -q "$share/applications" || true
echo "ModelLedger removed from $prefix/ModelLedger (your data is kept)."
