"""What an audit event is about, as a reader would name it, for a whole page of events at once.

An event stores its subject as a type and an id: a model's name, ``model/v3`` for a version, an
alert's number, an artifact's SHA-256. `subject_labels` turns a batch of them into text ("Incident
#12 · credit-risk / drift: PSI of income 0.31 (critical) · v3", "model.skops of credit-risk
v2", "ref.csv (reference) of credit-risk / drift") with one query per kind of subject that
needs the database, never one per event.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from modelledger.core.identity import KEY_ENTITY, short_fingerprint
from modelledger.storage.tables import (
    alerts,
    artifacts,
    identity_keys,
    model_versions,
    monitor_runs,
    monitors,
    registered_models,
)

Subject = tuple[str, str]  # (entity_type, entity_id)


def subject_labels(conn: Connection, subjects: Iterable[Subject]) -> dict[Subject, str]:
    """A label for each subject that has a better name than its id; others are left out."""
    wanted = set(subjects)
    labels: dict[Subject, str] = {}
    for entity_type, entity_id in wanted:
        label = _label_from_id(entity_type, entity_id)
        if label is not None:
            labels[(entity_type, entity_id)] = label
    by_type: dict[str, set[str]] = {}
    for entity_type, entity_id in wanted:
        by_type.setdefault(entity_type, set()).add(entity_id)
    alert_ids = {int(i) for i in by_type.get("alert", ()) if i.isdigit()}
    if alert_ids:
        labels.update(_alert_labels(conn, alert_ids))
    if by_type.get("artifact"):
        labels.update(_artifact_labels(conn, by_type["artifact"]))
    if by_type.get(KEY_ENTITY):
        labels.update(_key_labels(conn, by_type[KEY_ENTITY]))
    return labels


def _label_from_id(entity_type: str, entity_id: str) -> str | None:
    """Subjects whose id already holds their names: only the wording changes."""
    if entity_type == "version" and "/v" in entity_id:
        model, _, number = entity_id.rpartition("/v")
        return f"{model} v{number}"
    if entity_type == "monitor" and "/" in entity_id:
        model, _, name = entity_id.partition("/")
        return f"monitor {name} of {model}"
    if entity_type == "promotion_request" and "/request-" in entity_id:
        version, _, number = entity_id.rpartition("/request-")
        model, _, version_number = version.rpartition("/v")
        return f"promotion request #{number} for {model} v{version_number}"
    if entity_type == "training_recipe" and "/r" in entity_id:
        model, _, number = entity_id.rpartition("/r")
        return f"training recipe r{number} of {model}"
    if entity_type == "training_run" and "/claim" in entity_id:
        model, _, number = entity_id.rpartition("/claim")
        return f"retrain #{number} claimed for {model}"
    if entity_type == "training_run" and "/" in entity_id:
        model, _, number = entity_id.rpartition("/")
        return f"training run #{number} of {model}"
    return None


def _alert_labels(conn: Connection, alert_ids: set[int]) -> dict[Subject, str]:
    query = (
        select(alerts.c.id, alerts.c.title, model_versions.c.version_number)
        .select_from(alerts.outerjoin(monitor_runs, monitor_runs.c.id == alerts.c.run_id)
                     .outerjoin(model_versions, model_versions.c.id == monitor_runs.c.version_id))
        .where(alerts.c.id.in_(alert_ids))
    )
    labels = {}
    for row in conn.execute(query):
        version = f" · v{row.version_number}" if row.version_number is not None else ""
        labels[("alert", str(row.id))] = f"Incident #{row.id} · {row.title}{version}"
    return labels


def _artifact_labels(conn: Connection, hashes: set[str]) -> dict[Subject, str]:
    """A model file names the versions it belongs to; a reference data set its monitors."""
    uses: dict[str, list[str]] = {sha: [] for sha in hashes}
    versions = (
        select(model_versions.c.artifact_sha256, registered_models.c.name,
               model_versions.c.version_number)
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .where(model_versions.c.artifact_sha256.in_(hashes))
        .order_by(model_versions.c.version_number)
    )
    for row in conn.execute(versions):
        uses[row.artifact_sha256].append(f"{row.name} v{row.version_number}")
    references = (
        select(monitors.c.reference_sha256, registered_models.c.name, monitors.c.name.label(
            "monitor"))
        .join(registered_models, registered_models.c.id == monitors.c.model_id)
        .where(monitors.c.reference_sha256.in_(hashes))
        .order_by(monitors.c.id)
    )
    for row in conn.execute(references):
        uses[row.reference_sha256].append(f"{row.name} / {row.monitor}")
    names = dict(conn.execute(select(artifacts.c.sha256, artifacts.c.original_filename)
                              .where(artifacts.c.sha256.in_(hashes))).all())
    labels = {}
    for sha, used_by in uses.items():
        if sha not in names and not used_by:
            continue
        name = names.get(sha, f"file {sha[:12]}…")
        labels[("artifact", sha)] = f"{name} of {', '.join(used_by)}" if used_by else name
    return labels


def _key_labels(conn: Connection, fingerprints: set[str]) -> dict[Subject, str]:
    query = select(identity_keys.c.fingerprint, identity_keys.c.user_name).where(
        identity_keys.c.fingerprint.in_(fingerprints))
    return {(KEY_ENTITY, row.fingerprint):
            f"{row.user_name}'s key {short_fingerprint(row.fingerprint)}"
            for row in conn.execute(query)}
