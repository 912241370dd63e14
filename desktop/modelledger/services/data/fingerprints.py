"""Fingerprints of training data: enough to prove later which data a version was trained on."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from modelledger.core.errors import InvalidInputError
from modelledger.services.data.sources import read_table
from modelledger.storage.artifacts import file_sha256


def fingerprint_frame(frame: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(fingerprint, feature schema) of a pandas DataFrame, independent of how it was stored."""
    import pandas as pd

    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.sha256(row_hashes.tobytes())
    digest.update("|".join(map(str, frame.columns)).encode("utf-8"))
    schema = [{"name": str(name), "dtype": str(dtype)} for name, dtype in frame.dtypes.items()]
    fingerprint = {
        "content_sha256": digest.hexdigest(),
        "rows": len(frame),
        "columns": len(frame.columns),
    }
    return fingerprint, schema


def fingerprint_file(path: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Fingerprint a CSV, Parquet or Excel file: its bytes' hash plus its content's."""
    frame = read_table(path, "Training data")
    if frame.empty:
        raise InvalidInputError(f"Training data {path.name} has no rows.")
    fingerprint, schema = fingerprint_frame(frame)
    fingerprint = {"file": path.name, "file_sha256": file_sha256(path), **fingerprint}
    return fingerprint, schema
