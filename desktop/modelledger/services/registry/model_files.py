"""Recognising model files and loading them without running untrusted code.

The format is decided from the file's bytes, never from its name, so a pickle renamed to
``.skops`` is still treated as a pickle. skops files are loaded with an allowlist that lives
here, in the application; a pickle or joblib file is unpickled only after the user has recorded
that they trust it (unpickling runs whatever code the file contains).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

from modelledger.core.domain import ArtifactFormat
from modelledger.core.errors import InvalidModelFileError, UntrustedModelError

log = logging.getLogger(__name__)

# Types skops may construct when it loads a model: scikit-learn estimators and the numpy/scipy
# containers they hold. A type outside these is refused with its name in the message.
SKOPS_ALLOWED_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.sparse.",
    "scipy.special.",
    "builtins.",
    "collections.",
)
SKOPS_ALLOWED_NAMES = frozenset({"functools.partial", "operator.itemgetter"})

_PICKLE_PROTOCOL_BYTE = b"\x80"
_ZLIB_MARKERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
_JOBLIB_COMPRESSED_MARKERS = (b"ZF", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x5d\x00\x00")
_ONNX_SUFFIX = ".onnx"


def detect_format(path: Path) -> ArtifactFormat:
    """What the file really is, from its content."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise InvalidModelFileError(f"Cannot read {path}: {exc.strerror}.") from exc
    if not head:
        raise InvalidModelFileError(f"{path.name} is empty; it is not a model file.")
    if head.startswith(b"PK"):
        if _is_skops_archive(path):
            return ArtifactFormat.SKOPS
        raise InvalidModelFileError(
            f"{path.name} is a zip archive but not a skops model (it has no schema.json). "
            "Save the model with skops.io.dump, or choose the right file."
        )
    if head.startswith(_PICKLE_PROTOCOL_BYTE):
        suffix = path.suffix.lower()
        return ArtifactFormat.JOBLIB if suffix in (".joblib", ".jbl") else ArtifactFormat.PICKLE
    if head.startswith(_ZLIB_MARKERS + _JOBLIB_COMPRESSED_MARKERS):
        return ArtifactFormat.JOBLIB
    if path.suffix.lower() == _ONNX_SUFFIX:
        return ArtifactFormat.ONNX
    claimed = path.suffix.lower()
    if claimed in (".skops", ".pkl", ".pickle", ".joblib", ".jbl", ".sav"):
        raise InvalidModelFileError(
            f"{path.name} says it is a {claimed} model file, but its content is not one. "
            "Choose the file the model was saved to."
        )
    return ArtifactFormat.OTHER


def _is_skops_archive(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "schema.json" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def disallowed_skops_types(path: Path) -> list[str]:
    from skops.io import get_untrusted_types

    try:
        untrusted = get_untrusted_types(file=path)
    except Exception as exc:  # skops raises many kinds for a damaged archive
        raise InvalidModelFileError(f"{path.name} is not a readable skops file: {exc}") from exc
    return sorted(
        name
        for name in untrusted
        if name not in SKOPS_ALLOWED_NAMES and not name.startswith(SKOPS_ALLOWED_PREFIXES)
    )


def load_model_file(path: Path, file_format: ArtifactFormat, *, trusted: bool) -> Any:
    """Load a model object; refuses anything that could run code unless ``trusted``."""
    if file_format is ArtifactFormat.SKOPS:
        disallowed = disallowed_skops_types(path)
        if disallowed:
            raise UntrustedModelError(
                f"{path.name} contains types ModelLedger does not load: {', '.join(disallowed)}. "
                "Only scikit-learn, numpy and scipy types are allowed in skops files."
            )
        from skops.io import get_untrusted_types, load

        try:
            return load(path, trusted=get_untrusted_types(file=path))
        except Exception as exc:
            raise InvalidModelFileError(f"{path.name} could not be loaded: {exc}") from exc
    if file_format.executes_code_on_load:
        if not trusted:
            raise UntrustedModelError(
                f"{path.name} is a {file_format.value} file. Loading it runs any code it "
                "contains, so ModelLedger loads it only after someone records that they trust "
                "its source (CLI: --trust-pickle \"reason\"; the decision is audited). Prefer "
                "saving models with skops."
            )
        import joblib

        log.warning("unpickling trusted artifact %s", path)
        try:
            return joblib.load(path)
        except Exception as exc:
            raise InvalidModelFileError(f"{path.name} could not be unpickled: {exc}") from exc
    raise InvalidModelFileError(
        f"{path.name} is stored as a {file_format.value} artifact, which ModelLedger records "
        "but does not load."
    )
