"""Each raw table's key and foreign keys with how each is known: decided once, when the context is built.

The rules planner, the LLM prompts, the sources YAML and `cartridge context` read these and never ask
`keys` again, so they cannot disagree. How a key is known:

- `declared`: the warehouse declares it (a primary key or foreign key constraint);
- `checked`: the data's counts agree (unique and never null; a foreign key's values held by its parent);
- `named`: guessed from column names; nothing counted could confirm or refute it;
- `refuted`: the names say key but the data repeats it or holds nulls: never called a primary key; a
  foreign key whose values the parent's key lacks (below `keys.CONTAINED_SHARE` of them held), kept as a
  join (the data may be a sample) with its counts, which its relationships test states.

A version history (several rows per id, one per version) is keyed on the id for the entity it tracks;
its version columns complete the key of a row, and `how` then says what the data shows of that row key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from cartridge_bridge.context.keys import (
    EdgeEvidence,
    KeyEdge,
    copies_only,
    edge_evidence,
    entity_of,
    foreign_keys,
    missing_values,
    refuted_guess,
    row_key_verdict,
    table_key,
)
from cartridge_bridge.gather.facts import RawRelation
from cartridge_bridge.sql.naming import unprefixed

KeyHow = Literal["declared", "checked", "named", "refuted"]


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HistoryFacts(_Facts):
    """Several rows per key, one per version: the latest by `version_columns` (descending) is current.

    `copies` is set when the data shows the repeated rows equal but for the loader's columns (a tag listed
    twice): keeping one loses nothing.
    """

    version_columns: list[str]
    copies: bool | None = None


class KeyFacts(_Facts):
    """A raw table's key in raw column names, how it is known and, for a history, what completes it."""

    columns: list[str]
    how: KeyHow
    history: HistoryFacts | None = None

    @property
    def row_key(self) -> list[str]:
        """The columns one raw row is unique on: the key, and a history's version columns."""
        return [*self.columns, *(self.history.version_columns if self.history else [])]

    @property
    def grain(self) -> list[str]:
        """What staging keys its rows on (a history after keeping the latest version); [] when refuted."""
        return [] if self.how == "refuted" and self.history is None else list(self.columns)

    @property
    def latest_by(self) -> list[str]:
        """The columns staging orders a key's rows by, latest first, to keep one; [] for a current-state table."""
        return list(self.history.version_columns) if self.history else []

    @property
    def primary(self) -> bool:
        """Whether the key may be called the table's primary key: declared or checked, one row per key."""
        return self.history is None and self.how in ("declared", "checked")


class ForeignKeyFacts(_Facts):
    """`child.column` points at `parent.parent_column` (raw names and identifiers), and how that is known.

    `distinct_count` and `contained_count` are the data's counts when they found values the parent's key lacks
    (a `refuted` key, or a `checked` one with a few orphans): how many distinct values the raw column holds
    and how many of them are keys of the raw parent, before any staging filter.
    """

    child: str
    column: str
    parent: str
    parent_column: str
    how: EdgeEvidence
    role: str = ""  # what a role name says beyond the parent's entity (`billing` of `billing_customer_id`)
    distinct_count: int | None = None
    contained_count: int | None = None

    @property
    def counts(self) -> tuple[int, int] | None:
        """(distinct values, how many the parent holds) when some are missing, else None."""
        if self.distinct_count is None or self.contained_count is None:
            return None
        return self.distinct_count, self.contained_count

    def edge(self, renames: dict[str, str] | None = None) -> KeyEdge:
        """The edge the rules planner joins on, its tables under the names `renames` gives them."""
        names = renames or {}
        return KeyEdge(
            names.get(self.child, self.child),
            self.column,
            names.get(self.parent, self.parent),
            self.parent_column,
            self.how == "declared",
            self.role,
            self.counts,
        )


class SchemaKeys(_Facts):
    """The keys of one raw schema's new tables and the foreign keys among them, by raw identifier."""

    tables: dict[str, KeyFacts] = {}
    foreign_keys: list[ForeignKeyFacts] = []

    def key(self, identifier: str) -> KeyFacts | None:
        """The key of a raw table (by its warehouse identifier), or None when nothing suggests one."""
        return self.tables.get(identifier)


def key_facts(relation: RawRelation, entities: frozenset[str] = frozenset()) -> KeyFacts | None:
    """What `keys.table_key` finds, with what the data says of it; the refuted guess when it finds nothing."""
    found = table_key(relation, entities)
    columns = list(found.columns)
    if found.evidence == "declared":
        return KeyFacts(columns=columns, how="declared")
    if found.latest_by:
        history = HistoryFacts(version_columns=list(found.latest_by))
        if found.evidence == "data" and copies_only(relation, found.columns):
            return KeyFacts(
                columns=columns, how="checked", history=history.model_copy(update={"copies": True})
            )
        verdict = row_key_verdict(relation, (*found.columns, *found.latest_by))
        how: KeyHow = "named" if verdict is None else "checked" if verdict else "refuted"
        return KeyFacts(columns=columns, how=how, history=history)
    if columns:
        return KeyFacts(columns=columns, how="checked" if found.evidence == "data" else "named")
    guess = refuted_guess(relation, entities)
    return KeyFacts(columns=list(guess), how="refuted") if guess else None


def renamed_relation(relation: RawRelation, renames: dict[str, str]) -> RawRelation:
    """The relation under its new identifier, its declared foreign keys pointing at their new names too."""
    if not renames:
        return relation
    keys = [
        k.model_copy(update={"ref_identifier": renames.get(k.ref_identifier, k.ref_identifier)})
        for k in relation.foreign_keys
    ]
    identifier = renames.get(relation.identifier, relation.identifier)
    profile = relation.profile
    if profile is not None and profile.contained_values:
        # The data's word on role-named keys names parents by identifier too: it follows the rename.
        contained = [
            c.model_copy(update={"ref_identifier": renames.get(c.ref_identifier, c.ref_identifier)})
            for c in profile.contained_values
        ]
        profile = profile.model_copy(update={"contained_values": contained})
    return relation.model_copy(update={"identifier": identifier, "foreign_keys": keys, "profile": profile})


def schema_keys(
    relations: list[RawRelation], strip_prefix: str = "", schema_identifiers: list[str] | None = None
) -> SchemaKeys:
    """The keys of the new tables of one schema, each named as the project names it (`raw_` dropped unless
    another of `schema_identifiers` has the short name): entities, `<entity>_id` columns and bridges are
    read from those names, as the planners name the tables."""
    identifiers = [r.identifier for r in relations]
    renames = unprefixed(identifiers, schema_identifiers or identifiers, strip_prefix)
    named = [renamed_relation(r, renames) for r in relations]
    entities = frozenset(entity_of(r) for r in named)
    tables = {
        original.identifier: found
        for original, relation in zip(relations, named, strict=True)
        if (found := key_facts(relation, entities)) is not None
    }
    originals = {new: old for old, new in renames.items()}
    by_identifier = {r.identifier: r for r in named}
    edges = []
    for e in foreign_keys(named):
        missing = missing_values(by_identifier[e.child], e)
        edges.append(
            ForeignKeyFacts(
                child=originals.get(e.child, e.child),
                column=e.column,
                parent=originals.get(e.parent, e.parent),
                parent_column=e.parent_column,
                how=edge_evidence(by_identifier[e.child], e),
                role=e.role,
                distinct_count=missing[0] if missing else None,
                contained_count=missing[1] if missing else None,
            )
        )
    return SchemaKeys(tables=tables, foreign_keys=edges)
