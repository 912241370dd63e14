"""A workspace: one database, its artifact store, and the services over them."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import replace
from pathlib import Path

from modelledger.core.domain import Actor
from modelledger.services.changes.events import ChangeBus
from modelledger.services.changes.unit_of_work import Clock
from modelledger.services.governance.audit import AuditService
from modelledger.services.governance.model_cards import ModelCardService
from modelledger.services.health.chart_data import HealthChartsService
from modelledger.services.identity import keystore
from modelledger.services.identity.service import IdentityService
from modelledger.services.monitoring.service import MonitoringService
from modelledger.services.registry.service import RegistryService
from modelledger.services.training.service import TrainingService
from modelledger.storage.artifacts import ArtifactStore
from modelledger.storage.database import Database
from modelledger.storage.tables import utc_now


def default_user() -> str:
    return os.environ.get("MODELLEDGER_USER") or getpass.getuser()


def plain_keys_folder(sqlite_path: Path | None) -> Path | None:
    """``<db file>.keys`` beside a SQLite file when it exists: the unencrypted keys of the demo
    workspace's people, which are not secret by design (no other workspace has one)."""
    if sqlite_path is None:
        return None
    folder = sqlite_path.with_name(sqlite_path.name + ".keys")
    return folder if folder.is_dir() else None


def default_artifact_root(database: Database) -> Path:
    """``<db file>.artifacts`` beside a SQLite file; for a server database, a folder that the
    team shares, given by MODELLEDGER_ARTIFACTS or else the user's data folder."""
    if database.sqlite_path is not None:
        return database.sqlite_path.with_name(database.sqlite_path.name + ".artifacts")
    configured = os.environ.get("MODELLEDGER_ARTIFACTS")
    if configured:
        return Path(configured).expanduser()
    from modelledger.paths import data_folder

    return data_folder() / "server-artifacts"


class Workspace:
    """``clock`` tells the services what time it is when they write: the real time, except
    for the demo build, which lays out its history on a simulated clock."""

    def __init__(
        self,
        database: Database,
        *,
        user: str | None = None,
        artifact_root: Path | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.database = database
        name = user or default_user()
        self.signer = keystore.WorkstationSigner(name, plain_keys_folder(database.sqlite_path))
        self.actor = Actor(name, socket.gethostname(), signer=self.signer)
        self.artifacts = ArtifactStore(artifact_root or default_artifact_root(database))
        self.clock = clock
        self.changes = ChangeBus()
        self.registry = RegistryService(database, self.artifacts, self.actor, self.changes,
                                        clock=clock)
        self.audit = AuditService(database, clock=clock)
        self.monitoring = MonitoringService(database, self.artifacts, self.actor, self.changes,
                                            clock=clock)
        # What a running scheduler writes: the same service, as the scheduler.
        self.scheduled_monitoring = MonitoringService(database, self.artifacts,
                                                      replace(self.actor, scheduler=True),
                                                      self.changes, clock=clock)
        self.health = HealthChartsService(database)
        self.cards = ModelCardService(database, self.actor, self.changes, clock=clock)
        self.identity = IdentityService(database, self.actor, self.changes, clock=clock)
        self.training = TrainingService(database, self.artifacts, self.actor, self.changes,
                                        self.registry, clock=clock)


    @classmethod
    def open(
        cls,
        target: str | os.PathLike[str],
        *,
        create: bool = False,
        user: str | None = None,
        artifact_root: Path | None = None,
        clock: Clock = utc_now,
    ) -> Workspace:
        """With ``create``, a new workspace gets signed identity at once: the creator is its first
        admin, with their key on this workstation (made now when they have none)."""
        database = Database.open(target, create=create)
        try:
            workspace = cls(database, user=user, artifact_root=artifact_root, clock=clock)
            if create and workspace.audit.head_seq() == 0:
                signer = workspace.signer
                key = signer.key() if signer.present() else keystore.create_key(signer.user)
                workspace.identity.bootstrap(key)
        except BaseException:
            database.close()
            raise
        return workspace

    def as_user(self, user: str) -> Workspace:
        """The same workspace acting as another user (shares the database connection pool and
        the clock)."""
        return Workspace(self.database, user=user, artifact_root=self.artifacts.root,
                         clock=self.clock)

    def close(self) -> None:
        self.database.close()
