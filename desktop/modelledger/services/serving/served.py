"""The versions a server holds, and the hot swap that follows promotions.

A `ServedVersion` is immutable: a request takes the one current for its reference once and
scores on it to the end, so a swap never changes a request half-way. A watcher thread reads the
audit head every second (any write by any process moves it); when it moved, each reference that
follows an alias is resolved again and a new version is loaded, its hash verified by the
artifact store, warmed with one prediction and only then put in place of the old one.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from modelledger.core.domain import ModelVersion
from modelledger.core.errors import ModelLedgerError
from modelledger.services.registry.service import RegistryService
from modelledger.services.serving import references
from modelledger.services.serving.payloads import FeatureSchema, Rows
from modelledger.services.serving.references import ModelReference
from modelledger.storage.database import Database

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


@dataclass(frozen=True)
class ServedVersion:
    reference: ModelReference
    version: ModelVersion
    estimator: Any
    schema: FeatureSchema
    # Whether the estimator gives the same answers for the frame's values as a plain float
    # matrix: then it is handed the matrix, which skips scikit-learn's per-column DataFrame
    # checks (two thirds of a one-row prediction's time); the payload checks did that work.
    takes_matrix: bool = False
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def number(self) -> int:
        return self.version.version_number

    @property
    def header(self) -> str:
        """The X-Model-Version header: ``name/3``."""
        return f"{self.version.model_name}/{self.number}"

    def predict(self, rows: Rows, method: str = "predict") -> Any:
        scorer = getattr(self.estimator, method)
        return scorer(rows.matrix if self.takes_matrix else rows.frame)

    def describe(self) -> dict[str, Any]:
        artifact = self.version.artifact
        return {"model": self.version.model_name, "version": self.number,
                "stage": self.version.stage.value,
                "sha256": artifact.sha256 if artifact else None,
                "loaded_at": self.loaded_at.isoformat(timespec="seconds")}


class ServedModels:
    """The references a server answers for, each with its current version."""

    def __init__(self, database: Database, registry: RegistryService,
                 head_seq: Callable[[], int], *, poll_seconds: float = POLL_SECONDS) -> None:
        self._db = database
        self._registry = registry
        self._head_seq = head_seq
        self._poll_seconds = poll_seconds
        self._current: dict[ModelReference, ServedVersion] = {}
        self._last_input: dict[ModelReference, Rows] = {}
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._seen_head = head_seq()
        self.on_workspace_changed: list[Callable[[], None]] = []

    # -- the request path -----------------------------------------------------------------------

    def current(self, reference: ModelReference) -> ServedVersion | None:
        return self._current.get(reference)

    def remember_input(self, reference: ModelReference, rows: Rows) -> None:
        """Rows that scored well: what the next version of this reference is warmed with."""
        self._last_input[reference] = rows

    def load(self, reference: ModelReference) -> ServedVersion:
        """The reference's version, loaded now if this server has not held it yet (slow: reads
        and verifies the artifact; call it off the event loop)."""
        with self._load_lock:
            served = self._current.get(reference)
            if served is None:
                version = self._db.read(lambda conn: references.resolve(conn, reference))
                served = self._loaded(reference, version)
                self._current[reference] = served
                log.info("serving %s as %s", reference, served.header)
            return served

    def served(self) -> list[ServedVersion]:
        return list(self._current.values())

    # -- hot swap -------------------------------------------------------------------------------

    def start_watching(self) -> None:
        self._watcher = threading.Thread(target=self._watch, name="serving-watcher", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.check_for_changes()
            except ModelLedgerError as error:  # a locked or unreachable database: next poll
                log.warning("could not check the workspace for promotions: %s", error)
            except Exception:
                log.exception("checking the workspace for promotions failed")

    def check_for_changes(self) -> None:
        head = self._head_seq()
        if head == self._seen_head:
            return
        self._seen_head = head
        for listener in self.on_workspace_changed:
            listener()
        with self._load_lock:  # a request may be adding a reference meanwhile
            following = [r for r in self._current if r.follows_promotions]
        for reference in following:
            self._follow(reference)

    def _follow(self, reference: ModelReference) -> None:
        old = self._current[reference]
        try:
            version = self._db.read(lambda conn: references.resolve(conn, reference))
        except ModelLedgerError as error:
            log.warning("%s: %s; still serving %s", reference, error, old.header)
            return
        if version.id == old.version.id:
            return
        try:
            new = self._loaded(reference, version)
        except ModelLedgerError as error:
            log.error("%s moved to v%d but it cannot be served (%s); still serving %s",
                      reference, version.version_number, error, old.header)
            return
        except Exception:
            log.exception("%s moved to v%d but warming it failed; still serving %s",
                          reference, version.version_number, old.header)
            return
        with self._load_lock:
            self._current[reference] = new
        log.info("%s now served by %s (was %s)", reference, new.header, old.header)

    def _loaded(self, reference: ModelReference, version: ModelVersion) -> ServedVersion:
        return loaded_version(self._registry, reference, version,
                              lambda schema: self._warm_frame(reference, schema))

    def _warm_frame(self, reference: ModelReference, schema: FeatureSchema) -> pd.DataFrame:
        recent = self._last_input.get(reference)
        if recent is not None and set(schema.names) <= set(recent.names):
            return recent.frame.iloc[:1][list(schema.names)]
        return schema.example_row()


def hand_matrices_quietly() -> None:
    """Versions that take a float matrix (`ServedVersion.takes_matrix`) are handed one in the
    columns they were fitted on, which scikit-learn would warn about on every call. For the
    processes that serve or batch-score."""
    warnings.filterwarnings("ignore", message="X does not have valid feature names",
                            category=UserWarning)


def loaded_version(registry: RegistryService, reference: ModelReference, version: ModelVersion,
                   warm_frame: Callable[[FeatureSchema], pd.DataFrame] | None = None
                   ) -> ServedVersion:
    """``version`` loaded (hash verified, trust checked) and warmed with one prediction."""
    estimator = registry.load_model(version.model_name, version.version_number)
    feature_names = [str(name) for name in getattr(estimator, "feature_names_in_", ())]
    schema = FeatureSchema.from_version(version.feature_schema, feature_names)
    warm = warm_frame(schema) if warm_frame else schema.example_row()
    answer = estimator.predict(warm)
    takes_matrix = (schema.all_numeric and tuple(feature_names) == schema.names
                    and _same_answer_for_matrix(estimator, warm, answer))
    return ServedVersion(reference, version, estimator, schema, takes_matrix)


def _same_answer_for_matrix(estimator: Any, frame: pd.DataFrame, answer: Any) -> bool:
    """Whether ``estimator`` scores ``frame``'s values as a float matrix just as it scored the
    frame (not so for a pipeline that selects columns by name, for instance)."""
    try:
        return bool(np.array_equal(estimator.predict(frame.to_numpy(dtype=np.float64)), answer))
    except Exception:  # any estimator-specific refusal of a matrix means: keep the frame
        return False
