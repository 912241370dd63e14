#!/usr/bin/env bash
# The comparison peer for registry_bench.py: MLflow 3.x with its SQLite model registry, in a
# virtual environment of its own so that it never mixes with ModelLedger's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-peer/bin/python ] || ! .venv-peer/bin/python -c "import mlflow" 2>/dev/null; then
    python3 -m venv .venv-peer
    .venv-peer/bin/python -m pip install -q --upgrade pip
    .venv-peer/bin/python -m pip install -q "mlflow>=3,<4"
fi
.venv-peer/bin/python -c "import mlflow; print('peer: MLflow', mlflow.__version__)"
