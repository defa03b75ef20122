"""The composite keys worth checking on the data, and their counts folded back into the profiled facts.

`keys.table_key` takes a composite key by name alone only for an ordinal or a bridge; the data can refute
those and confirm weaker ones (`<parent>_id` with `key`/`name`/`code`). The counts come from one query per
table (`cartridge.distinct_combinations`) and stay under the relation's `profile`, like every statistic.
"""

from __future__ import annotations

import json
from typing import Any

from cartridge_bridge.context.keys import composite_candidates, entity_of, table_key
from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.facts import CombinationCount, RawRelation, WarehouseFacts

MACRO = "cartridge.distinct_combinations"


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
    relations = []
    for relation in facts.relations:
        found = counts.get((relation.schema_, relation.identifier))
        if found and relation.profile is not None:
            profile = relation.profile.model_copy(update={"distinct_combinations": found})
            relation = relation.model_copy(update={"profile": profile})
        relations.append(relation)
    return facts.model_copy(update={"relations": relations})
