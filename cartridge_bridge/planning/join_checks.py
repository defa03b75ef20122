"""Check the joins an aggregate makes before it groups: each reaches one row at most, so no input row counts twice.

A join is many-to-one when its right-hand columns hold a key the joined model is proved unique on: by how the
model is made (an aggregate's group, a history's versions, a de-duplicated staging model's partition), by a
unique test that fails the build (a `unique` column, a `unique_combination_of_columns`), or, for a model of the
project, by its grain (its tests or constraints). A key the gathered keys refuted (the raw data repeats it) is
no key, whatever the plan tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ExecutionPlan,
    HistorySpec,
    InputJoin,
    PeriodicSnapshotSpec,
    PlanAction,
    SourceSpec,
    StagingSpec,
    TimeSpineSpec,
    output_columns,
)
from cartridge_bridge.sql.naming import TEMPLATE_CTES
from cartridge_bridge.sql.sql_fragments import parse_expression

if TYPE_CHECKING:
    from cartridge_bridge.context.project_context import ProjectContext
    from cartridge_bridge.planning.spec_checks import Columns, SpecChecker

Key = frozenset[str]
# The CTE an aggregate with joins selects its widened rows into; no alias may take it, nor the templates' others.
JOINED_CTE = "joined"


def planned_keys(action: PlanAction) -> list[Key]:
    """The keys a planned model is unique on: by construction, or tested unique at error severity."""
    spec = action.spec
    keys: list[Key] = []
    if isinstance(spec, AggregateSpec):
        keys.append(frozenset(spec.group_by))
    elif isinstance(spec, HistorySpec):
        keys.append(frozenset([*spec.entity_key, "valid_from"]))
    elif isinstance(spec, PeriodicSnapshotSpec):
        keys.append(frozenset(spec.grain))
    elif isinstance(spec, TimeSpineSpec):
        keys.append(frozenset([spec.column]))
    elif isinstance(spec, StagingSpec) and spec.deduplicate is not None:
        keys.append(frozenset(spec.deduplicate.partition_by))
    if isinstance(spec, SourceSpec):
        return []
    for column in output_columns(spec):
        if any(t.name == "unique" and t.severity == "error" for t in column.tests):
            keys.append(frozenset([column.name]))
    for test in action.tests:
        if test.name == "unique_combination_of_columns" and test.severity == "error" and test.columns:
            keys.append(frozenset(test.columns))
    return [key for key in dict.fromkeys(keys) if key]


def refuted_keys(plan: ExecutionPlan, context: ProjectContext) -> dict[str, list[Key]]:
    """Staging model → the keys (in its column names) the gathered keys refuted for its raw table."""
    identifiers = {
        (a.spec.source_name, t.name): (a.spec.schema_name, t.identifier)
        for a in plan.actions
        if isinstance(a.spec, SourceSpec)
        for t in a.spec.tables
    }
    schemas = {raw.schema_name: raw for raw in context.raw_schemas}
    refuted: dict[str, list[Key]] = {}
    for action in plan.models():
        spec = action.spec
        if not isinstance(spec, StagingSpec):
            continue
        schema, identifier = identifiers.get((spec.source_name, spec.table), (None, None))
        raw = schemas.get(schema or "")
        facts = raw.keys.key(identifier or "") if raw is not None else None
        if facts is None or facts.how != "refuted":
            continue
        staged = {c.source_column: c.name for c in spec.columns if c.source_column is not None}
        refuted[action.name] = [frozenset(staged.get(c, c) for c in facts.columns)]
    return refuted


def check_input_joins(
    checker: SpecChecker, spec: AggregateSpec, source: Columns
) -> dict[str | None, Columns]:
    """Check an aggregate's joins; what its group keys, columns and filter may read: the input's columns and
    the joined ones, by name (None when some input's columns are unknown)."""
    if not spec.joins:
        if spec.from_alias is not None:
            checker.add("spec.from_alias", "names the input in join conditions, and there is no join", "null")
        return {None: source}
    aliases: dict[str | None, Columns] = {}
    if spec.from_alias is None:
        checker.add("spec.from_alias", "an aggregate with joins names its input's alias", "like `refunds`")
    elif checker.name("spec.from_alias", spec.from_alias):
        aliases[spec.from_alias] = source
    added: set[str] = set()
    for index, join in enumerate(spec.joins):
        at = f"spec.joins[{index}]"
        joined = checker.model_columns(f"{at}.model", join.model)
        if checker.name(f"{at}.alias", join.alias):
            if join.alias in aliases or join.alias == spec.from_alias:
                checker.add(f"{at}.alias", f"alias {join.alias!r} is used twice")
            if join.alias in TEMPLATE_CTES:
                checker.add(f"{at}.alias", f"{join.alias!r} is a name the template takes", "another alias")
        if not join.on:
            checker.add(f"{at}.on", "a join needs at least one column pair")
        for pair in join.on:
            if pair.left_alias not in aliases:
                known = ", ".join(a for a in aliases if a) or "none"
                checker.add(
                    f"{at}.on.left_alias", f"{pair.left_alias!r} is not the input or an earlier join", known
                )
            else:
                checker.columns_in(f"{at}.on.left_column", [pair.left_column], aliases[pair.left_alias])
            checker.columns_in(f"{at}.on.right_column", [pair.right_column], joined)
        _check_many_to_one(checker, at, join)
        aliases[join.alias] = joined
        for column in join.columns:
            where = f"{at}.columns[{column.name}]"
            checker.name(f"{where}.name", column.name)
            taken = column.name in added or (source is not None and column.name in source)
            if taken:
                checker.add(
                    f"{where}.name", f"{column.name!r} is already a column of the joined rows", "another name"
                )
            added.add(column.name)
            if column.aggregate is not None or column.tests or column.source_column is not None:
                checker.add(where, "a joined column is one row-level expression, untested: it is no output")
            if column.expression is None:
                checker.add(f"{where}.expression", "is missing")
            else:
                checker.fragment(f"{where}.expression", column.expression, dict(aliases))
                tree, _ = parse_expression(column.expression, checker.adapter)
                if tree is not None and tree.find(exp.AggFunc) is not None:
                    checker.add(
                        f"{where}.expression", f"{column.expression!r} aggregates; a joined column is per row"
                    )
    if spec.from_alias in TEMPLATE_CTES:
        checker.add("spec.from_alias", f"{spec.from_alias!r} is a name the template takes", "another alias")
    readable = None if source is None else source | added
    return {None: readable}


def _check_many_to_one(checker: SpecChecker, at: str, join: InputJoin) -> None:
    """The join's right-hand columns hold a proved key of the joined model: one row at most per input row."""
    keys = checker.inputs.keys.get(join.model)
    if keys is None:
        return  # a model the plan was already checked against (a repair round): its keys were proved then
    right = {pair.right_column for pair in join.on}
    # Compared as warehouses compare unquoted names: a project's YAML may spell its key `PAYMENT_ID`.
    if any({c.lower() for c in key} <= {c.lower() for c in right} for key in keys):
        return
    proved = "; ".join(", ".join(sorted(k)) for k in keys) or "none"
    checker.add(
        f"{at}.on",
        f"joins {join.model!r} on {', '.join(sorted(right)) or 'nothing'}, which is no proved key of it: "
        "an input row could meet several of its rows and be counted more than once (a fan-out)",
        f"a join on a key {join.model!r} is unique on (proved: {proved})",
    )
