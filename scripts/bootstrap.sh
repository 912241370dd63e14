# Shared set-up for scripts/demo.sh and scripts/test.sh: Debian packages, .venv, Python packages.
# Sourced, not run. Everything it installs is listed here, so a fresh machine gets the same.

VENV=.venv

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else log "need root to run: $*"; return 1
    fi
}

# ensure_debian_packages PKG... : install the ones that are missing (no-op when all present).
ensure_debian_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        log "please install these packages with your system's package manager: ${missing[*]}"
        return 1
    fi
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    return 1
}

# ensure_venv EXTRAS : create .venv and install the project (editable) with the given extras.
ensure_venv() {
    local extras="$1" python stamp
    if [ ! -x "$VENV/bin/python" ]; then
        python=$(find_python) || {
            ensure_debian_packages python3 python3-venv python3-pip
            python=$(find_python) || { log "ModelLedger needs Python 3.11 or newer"; return 1; }
        }
        if ! "$python" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            ensure_debian_packages python3-venv
            "$python" -m venv "$VENV"
        fi
        "$VENV/bin/python" -m pip install -q --upgrade pip
    fi
    stamp="$VENV/.installed-$extras-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        log "installing Python packages into $VENV (first run takes a few minutes)"
        "$VENV/bin/python" -m pip install -q -e ".[$extras]"
        rm -f "$VENV"/.installed-"$extras"-*
        touch "$stamp"
    fi
}

# Libraries Qt's xcb platform plugin needs for a real window (X11 or Xvfb).
QT_XCB_PACKAGES="libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0 libegl1
 libfontconfig1 libdbus-1-3 fonts-dejavu-core"
