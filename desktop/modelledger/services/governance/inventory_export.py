"""The model inventory as a CSV file, for spreadsheets and reviews."""

from __future__ import annotations

import csv
import errno
import os
import tempfile
from pathlib import Path

from modelledger.core.errors import DiskFullError, InvalidInputError
from modelledger.services.registry.service import RegistryService

INVENTORY_CSV_COLUMNS = ("name", "owner", "risk_tier", "status", "current_stage",
                         "production_version", "latest_version", "version_count", "purpose",
                         "intended_use", "tags", "description", "created_by", "created_at",
                         "updated_at")


def write_inventory_csv(registry: RegistryService, destination: Path) -> int:
    """Write every model to ``destination``; returns the number of models written.

    Written to a temporary file beside the destination and renamed, so a failure (a full
    disk) never leaves a half-written CSV under the chosen name.
    """
    summaries = registry.list_models()
    try:
        _write_atomically(destination, summaries)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(f"The disk holding {destination.parent} is full; the inventory "
                                "was not exported. Free some space and try again.") from exc
        raise InvalidInputError(f"Cannot write {destination}: {exc.strerror}. Choose another "
                                "folder.") from exc
    return len(summaries)


def _write_atomically(destination: Path, summaries) -> None:
    fd, temporary = tempfile.mkstemp(dir=destination.parent, prefix=".inventory-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(INVENTORY_CSV_COLUMNS)
            for summary in summaries:
                model = summary.model
                writer.writerow([
                    model.name, model.owner, model.risk_tier.value, model.status.value,
                    summary.current_stage.value if summary.current_stage else "",
                    summary.production_version or "", summary.latest_version or "",
                    summary.version_count, model.purpose, model.intended_use,
                    ";".join(model.tags), model.description, model.created_by,
                    model.created_at.isoformat(), model.updated_at.isoformat(),
                ])
        os.replace(temporary, destination)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
