"""Which version a request means: ``name`` (its production version), ``name@production``,
``name@staging`` (the newest staging version) or ``name/3`` (a pinned version)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from modelledger.core.domain import ModelVersion, Stage
from modelledger.core.errors import InvalidInputError, NotFoundError
from modelledger.storage import repositories as repo

ALIASES = {"production": Stage.PRODUCTION, "staging": Stage.STAGING}


@dataclass(frozen=True)
class ModelReference:
    model_name: str
    stage: Stage | None = None  # an alias, followed as promotions move it
    number: int | None = None  # a pinned version

    @classmethod
    def parse(cls, text: str) -> ModelReference:
        name, at, alias = text.partition("@")
        if at:
            stage = ALIASES.get(alias.lower())
            if stage is None or not name:
                raise InvalidInputError(
                    f"'{text}' names no version: write NAME, NAME@production, NAME@staging or "
                    "NAME/NUMBER.")
            return cls(name, stage=stage)
        name, slash, number = text.rpartition("/")
        if slash and number.isdigit() and name:
            return cls(name, number=int(number))
        if not text or "/" in text:
            raise InvalidInputError(
                f"'{text}' names no version: write NAME, NAME@production, NAME@staging or "
                "NAME/NUMBER.")
        return cls(text, stage=Stage.PRODUCTION)

    @property
    def follows_promotions(self) -> bool:
        return self.number is None

    def __str__(self) -> str:
        if self.number is not None:
            return f"{self.model_name}/{self.number}"
        return f"{self.model_name}@{self.stage.value}"


def resolve(conn: Connection, reference: ModelReference) -> ModelVersion:
    """The version ``reference`` means now; NotFoundError when it means none."""
    model = repo.get_model(conn, reference.model_name)
    if reference.number is not None:
        return repo.get_version(conn, model, reference.number)
    if reference.stage is Stage.PRODUCTION:
        version = repo.production_version(conn, model.id)
    else:
        version = next((v for v in repo.list_versions(conn, model) if v.stage is reference.stage),
                       None)
    if version is None:
        raise NotFoundError(f"Model '{model.name}' has no {reference.stage.value} version.")
    return version
