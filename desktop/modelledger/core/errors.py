"""Known errors: situations a user can understand and act on.

Everything raised from here is shown to the user as a message (CLI: one line on stderr and a
non-zero exit code; GUI: a dialog). Anything else that escapes is a bug and gets a crash report.
Each message says what is wrong and what to do about it.
"""

from __future__ import annotations


class ModelLedgerError(Exception):
    """Base of all known errors; ``str(error)`` is the message for the user."""

    exit_code = 1


class NotFoundError(ModelLedgerError):
    """A model, version, request or workspace that does not exist."""


class InvalidInputError(ModelLedgerError):
    """Input that fails validation (names, values, files)."""

    exit_code = 2


class LifecycleError(ModelLedgerError):
    """A stage transition the lifecycle rules do not allow."""


class FourEyesError(LifecycleError):
    """An approval by the same person who asked for it."""


class ConcurrentEditError(ModelLedgerError):
    """Someone else changed the record after it was read."""


class DatabaseBusyError(ModelLedgerError):
    """The database stayed locked by another writer for longer than we wait."""


class ReadOnlyWorkspaceError(ModelLedgerError):
    """A write to a workspace that is open read-only."""


class NewerSchemaError(ModelLedgerError):
    """The workspace was written by a newer ModelLedger."""


class CorruptDatabaseError(ModelLedgerError):
    """The file is not a ModelLedger workspace or is damaged."""


class DiskFullError(ModelLedgerError):
    """The disk holding the workspace or its artifacts is full."""


class ArtifactIntegrityError(ModelLedgerError):
    """A stored artifact is missing or its bytes no longer match the recorded hash."""


class UntrustedModelError(ModelLedgerError):
    """A model file that cannot be loaded safely without an explicit trust step."""


class InvalidModelFileError(InvalidInputError):
    """A file that is not the kind of model file it claims to be."""
