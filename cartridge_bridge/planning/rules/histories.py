"""History rules: a version history keeps every version in staging, becomes a type-2 model, and the layers above
read its current state.

A raw table is a version history when the context found its key repeated next to version columns: several rows
per id on the data, or a loader's validity columns (`keys.table_key`, `KeyFacts.history`). Staging de-duplicated
such a table to its latest version; here, when the data leaves no doubt, staging keeps every version instead,
a `history` model dates them (`valid_from` from the temporal version column, `valid_to` from the loader's end
column or the next version's start; the loader's own columns stay in staging), and a current-state model (the history's current versions: a mart spec
in the intermediate layer) takes the staged table's place for the marts and aggregates, so their grain and
numbers stay those of the latest version.

Left de-duplicated: a history whose repeated rows are copies (a tag listed twice: nothing to date), one with no
temporal version column, and one with a loader's soft-delete filter (staging drops a key whose latest version is
deleted; filtering the versions first would let an older one stand in as current).
"""

from __future__ import annotations

from cartridge_bridge.planning.plan import (
    HISTORY_COLUMNS,
    ColumnSpec,
    DataTest,
    HistorySpec,
    MartSpec,
    ModelTest,
    OrderBy,
)
from cartridge_bridge.planning.planner import HistoryDraft, ModelDraft
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.source_freshness import loaded_at_column
from cartridge_bridge.planning.rules.state import PlannerState, Staged
from cartridge_bridge.sql.naming import cte_name
from cartridge_bridge.sql.sql_types import is_temporal, type_family

# A loader's column saying when a version stopped being the state (the ends of `keys._HISTORY_MARKERS`).
_END_COLUMNS = ("_fivetran_end", "dbt_valid_to", "valid_to", "effective_to")
# Column types a tie-breaker can order by on every adapter (not JSON, arrays or structs).
_ORDERABLE = ("number", "text", "temporal", "boolean")


class HistoryRules(PlannerState):
    """Type-2 histories and their current states for the version histories of one schema."""

    # Off: every version history de-duplicated in staging, as a planner that cannot write histories would.
    type2_histories: bool = True

    def plan_histories(self, staged: dict[str, Staged]) -> None:
        """Each version history staged whole, dated by a history model, read through its current state."""
        self.type2_marts = {}
        if not self.type2_histories:
            return
        taken = set(self.context.existing_models) | {m.name for m in self.draft.models}
        testing = self.conventions.test_primary_keys
        for table in staged.values():
            start = _start_column(table)
            if start is None:
                continue
            # `int_account_versions`, `int_account_current`; a table `account_history` of its own stays apart.
            prefix = self.conventions.intermediate_model.split("{", 1)[0]
            names = [
                [f"{prefix}{table.noun}_versions"],
                [f"{prefix}{table.noun}_current"],
                # `account` → `dim_account_history`; `account_history` (beside `account`) → `dim_account_history`
                # too: one type-2 mart of an entity, never a current-state mart of its history table.
                [self.conventions.dimension_model.format(table=_history_name(table.noun))],
            ]
            history, current, dimension = self.pick(names, taken)
            taken |= {history, current, dimension}
            self.keep_every_version(table)
            versions = _history_draft(table, history, start)
            self.draft.histories.append(versions)
            # Written by the marts' rules if it earns a place among them (see `MartRules.plan_type2`).
            self.type2_marts[table.relation.identifier] = ModelDraft(
                name=dimension,
                layer="marts",
                description=f"The type-2 dimension of {docs.words(table.entity)}: every version, one row per "
                f"{docs.words(table.entity)} and `{HISTORY_COLUMNS[0]}`, from `{history}`. {_AS_OF}",
                spec=_type2_dimension(versions, cte_name(table.table)),
                tests=[
                    ModelTest(
                        name="unique_combination_of_columns",
                        columns=[*versions.spec.entity_key, HISTORY_COLUMNS[0]],
                    )
                ]
                if testing
                else [],
            )
            self.add(
                current,
                "intermediate",
                f"The current state of each {docs.words(table.entity)}: the current versions of `{history}`.",
                _current_state(table, history, testing),
                [ModelTest(name="unique_combination_of_columns", columns=table.spec.grain)]
                if len(table.spec.grain) > 1 and testing
                else [],
            )
            # Marts and aggregates read the current state: one row per key, as the de-duplicated staging had.
            table.model = current

    def keep_every_version(self, table: Staged) -> None:
        """The staging model keeps every version: no de-duplication, and its key's uniqueness is tested above."""
        draft = next(m for m in self.draft.models if m.name == table.model)
        latest = f"the latest version of each {docs.words(table.entity)} kept"
        draft.description = draft.description.replace(latest, "every version kept (see the history model)")
        table.spec.deduplicate = None
        for column in table.spec.columns:
            column.tests = [t for t in column.tests if t.name != "unique"]
        draft.tests = [t for t in draft.tests if t.name != "unique_combination_of_columns"]
        table.model_tests = draft.tests
        draft.spec = table.spec


def _staged(table: Staged, raw: str) -> ColumnSpec | None:
    name = table.renamed.get(raw)
    return next((c for c in table.spec.columns if c.name == name), None)


def _start_column(table: Staged) -> ColumnSpec | None:
    """The staged column a version starts at, when the table is a version history the rules date; else None."""
    key = table.key
    if key is None or key.history is None or key.history.copies or not table.spec.deduplicate:
        return None
    if table.spec.filter is not None or not table.spec.grain:
        return None
    for raw in key.history.version_columns:
        column = _staged(table, raw)
        if column is not None and is_temporal(column.data_type or "") and column.name not in table.spec.grain:
            return column
    return None


def _history_draft(table: Staged, name: str, start: ColumnSpec) -> HistoryDraft:
    """The type-2 history of a staged table: every staged column carried, keyed on its key and version start."""
    end = next(
        (
            c
            for raw in table.relation.columns
            if raw.name.lower() in _END_COLUMNS
            and (c := _staged(table, raw.name)) is not None
            and is_temporal(c.data_type or "")
            and c.name != start.name
        ),
        None,
    )
    versions = [c for raw in table.key.history.version_columns if (c := _staged(table, raw)) is not None]  # type: ignore[union-attr]
    loaded = loaded_at_column(table.relation)
    synced = _staged(table, loaded.name) if loaded is not None else None
    # Versions starting together: the latest by the other version columns (`_fivetran_active`), then by sync.
    ties = [c.name for c in [*versions, *([synced] if synced else [])] if c.name != start.name]
    tie_breaker = [OrderBy(column=c, descending=True) for c in dict.fromkeys(ties)]
    if (
        not tie_breaker
    ):  # nothing says which is later: any order of the values themselves, to be deterministic
        tie_breaker = [
            OrderBy(column=c.name)
            for c in table.spec.columns
            if c.name != start.name and type_family(c.data_type or "") in _ORDERABLE
        ]
    return history_draft(
        name,
        HistorySpec(
            from_model=table.model,
            entity_key=list(table.spec.grain),
            valid_from=start.name,
            valid_to=end.name if end is not None else None,
            tie_breaker=tie_breaker,
            columns=[],
        ),
        _carried(table),
        docs.words(table.entity),
    )


def history_draft(name: str, spec: HistorySpec, carried: list[ColumnSpec], entity: str) -> HistoryDraft:
    """The history draft of a spec whose ends are settled: the `carried` columns of its model (the key not null),
    its description, its grain and overlap tests. Shared with the LLM planner, whose answer settles the ends."""
    key = spec.entity_key
    spec = spec.model_copy(
        update={
            "columns": [
                _carried_as(c, c.name, [DataTest(name="not_null")] if c.name in key else [])
                for c in carried
                # A raw `valid_from` is the version's start the history computes: written once, as the history's own.
                if c.name not in HISTORY_COLUMNS
            ]
        }
    )
    ends = (
        f"`{spec.valid_to}` (the loader's end)" if spec.valid_to is not None else "the next version's start"
    )
    description = (
        f"Every version of each {entity} (type 2): from `{spec.valid_from}` until {ends}; "
        f"`is_current` marks the latest. The state as of a time t: `valid_from <= t and (valid_to is null or "
        f"t < valid_to)`."
    )
    valid_from, valid_to, _ = HISTORY_COLUMNS
    tests = [
        ModelTest(name="unique_combination_of_columns", columns=[*key, valid_from]),
        ModelTest(name="versions_do_not_overlap", columns=key, valid_from=valid_from, valid_to=valid_to),
    ]
    return HistoryDraft(name=name, description=description, spec=spec, tests=tests)


def _history_name(table: str) -> str:
    return table if table.endswith("_history") else f"{table}_history"


_AS_OF = (
    "The state as of a time t: `valid_from <= t and (valid_to is null or t < valid_to)`; the current state: "
    "`is_current`."
)


def _type2_dimension(history: HistoryDraft, alias: str) -> MartSpec:
    """The history as the marts' type-2 dimension: its versions with their validity, as the history dates them."""
    valid_from, valid_to, is_current = HISTORY_COLUMNS
    return MartSpec(
        role="dimension",
        base_model=history.name,
        base_alias=alias,
        grain=[*history.spec.entity_key, valid_from],
        columns=[
            *(_carried_as(c, f"{alias}.{c.name}", []) for c in history.spec.columns),
            ColumnSpec(
                name=valid_from,
                expression=f"{alias}.{valid_from}",
                description="When this version became the state.",
                tests=[DataTest(name="not_null")],
            ),
            ColumnSpec(
                name=valid_to,
                expression=f"{alias}.{valid_to}",
                description="When the next version took its place; null for the current version.",
            ),
            ColumnSpec(
                name=is_current,
                expression=f"{alias}.{is_current}",
                description="Whether this version is the current state.",
                tests=[DataTest(name="not_null")],
            ),
        ],
    )


def _current_state(table: Staged, history: str, testing: bool) -> MartSpec:
    """The history's current versions with the staged table's columns and key tests: what the marts read."""
    alias = cte_name(table.table)
    return MartSpec(
        role="dimension",
        base_model=history,
        base_alias=alias,
        grain=list(table.spec.grain),
        filter=f"{alias}.{HISTORY_COLUMNS[2]}",
        columns=[
            _carried_as(
                c, f"{alias}.{c.name}", _key_tests(table) if c.name in table.spec.grain and testing else []
            )
            for c in _carried(table)
        ],
    )


def _carried(table: Staged) -> list[ColumnSpec]:
    """The staged columns a history and its current state carry: all but the loader's, which stay in staging."""
    return [c for c in table.spec.columns if not measures.is_loader_column(c)]


def _carried_as(column: ColumnSpec, expression: str, tests: list[DataTest]) -> ColumnSpec:
    """A staged column as a later model selects it: its description and type, these tests, no raw column."""
    update = {"expression": expression, "source_column": None, "cast_to": None, "tests": tests}
    return column.model_copy(update=update)


def _key_tests(table: Staged) -> list[DataTest]:
    """A single key is unique and not null in the current state; a composite one's columns not null."""
    if len(table.spec.grain) == 1:
        return [DataTest(name="unique"), DataTest(name="not_null")]
    return [DataTest(name="not_null")]
