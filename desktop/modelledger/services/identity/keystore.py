"""Where each person's private Ed25519 key lives on their workstation: never in the workspace.

In the OS keyring when the machine has one (the key as PKCS#8 PEM, guarded by the OS login);
otherwise in a file in the user data folder (``keys/<user>.key``, mode 0600): the key's PKCS#8
DER, encrypted with AES-256-GCM under a key derived from the person's passphrase with scrypt
(N=2^15, r=8, p=1: about 0.14 s on a workstation, 32 MiB, so guessing passphrases is slow).
The passphrase is asked once per process and held in memory only; headless instances give it in
``MODELLEDGER_PASSPHRASE`` or a file (``--passphrase-file``), never on the command line.

A key made by ModelLedger before signed identity (``<config>/keys/<user>.ed25519``, unencrypted,
for evidence packs) is taken over on first use, so packs it signed keep their fingerprint.
"""

from __future__ import annotations

import errno
import getpass
import json
import logging
import os
import stat
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_private_key,
    load_pem_private_key,
)

from modelledger.core.errors import DiskFullError, InvalidInputError, ModelLedgerError
from modelledger.core.identity import fingerprint_of
from modelledger.paths import DATA_DIR_ENV, config_folder, data_folder

log = logging.getLogger(__name__)

PASSPHRASE_ENV = "MODELLEDGER_PASSPHRASE"
KEYRING_ENV = "MODELLEDGER_KEYRING"  # "off": keep keys in files even where a keyring exists
KEYRING_SERVICE = "ModelLedger signing key"
KEYS_FOLDER = "keys"
KEY_FILE_SUFFIX = ".key"
LEGACY_KEY_SUFFIX = ".ed25519"
FILE_FORMAT = "modelledger-private-key-1"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSPHRASE = 8


class PassphraseNeededError(ModelLedgerError):
    """A key file must be unlocked and no passphrase was given."""

    exit_code = 4


class WrongPassphraseError(ModelLedgerError):
    """The passphrase does not unlock the key file."""

    exit_code = 4


@dataclass(frozen=True)
class SigningKey:
    """One person's unlocked key pair."""

    user: str
    path: Path  # where it is kept: its file, or (for the keyring) the file it would have
    private_key: Ed25519PrivateKey
    public_key: str  # hex of the raw 32 bytes
    fingerprint: str  # SHA-256 of the raw public key, hex

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


class WorkstationSigner:
    """The acting person's key on this workstation, unlocked when a write first needs it (so
    reading a workspace needs no passphrase). ``plain_folder`` holds unencrypted keys that are
    not secret by design: the demo workspace's people (``<demo>.keys``)."""

    def __init__(self, user: str, plain_folder: Path | None = None) -> None:
        self.user = user
        self.plain_folder = plain_folder

    def key(self) -> SigningKey:
        key = None
        if self.plain_folder is not None:
            key = load_plain_key(self.plain_folder, self.user)
        key = key or load_key(self.user)
        if key is None:
            from modelledger.core.identity import NotSignedInError

            raise NotSignedInError(
                f"You are acting as {self.user}, but {self.user}'s key is not on this "
                "workstation; enrol with `modelledger user enroll`, or switch user. Nothing "
                "was written.")
        return key

    def present(self) -> bool:
        return ((self.plain_folder is not None
                 and plain_key_path(self.plain_folder, self.user).exists())
                or has_key(self.user))

    @property
    def fingerprint(self) -> str:
        return self.key().fingerprint

    def sign(self, data: bytes) -> bytes:
        return self.key().sign(data)


def plain_key_path(folder: Path, user: str) -> Path:
    return folder / f"{quote(user, safe='')}.pem"


def load_plain_key(folder: Path, user: str) -> SigningKey | None:
    path = plain_key_path(folder, user)
    return _from_pem(user, path, _read(path), str(path)) if path.exists() else None


def save_plain_key(folder: Path, user: str) -> SigningKey:
    private_key = Ed25519PrivateKey.generate()
    _write_private(plain_key_path(folder, user), private_key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    key = load_plain_key(folder, user)
    assert key is not None
    return key


def signing_key_of(user: str, path: Path, private_key: Ed25519PrivateKey) -> SigningKey:
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return SigningKey(user, path, private_key, raw.hex(), fingerprint_of(raw))


# -- the passphrase ----------------------------------------------------------------------------

_passphrase: str | None = None
_terminal_prompt = True  # off in the window: a prompt on a worker's terminal would hang it
_lock = threading.Lock()
_unlocked: dict[tuple[str, str], SigningKey] = {}  # (user, where) -> key, for this process


def set_passphrase(passphrase: str) -> None:
    """The passphrase for this process (the window's dialog, ``--passphrase-file``)."""
    global _passphrase
    with _lock:
        _passphrase = passphrase


def forbid_terminal_prompt() -> None:
    """The window asks for the passphrase itself; nothing may wait for it on a terminal."""
    global _terminal_prompt
    _terminal_prompt = False


def passphrase_needed(user: str) -> bool:
    """Whether using ``user``'s key here needs a passphrase nobody has given yet: their key is
    in a file (not the keyring) or will be made in one."""
    if _passphrase is not None or os.environ.get(PASSPHRASE_ENV):
        return False
    return _keyring() is None


def read_passphrase_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"Cannot read the passphrase file {path}: {exc.strerror}.") \
            from exc
    passphrase = text.rstrip("\r\n")
    if not passphrase:
        raise InvalidInputError(f"The passphrase file {path} is empty.")
    return passphrase


def _current_passphrase(user: str, *, new: bool) -> str:
    if _passphrase is not None:
        return _passphrase
    configured = os.environ.get(PASSPHRASE_ENV)
    if configured:
        return configured
    if _terminal_prompt and sys.stdin is not None and sys.stdin.isatty():
        prompt = (f"New passphrase for {user}'s signing key: " if new
                  else f"Passphrase of {user}'s signing key: ")
        passphrase = getpass.getpass(prompt)
        if new and getpass.getpass("Again: ") != passphrase:
            raise InvalidInputError("The two passphrases differ; nothing was saved.")
        set_passphrase(passphrase)
        return passphrase
    raise PassphraseNeededError(
        f"{user}'s signing key is kept in a passphrase-protected file and no passphrase was "
        f"given: set {PASSPHRASE_ENV} or use --passphrase-file FILE (never the passphrase "
        "itself on the command line).")


# -- the key store ---------------------------------------------------------------------------------

def key_path(user: str) -> Path:
    """Where ``user``'s key file is (or would be) on this workstation."""
    if not user.strip():
        raise InvalidInputError("A signing key needs a user name; give one (e.g. --user).")
    return data_folder() / KEYS_FOLDER / f"{quote(user, safe='')}{KEY_FILE_SUFFIX}"


def _legacy_key_path(user: str) -> Path:
    return config_folder() / KEYS_FOLDER / f"{quote(user, safe='')}{LEGACY_KEY_SUFFIX}"


def has_key(user: str) -> bool:
    return (_keyring_get(user) is not None or key_path(user).exists()
            or _legacy_key_path(user).exists())


def load_key(user: str) -> SigningKey | None:
    """``user``'s key on this workstation, unlocked; None when there is none."""
    pem = _keyring_get(user)
    if pem is not None:
        return _from_pem(user, key_path(user), pem.encode("ascii"), "the keyring")
    path = key_path(user)
    if path.exists():
        return _load_file(user, path)
    legacy = _legacy_key_path(user)
    if legacy.exists():
        key = _from_pem(user, legacy, _read(legacy), str(legacy))
        save_key(key.user, key.private_key)
        log.info("took over %s's evidence-pack key %s into the key store", user, legacy)
        return load_key(user)
    return None


def create_key(user: str) -> SigningKey:
    """A new key for ``user``, saved; refused when they already have one here."""
    if has_key(user):
        raise InvalidInputError(
            f"{user} already has a key on this workstation ({_where(user)}); use it, or rotate "
            "it with `modelledger user rotate`.")
    save_key(user, Ed25519PrivateKey.generate())
    key = load_key(user)
    assert key is not None
    return key


def new_key(user: str) -> SigningKey:
    """A fresh key for ``user``, not yet kept anywhere (a rotation keeps it once recorded)."""
    return signing_key_of(user, key_path(user), Ed25519PrivateKey.generate())


def save_key(user: str, private_key: Ed25519PrivateKey) -> None:
    """Keep ``private_key`` as ``user``'s key here, in place of any key they had."""
    with _lock:
        for cached in [entry for entry in _unlocked if entry[0] == user]:
            del _unlocked[cached]
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    if _keyring_set(user, pem.decode("ascii")):
        return
    passphrase = _current_passphrase(user, new=True)
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInputError(f"A passphrase needs at least {MIN_PASSPHRASE} characters.")
    salt = os.urandom(16)
    nonce = os.urandom(12)
    secret = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(
        passphrase.encode("utf-8"))
    der = private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    document = {
        "format": FILE_FORMAT, "user": user,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                "salt": salt.hex()},
        "cipher": {"name": "AES-256-GCM", "nonce": nonce.hex()},
        "pkcs8": AESGCM(secret).encrypt(nonce, der, user.encode("utf-8")).hex(),
    }
    _write_private(key_path(user), json.dumps(document, indent=1).encode("utf-8"))


def _where(user: str) -> str:
    return "in the keyring" if _keyring_get(user) is not None else str(key_path(user))


def _load_file(user: str, path: Path) -> SigningKey:
    where = str(path)
    with _lock:
        cached = _unlocked.get((user, where))
    if cached is not None:
        return cached
    data = _read(path)
    _keep_private(path)
    try:
        document = json.loads(data)
        if document.get("format") != FILE_FORMAT:
            raise ValueError("unknown format")
        kdf, cipher = document["kdf"], document["cipher"]
        salt, nonce = bytes.fromhex(kdf["salt"]), bytes.fromhex(cipher["nonce"])
        sealed = bytes.fromhex(document["pkcs8"])
        owner = document["user"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _unreadable(path, "it is not a ModelLedger key file") from exc
    secret = Scrypt(salt=salt, length=32, n=int(kdf["n"]), r=int(kdf["r"]),
                    p=int(kdf["p"])).derive(_current_passphrase(user, new=False).encode("utf-8"))
    try:
        der = AESGCM(secret).decrypt(nonce, sealed, owner.encode("utf-8"))
    except InvalidTag as exc:
        raise WrongPassphraseError(
            f"The passphrase does not unlock {user}'s key ({path}). Check it (it is "
            f"case-sensitive) and try again.") from exc
    try:
        private_key = load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _unreadable(path, str(exc)) from exc
    if not isinstance(private_key, Ed25519PrivateKey):
        raise _unreadable(path, "it is not an Ed25519 key")
    key = signing_key_of(user, path, private_key)
    with _lock:
        _unlocked[(user, where)] = key
    return key


def _from_pem(user: str, path: Path, pem: bytes, where: str) -> SigningKey:
    try:
        private_key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _unreadable(path, f"{where} holds no key ModelLedger can use: {exc}") from exc
    if not isinstance(private_key, Ed25519PrivateKey):
        raise _unreadable(path, "it is not an Ed25519 key")
    return signing_key_of(user, path, private_key)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelLedgerError(f"Cannot read your signing key {path}: {exc.strerror}.") from exc


def _unreadable(path: Path, reason: str) -> ModelLedgerError:
    return ModelLedgerError(
        f"{path} is not a signing key ModelLedger can use ({reason}). If it was moved or edited, "
        "put the original back; otherwise delete it and enrol a new key (events signed with the "
        "old key still verify, under the old fingerprint).")


def _write_private(path: Path, data: bytes) -> None:
    """Through a temporary file that mkstemp makes private (0600), renamed into place."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".new-key-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(f"The disk holding {path.parent} is full, so no signing key "
                                "could be saved. Free some space and try again.") from exc
        raise ModelLedgerError(
            f"Cannot save a signing key in {path.parent}: {exc.strerror}. Make that folder "
            f"writable, or set {DATA_DIR_ENV} to a folder of your own.") from exc
    log.info("saved a signing key in %s", path)


def _keep_private(path: Path) -> None:
    """A key file others can read is tightened to 0600 rather than refused: the user cannot
    undo a leak, but can stop a further one."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s could be read by others (mode %o); made it private (0600)", path, mode)
        path.chmod(0o600)


# -- the OS keyring ------------------------------------------------------------------------------

def _keyring():
    """The OS keyring, or None where there is none (a headless Linux box, CI)."""
    if os.environ.get(KEYRING_ENV) == "off":
        return None
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    return backend


def _keyring_get(user: str) -> str | None:
    backend = _keyring()
    if backend is None:
        return None
    try:
        return backend.get_password(KEYRING_SERVICE, user)
    except Exception as exc:  # keyring backends raise their own errors (locked, no D-Bus)
        log.warning("the keyring could not be read (%s); using key files", exc)
        return None


def _keyring_set(user: str, pem: str) -> bool:
    backend = _keyring()
    if backend is None:
        return False
    try:
        backend.set_password(KEYRING_SERVICE, user, pem)
    except Exception as exc:  # as above
        log.warning("the keyring refused the key (%s); keeping it in a file", exc)
        return False
    return True

