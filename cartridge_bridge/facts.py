"""The warehouse facts printed by the `cartridge.gather` macro, validated into typed records."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import UsageError

GATHER_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RawColumn(_Strict):
    """One column of a raw relation, named exactly as the warehouse spells it."""

    name: str
    data_type: str
    position: int
    nullable: bool = True
    comment: str | None = None


class ForeignKey(_Strict):
    """A foreign key declared in the warehouse."""

    columns: list[str] = Field(min_length=1)
    ref_schema: str
    ref_identifier: str
    ref_columns: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _same_width(self) -> ForeignKey:
        if len(self.columns) != len(self.ref_columns):
            raise ValueError("columns and ref_columns must have the same length")
        return self


class RawRelation(_Strict):
    """A table or view in a raw schema with its columns and declared keys."""

    database: str | None = None
    # `schema` would shadow a BaseModel attribute; the document's key is still `schema`.
    schema_: str = Field(alias="schema")
    identifier: str
    type: Literal["table", "view", "materialized_view"] = "table"
    comment: str | None = None
    columns: list[RawColumn]
    primary_key: list[str] = []
    foreign_keys: list[ForeignKey] = []

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def column(self, name: str) -> RawColumn | None:
        """The column named exactly `name`, if any."""
        return next((c for c in self.columns if c.name == name), None)


class WarehouseFacts(_Strict):
    """The whole gather document: every raw relation of the schemas asked for."""

    cartridge_gather_version: int
    adapter_type: str
    database: str | None = None
    schemas: list[str]
    relations: list[RawRelation]


def parse_facts(text: str, origin: str = "the gather output") -> WarehouseFacts:
    """Validate a gather document, refusing unknown versions with a clear message."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{origin} is not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{origin} is not a gather document (expected a JSON object)")
    version = raw.get("cartridge_gather_version")
    if type(version) is not int or version != GATHER_VERSION:
        remedy = (
            "upgrade cartridge (pip install -U cartridge)"
            if type(version) is int and version > GATHER_VERSION
            else "update the cartridge dbt package with `cartridge init`"
        )
        raise UsageError(
            f"{origin} has gather version {version!r}; this cartridge reads version {GATHER_VERSION}: {remedy}"
        )
    try:
        return WarehouseFacts.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UsageError(f"{origin} is malformed at {where}: {first['msg']}") from None
