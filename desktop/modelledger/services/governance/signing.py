"""Registering a person's public key in a workspace for the evidence packs they sign.

The key is the person's one key, kept on their workstation by services.identity.keystore (the
same key signs their decisions). The workspace keeps only public keys, each registered together
with an audit event in one transaction, so that a verifier holding nothing but a pack can tell a
key the workspace knows from an unknown one.
"""

from __future__ import annotations

from modelledger.core.domain import Actor
from modelledger.core.errors import InvalidInputError, ModelLedgerError
from modelledger.core.evidence import KEY_ENTITY_TYPE, KEY_REGISTERED_ACTION
from modelledger.services.changes.events import ChangeBus
from modelledger.services.changes.unit_of_work import audited_write
from modelledger.services.identity.keystore import (
    SigningKey,
    WorkstationSigner,
    create_key,
    key_path,
    load_key,
)
from modelledger.storage import signing_keys_repo
from modelledger.storage.database import Database


def signing_key_path(user: str):
    """Where ``user``'s key file is (or would be) on this workstation."""
    return key_path(user)


def load_or_create_signing_key(user: str) -> SigningKey:
    """``user``'s key on this workstation, made on first use."""
    return load_key(user) or create_key(user)


def register_own_signing_key(database: Database, actor: Actor) -> SigningKey:
    """The actor's signing key, registered in the workspace (once; later calls change nothing)."""
    signer = actor.signer
    if isinstance(signer, WorkstationSigner) and signer.present():
        key = signer.key()  # the demo's people keep theirs beside the demo workspace
    else:
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
