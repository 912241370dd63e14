"""Signing keys for a benchmark's workspaces: made in a folder of the benchmark's own under a
fixed passphrase, so that a run needs no keyring, asks nothing and leaves the user's keys as
they were. Imported by the benchmarks that write (they run from the repository root as
``python benchmarks/NAME.py``, which puts this folder on the import path)."""

from __future__ import annotations

import os
from pathlib import Path


def use_scratch_keys(folder: Path) -> None:
    """Keep every key made from now on in ``folder`` (call before importing modelledger)."""
    for variable in ("MODELLEDGER_CONFIG_DIR", "MODELLEDGER_DATA_DIR"):
        os.environ[variable] = str(folder / variable.lower())
    os.environ["MODELLEDGER_KEYRING"] = "off"
    os.environ["MODELLEDGER_PASSPHRASE"] = "benchmark passphrase"
