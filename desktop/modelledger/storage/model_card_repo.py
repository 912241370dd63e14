"""The free-text sections of model cards (limitations, out-of-scope use, ...), per version.

The rest of a card is generated from the registry; only what a person writes is stored here.
Like the other repositories, every function takes the caller's connection, so that a service can
write a section and its audit event in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Select, insert, select, update

from modelledger.storage.tables import model_card_texts, model_versions


@dataclass(frozen=True)
class SectionText:
    """One stored section of one version's card."""

    section: str
    text: str
    version_number: int
    updated_by: str
    updated_at: datetime


def section_texts(conn: Connection, model_id: int, up_to_version: int) -> list[SectionText]:
    """Every section stored for the model's versions numbered up to ``up_to_version``, the
    newest version first (a card falls back to an earlier version's text)."""
    query = (
        _texts_query()
        .where(model_versions.c.model_id == model_id,
               model_versions.c.version_number <= up_to_version)
        .order_by(model_versions.c.version_number.desc(), model_card_texts.c.section)
    )
    return [_section_from_row(row) for row in conn.execute(query)]


def section_text(conn: Connection, version_id: int, section: str) -> SectionText | None:
    """What is stored for this version's section, None when nothing was ever written."""
    row = conn.execute(_texts_query().where(model_card_texts.c.version_id == version_id,
                                            model_card_texts.c.section == section)).first()
    return _section_from_row(row) if row else None


def put_section_text(conn: Connection, version_id: int, section: str, text: str,
                     updated_by: str, now: datetime) -> None:
    values = {"text": text, "updated_by": updated_by, "updated_at": now}
    changed = conn.execute(
        update(model_card_texts)
        .where(model_card_texts.c.version_id == version_id, model_card_texts.c.section == section)
        .values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(model_card_texts).values(version_id=version_id, section=section,
                                                     **values))


def _texts_query() -> Select:
    return (select(model_card_texts, model_versions.c.version_number)
            .join(model_versions, model_versions.c.id == model_card_texts.c.version_id))


def _section_from_row(row) -> SectionText:
    return SectionText(row.section, row.text, row.version_number, row.updated_by,
                       row.updated_at)
