"""Content-addressed artifact store: ``<root>/sha256/ab/cdef...``.

Files are written to a temporary name in the store, fsynced and renamed into place, so a crash
or a full disk never leaves a partial file under a hash name. The hash is checked again on every
read: a file that was changed or truncated on disk is refused.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from modelledger.core.errors import ArtifactIntegrityError, DiskFullError, InvalidInputError

CHUNK_SIZE = 1 << 20

ProgressCallback = Callable[[int, int], None]


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256[2:]

    def put(self, source: Path, progress: ProgressCallback | None = None) -> tuple[str, int]:
        """Copy ``source`` into the store; returns (sha256, size). Idempotent per content."""
        if not source.is_file():
            raise InvalidInputError(f"{source} does not exist or is not a file.")
        total = source.stat().st_size
        staging = self.root / "tmp"
        try:
            staging.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            copied = 0
            fd, temp_name = tempfile.mkstemp(dir=staging, prefix="incoming-")
            try:
                with source.open("rb") as reader, os.fdopen(fd, "wb") as writer:
                    while chunk := reader.read(CHUNK_SIZE):
                        digest.update(chunk)
                        writer.write(chunk)
                        copied += len(chunk)
                        if progress is not None:
                            progress(copied, total)
                    writer.flush()
                    os.fsync(writer.fileno())
                sha256 = digest.hexdigest()
                final = self.path_for(sha256)
                if final.exists() and file_sha256(final) == sha256:
                    os.unlink(temp_name)
                else:
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(temp_name, final)
            except BaseException:
                if os.path.exists(temp_name):
                    os.unlink(temp_name)
                raise
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"The disk holding {self.root} is full; the model file was not imported. "
                    "Free some space and try again."
                ) from exc
            if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
                raise InvalidInputError(
                    f"Cannot write to the artifact store {self.root}: {exc.strerror}."
                ) from exc
            raise
        return sha256, copied

    def verified_path(self, sha256: str) -> Path:
        """The stored file for ``sha256``, after checking its bytes still match the hash."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise ArtifactIntegrityError(
                f"The artifact {sha256[:12]}... is missing from {self.root}. Restore the "
                "artifact folder from a backup, or import the model file again."
            )
        if file_sha256(path) != sha256:
            raise ArtifactIntegrityError(
                f"The artifact {sha256[:12]}... in {self.root} was modified after it was stored "
                "(its SHA-256 no longer matches). It will not be loaded; restore it from a "
                "backup or import the original file again."
            )
        return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()
