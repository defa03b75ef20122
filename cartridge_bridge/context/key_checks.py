"""The keys worth checking on the data, and their counts folded back into the profiled facts.

`keys.table_key` takes a composite key by name alone only for an ordinal or a bridge; the data can refute
those and confirm weaker ones (`<parent>_id` with `key`/`name`/`code`), and says whether a history's id
with its version columns (`id`, `_fivetran_synced`) tells its rows apart. The counts come from one query per
table (`cartridge.distinct_combinations`) and stay under the relation's `profile`, like every statistic.

`keys.foreign_keys` takes a role-named foreign key (`billing_customer_id` → `customer`) only when the
parent's key holds the column's values, and `keys.edge_evidence` calls a name-made one (`account_id` →
`account`) `checked` or `refuted` by the same counts: one query for every candidate
(`cartridge.contained_values`), asked after the composite counts since those settle the parents' keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cartridge_bridge.context.keys import (
    composite_candidates,
    containment_candidates,
    entity_of,
    table_key,
)
from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.facts import CombinationCount, ContainedValues, RawRelation, WarehouseFacts

MACRO = "cartridge.distinct_combinations"
CONTAINED_MACRO = "cartridge.contained_values"


def _entities(facts: WarehouseFacts, schema: str) -> frozenset[str]:
    return frozenset(entity_of(r) for r in facts.relations if r.schema_ == schema)


def _needs_check(relation: RawRelation, entities: frozenset[str]) -> list[tuple[str, ...]]:
    if relation.profile is None or relation.profile.row_count == 0 or relation.primary_key:
        return []
    key = table_key(relation, entities)
    if key.evidence in ("declared", "data") and len(key.columns) == 1 and not key.latest_by:
        return []  # a single column the data already confirms: no composite is needed
    return composite_candidates(relation, entities)


def combination_checks(facts: WarehouseFacts) -> list[dict[str, Any]]:
    """The macro's `relations` argument: per profiled table without a confirmed key, the combinations to count."""
    checks = []
    for relation in facts.relations:
        combinations = _needs_check(relation, _entities(facts, relation.schema_))
        if combinations:
            checks.append(
                {
                    "database": relation.database,
                    "schema": relation.schema_,
                    "identifier": relation.identifier,
                    "combinations": [list(c) for c in combinations],
                }
            )
    return checks


def with_combination_counts(facts: WarehouseFacts, printed: str) -> WarehouseFacts:
    """The facts with the macro's counts under each relation's profile."""
    try:
        results = json.loads(printed)
        counts = {
            (r["schema"], r["identifier"]): [
                CombinationCount(columns=list(columns), distinct_count=int(count))
                for columns, count in r["counts"]
            ]
            for r in results
        }
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"the output of {MACRO} is not what this cartridge reads ({error})") from None
    return _with_profiles(facts, "distinct_combinations", counts)


def _with_profiles(
    facts: WarehouseFacts, field: str, found: Mapping[tuple[str, str], Sequence[object]]
) -> WarehouseFacts:
    """The facts with `found[(schema, identifier)]` as `field` of each profiled relation's profile."""
    relations = []
    for relation in facts.relations:
        values = found.get((relation.schema_, relation.identifier))
        if values and relation.profile is not None:
            profile = relation.profile.model_copy(update={field: list(values)})
            relation = relation.model_copy(update={"profile": profile})
        relations.append(relation)
    return facts.model_copy(update={"relations": relations})


def containment_checks(facts: WarehouseFacts) -> list[dict[str, Any]]:
    """The `edges` argument of `cartridge.contained_values`: every foreign key a name suggests from a profiled
    table with rows (role-named or `<entity>_id`), columns of two type families compared as text.
    """
    checks = []
    for schema in dict.fromkeys(r.schema_ for r in facts.relations):
        relations = [r for r in facts.relations if r.schema_ == schema]
        by_identifier = {r.identifier: r for r in relations}
        for edge, as_text in containment_candidates(relations):
            child = by_identifier[edge.child]
            if child.profile is None or child.profile.row_count == 0:
                continue
            check = {
                "database": child.database,
                "schema": schema,
                "identifier": edge.child,
                "column": edge.column,
                "ref_identifier": edge.parent,
                "ref_column": edge.parent_column,
            }
            checks.append(check | {"as_text": True} if as_text else check)
    return checks


def with_contained_values(facts: WarehouseFacts, printed: str) -> WarehouseFacts:
    """The facts with the macro's containment counts under each child relation's profile."""
    try:
        found: dict[tuple[str, str], list[ContainedValues]] = {}
        for r in json.loads(printed):
            found.setdefault((r["schema"], r["identifier"]), []).append(
                ContainedValues(
                    column=r["column"],
                    ref_identifier=r["ref_identifier"],
                    ref_column=r["ref_column"],
                    distinct_count=int(r["distinct_count"]),
                    contained_count=int(r["contained_count"]),
                )
            )
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(
            f"the output of {CONTAINED_MACRO} is not what this cartridge reads ({error})"
        ) from None
    return _with_profiles(facts, "contained_values", found)
