#!/usr/bin/env bash
# Start ModelLedger on the demo workspace (built on first run), installing what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
# shellcheck disable=SC2086
ensure_debian_packages $QT_XCB_PACKAGES || log "continuing without: the window may not open"
ensure_venv test
exec "$VENV/bin/modelledger" --demo "$@"
