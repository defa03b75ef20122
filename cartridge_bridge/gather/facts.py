"""The warehouse facts printed by the `cartridge.gather` macro, validated into typed records.

Profile statistics are data read from the tables: they live only under `profile` attributes, and
`WarehouseFacts.without_profile()` drops them all before anything leaves the machine.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from cartridge_bridge.errors import UsageError, first_problem

GATHER_VERSION = 1


RelationType = Literal["table", "view", "materialized_view"]
# A min or max: a number, a non-finite number ("NaN", "Infinity", "-Infinity") or an ISO 8601 date/time.
ProfileValue = StrictInt | StrictFloat | StrictStr | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueCount(_Strict):
    """One value of a low-cardinality text column and how many rows hold it."""

    value: str
    count: int = Field(ge=1)


class ColumnProfile(_Strict):
    """Statistics read from a column's values (data, not schema)."""

    null_count: int = Field(ge=0)
    distinct_count: int | None = Field(default=None, ge=0)
    min: ProfileValue = None
    max: ProfileValue = None
    top_values: list[ValueCount] | None = None


class CombinationCount(_Strict):
    """How many distinct combinations of these columns the rows hold (a composite key's check)."""

    columns: list[str] = Field(min_length=2)
    distinct_count: int = Field(ge=0)


class ContainedValues(_Strict):
    """How many distinct non-null values of a column another relation's key holds (a foreign key's check)."""

    column: str
    ref_identifier: str
    ref_column: str
    distinct_count: int = Field(ge=0)
    contained_count: int = Field(ge=0)


class RelationProfile(_Strict):
    """Statistics read from a relation's rows (data, not schema)."""

    row_count: int = Field(ge=0)
    # Not in the gather document: the bridge adds them from `cartridge.distinct_combinations` (keys.py asks).
    distinct_combinations: list[CombinationCount] = []
    # Not in the gather document either: from `cartridge.contained_values`, for role-named foreign keys.
    contained_values: list[ContainedValues] = []

    def contained(self, column: str, ref_identifier: str, ref_column: str) -> ContainedValues | None:
        """The containment of this column's values in the referenced key, if it was measured."""
        return next(
            (
                c
                for c in self.contained_values
                if (c.column, c.ref_identifier, c.ref_column) == (column, ref_identifier, ref_column)
            ),
            None,
        )

    def combination_count(self, columns: tuple[str, ...]) -> int | None:
        """The distinct combinations of exactly these columns, in this order, if they were counted."""
        return next(
            (c.distinct_count for c in self.distinct_combinations if tuple(c.columns) == columns), None
        )


class ProfileSettings(_Strict):
    """How the profile was computed: on the first `sample_limit` rows (None: every row)."""

    sample_limit: int | None = Field(default=None, ge=1)
    top_values_limit: int = Field(ge=0)


class RawColumn(_Strict):
    """One column of a raw relation, named exactly as the warehouse spells it."""

    name: str
    data_type: str
    position: int
    nullable: bool = True
    comment: str | None = None
    profile: ColumnProfile | None = None


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
    type: RelationType = "table"
    comment: str | None = None
    columns: list[RawColumn]
    primary_key: list[str] = []
    foreign_keys: list[ForeignKey] = []
    profile: RelationProfile | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def column(self, name: str) -> RawColumn | None:
        """The column named exactly `name`, if any."""
        return next((c for c in self.columns if c.name == name), None)


class GraphColumn(_Strict):
    """A real column of an existing node's relation."""

    name: str
    data_type: str
    position: int


class GraphNode(_Strict):
    """A model, seed, snapshot or source of the root project, and the relation the warehouse holds for it."""

    unique_id: str
    resource_type: Literal["model", "seed", "snapshot", "source"]
    name: str
    source_name: str | None = None
    database: str | None = None
    schema_: str = Field(alias="schema")
    identifier: str
    exists: bool
    type: RelationType | None = None
    columns: list[GraphColumn] = []

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _relation_only_when_it_exists(self) -> GraphNode:
        if not self.exists and (self.type is not None or self.columns):
            raise ValueError("a node whose relation does not exist has no type and no columns")
        if self.exists and self.type is None:
            raise ValueError("a node whose relation exists has a type")
        if (self.resource_type == "source") != (self.source_name is not None):
            raise ValueError("source_name is set for sources and only for them")
        return self

    def column(self, name: str) -> GraphColumn | None:
        """The column named exactly `name`, if any."""
        return next((c for c in self.columns if c.name == name), None)


class ProjectGraph(_Strict):
    """The root project's nodes as the warehouse holds them."""

    project_name: str
    nodes: list[GraphNode]

    def node(self, unique_id: str) -> GraphNode | None:
        """The node with this unique_id, if any."""
        return next((n for n in self.nodes if n.unique_id == unique_id), None)


class WarehouseFacts(_Strict):
    """The whole gather document: every raw relation of the schemas asked for, and the project's graph."""

    cartridge_gather_version: int
    adapter_type: str
    database: str | None = None
    schemas: list[str]
    profile: ProfileSettings | None = None
    relations: list[RawRelation]
    graph: ProjectGraph | None = None

    @model_validator(mode="after")
    def _profiled_all_or_nothing(self) -> WarehouseFacts:
        profiled = self.profile is not None
        for relation in self.relations:
            where = f"{relation.schema_}.{relation.identifier}"
            if (relation.profile is not None) != profiled:
                raise ValueError(_profile_mismatch(profiled, f"relation {where}"))
            for column in relation.columns:
                if (column.profile is not None) != profiled:
                    raise ValueError(_profile_mismatch(profiled, f"column {column.name!r} of {where}"))
        return self

    def without_profile(self) -> WarehouseFacts:
        """The same facts with every profile statistic dropped: schema metadata only."""
        relations = [
            r.model_copy(
                update={
                    "profile": None,
                    "columns": [c.model_copy(update={"profile": None}) for c in r.columns],
                }
            )
            for r in self.relations
        ]
        return self.model_copy(update={"profile": None, "relations": relations})


def _profile_mismatch(profiled: bool, what: str) -> str:
    if profiled:
        return f"the document is profiled but {what} has no profile"
    return f"{what} has a profile but the document has no profile settings"


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
        where, problem = first_problem(error)
        raise UsageError(f"{origin} is malformed{f' at {where}' if where else ''}: {problem}") from None
