"""Each person's Ed25519 signing key, and registering its public half in a workspace.

The private key lives in the user's config folder (``keys/<user>.ed25519``, PKCS#8 PEM, file mode
0600) and never in the shared database: anyone who can write that file could otherwise sign as
anyone. A key is made on first use. The workspace keeps only public keys, each registered
together with an audit event in one transaction, so that a verifier holding nothing but a pack
can tell a key the workspace knows from an unknown one.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from modelledger.core.domain import Actor
from modelledger.core.errors import DiskFullError, InvalidInputError, ModelLedgerError
from modelledger.core.evidence import KEY_ENTITY_TYPE, KEY_REGISTERED_ACTION, fingerprint_of
from modelledger.paths import CONFIG_DIR_ENV, config_folder
from modelledger.services.changes.events import ChangeBus
from modelledger.services.changes.unit_of_work import audited_write
from modelledger.storage import signing_keys_repo
from modelledger.storage.database import Database

log = logging.getLogger(__name__)

KEYS_FOLDER = "keys"
KEY_FILE_SUFFIX = ".ed25519"


@dataclass(frozen=True)
class SigningKey:
    """One person's key pair, loaded from their config folder."""

    user: str
    path: Path
    private_key: Ed25519PrivateKey
    public_key: str  # hex of the raw 32 bytes
    fingerprint: str  # SHA-256 of the raw public key, hex

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def signing_key_path(user: str) -> Path:
    """Where ``user``'s private key is kept; any user name gives a plain file name."""
    if not user.strip():
        raise InvalidInputError("A signing key needs a user name; give one (e.g. --user).")
    return config_folder() / KEYS_FOLDER / f"{quote(user, safe='')}{KEY_FILE_SUFFIX}"


def load_or_create_signing_key(user: str) -> SigningKey:
    """``user``'s signing key, made and saved on first use."""
    path = signing_key_path(user)
    if not path.exists():
        _create_key_file(path)
    return _load_key_file(user, path)


def register_own_signing_key(database: Database, actor: Actor) -> SigningKey:
    """The actor's signing key, registered in the workspace (once; later calls change nothing)."""
    key = load_or_create_signing_key(actor.user)
    registered = database.read(
        lambda conn: signing_keys_repo.find_signing_key(conn, key.fingerprint))
    if registered is None:
        audited_write(database, actor, ChangeBus(), lambda conn, audit, now: _register(
            conn, audit, now, key))
    elif registered.user != key.user:
        raise _key_of_someone_else(key, registered.user)
    return key


def _register(conn, audit, now, key: SigningKey) -> None:
    # Read again inside the write transaction: another instance may have registered it since.
    registered = signing_keys_repo.find_signing_key(conn, key.fingerprint)
    if registered is not None:
        if registered.user != key.user:
            raise _key_of_someone_else(key, registered.user)
        return
    signing_keys_repo.insert_signing_key(conn, key.user, key.fingerprint, key.public_key, now)
    audit.append(KEY_REGISTERED_ACTION, KEY_ENTITY_TYPE, key.fingerprint,
                 after={"user": key.user, "fingerprint": key.fingerprint,
                        "public_key": key.public_key},
                 reason="public key for signing evidence packs")


def _key_of_someone_else(key: SigningKey, owner: str) -> ModelLedgerError:
    return InvalidInputError(
        f"The signing key in {key.path} is registered to {owner} in this workspace, and each "
        f"person needs their own. Delete that file and a new key will be made for {key.user}.")


def _create_key_file(path: Path) -> None:
    """Write a new key through a temporary file that mkstemp makes private (0600), then link it
    into place: unlike a rename, a link never replaces a key another process made meanwhile."""
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                     NoEncryption())
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".new-key-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                log.info("another process made %s first; using that key", path)
        finally:
            os.unlink(temporary)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(f"The disk holding {path.parent} is full, so no signing key "
                                "could be saved. Free some space and try again.") from exc
        raise ModelLedgerError(
            f"Cannot save a signing key in {path.parent}: {exc.strerror}. Make that folder "
            f"writable, or set {CONFIG_DIR_ENV} to a folder of your own.") from exc
    log.info("made a new signing key %s", path)


def _load_key_file(user: str, path: Path) -> SigningKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLedgerError(f"Cannot read your signing key {path}: {exc.strerror}.") from exc
    try:
        private_key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _unreadable_key(path, str(exc)) from exc
    if not isinstance(private_key, Ed25519PrivateKey):
        raise _unreadable_key(path, "it is not an Ed25519 key")
    _keep_private(path)
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return SigningKey(user, path, private_key, raw.hex(), fingerprint_of(raw))


def _unreadable_key(path: Path, reason: str) -> ModelLedgerError:
    return ModelLedgerError(
        f"{path} is not a signing key ModelLedger can use ({reason}). If it was moved or edited, "
        "put the original back; otherwise delete it and a new key will be made (packs signed "
        "with the old key still verify, under the old fingerprint).")


def _keep_private(path: Path) -> None:
    """A key file others can read is tightened to 0600 rather than refused: the user cannot
    undo a leak, but can stop a further one."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s could be read by others (mode %o); made it private (0600)", path, mode)
        path.chmod(0o600)
