#!/usr/bin/env bash
# Run every check: lint, then the whole test suite (core, storage, services, CLI, PostgreSQL,
# multi-process, Qt widgets offscreen). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
# postgresql: the tests start a throw-away server of their own on 127.0.0.1.
# poppler-utils: the PDF tests count pages and read text with pdfinfo and pdftotext.
# desktop-file-utils: the Linux menu entry is checked with desktop-file-validate.
# shellcheck disable=SC2086
ensure_debian_packages postgresql poppler-utils desktop-file-utils $QT_XCB_PACKAGES
ensure_venv test
export QT_QPA_PLATFORM=offscreen
log "ruff"
"$VENV/bin/ruff" check desktop tests benchmarks scripts installer
log "lint-imports (the layer and feature contracts in pyproject.toml)"
"$VENV/bin/lint-imports" --no-cache --no-logo
log "pytest"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
