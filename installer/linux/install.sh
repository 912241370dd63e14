#!/bin/sh
# Install ModelLedger from this unpacked folder, for you alone (no root needed):
#   ~/.local/opt/ModelLedger          the application (this folder's files, copied)
#   ~/.local/bin/modelledger          the command line (a link to modelledger-cli)
#   ~/.local/share/applications/      the menu entry; evidence packs (.zip) get "Open with"
#   ~/.local/share/icons/hicolor/     the icon
# Run it again to upgrade: the old copy is replaced; your workspaces, settings, keys and logs
# live elsewhere (see README.txt) and are not touched. PREFIX=/opt sudo ./install.sh installs
# for everyone (the menu entry then goes to /usr/local/share).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${PREFIX:-$HOME/.local/opt}
if [ "$(id -u)" = 0 ] && [ -n "${PREFIX:-}" ]; then share=/usr/local/share; bin=/usr/local/bin
else share=${XDG_DATA_HOME:-$HOME/.local/share}; bin=$HOME/.local/bin
fi
target=$prefix/ModelLedger

mkdir -p "$prefix" "$bin" "$share/applications" "$share/icons/hicolor/256x256/apps"
# Copy beside the old version, then swap: an interrupted upgrade leaves the old one working.
rm -rf "$target.new"
mkdir "$target.new"
cp -a "$here/ModelLedger" "$here/modelledger-cli" "$here/_internal" "$target.new/"
rm -rf "$target.old"
[ -d "$target" ] && mv "$target" "$target.old"
mv "$target.new" "$target"
rm -rf "$target.old"

ln -sf "$target/modelledger-cli" "$bin/modelledger"
cp "$here/share/modelledger.png" "$share/icons/hicolor/256x256/apps/modelledger.png"
sed "s|@BUNDLE@|$target|g" "$here/share/modelledger.desktop" \
    > "$share/applications/modelledger.desktop"
command -v update-desktop-database >/dev/null 2>&1 \
    && update-desktop-database -q "$share/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 \
    && gtk-update-icon-cache -q -t "$share/icons/hicolor" || true

echo "ModelLedger installed in $target"
echo "Start it from your desktop's menu, or run: $target/ModelLedger"
echo "Command line: $bin/modelledger --help   (check the installation: modelledger self-test)"
