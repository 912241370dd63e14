"""Writing a file the user chose so that a failure never leaves half of it behind."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from modelledger.core.errors import DiskFullError, InvalidInputError


def write_atomically(destination: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temporary file beside the destination, renamed into place, so a failure
    never leaves a half-written file under the chosen name."""
    temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        # Not tempfile.mkstemp: its files are private (0600), and an export is meant to be
        # shared; os.open lets the user's umask decide, as for any file they save.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                     | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
            os.replace(temporary, destination)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(f"The disk holding {destination.parent} is full; "
                                f"{destination.name} was not written. Free some space and "
                                "try again.") from exc
        raise InvalidInputError(f"Cannot write {destination}: {exc.strerror}. Choose another "
                                "folder.") from exc
