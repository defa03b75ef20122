"""Check one action's spec: every name in the grammar, every fragment one safe expression, every reference real.

`Inputs` says which columns each model and source of the plan outputs (None when a model exists in
the project but its columns are unknown), so that a spec cannot read a column that is not there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlglot import exp

from cartridge_bridge.planning.history_checks import check_history, check_overlap_test
from cartridge_bridge.planning.incremental_checks import check_incremental
from cartridge_bridge.planning.join_checks import Key, check_input_joins, planned_keys
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    ConditionalAggregate,
    DataTest,
    ExecutionPlan,
    HistorySpec,
    MartSpec,
    ModelTest,
    PeriodicSnapshotSpec,
    PlanAction,
    SourceSpec,
    SourceTableSpec,
    StagingSpec,
    TimeSpineSpec,
    UnionSpec,
    output_columns,
)
from cartridge_bridge.planning.problems import PlanProblem
from cartridge_bridge.planning.semantic_checks import check_semantic_model
from cartridge_bridge.planning.snapshot_checks import check_periodic_snapshot
from cartridge_bridge.planning.union_checks import check_union
from cartridge_bridge.sql.identifiers import DOC_NAME, NAME, TAG, dbt_quoting_problem, name_problem
from cartridge_bridge.sql.sql_fragments import (
    cast_type_problem,
    column_references,
    literal_problem,
    parse_expression,
)
from cartridge_bridge.sql.sql_types import type_family

# The columns a de-duplicating staging template computes (the row number, the filter's flag).
_DEDUPLICATE_COLUMNS = frozenset({"cartridge_row_number", "cartridge_kept"})
Columns = set[str] | None  # None: the relation exists but its columns are not known


@dataclass
class Inputs:
    """What the plan and the project provide: models and `source.table` names with their columns."""

    models: dict[str, Columns] = field(default_factory=dict)
    sources: dict[str, Columns] = field(default_factory=dict)
    # Model → the column sets it is proved unique on (what a join may reach one row by); a model missing here
    # has unknown keys (a plan already checked against its project, read again in a repair round).
    keys: dict[str, list[Key]] = field(default_factory=dict)

    @classmethod
    def of_plan(cls, plan: ExecutionPlan, models: Iterable[str], sources: Iterable[str]) -> Inputs:
        """The plan's models and sources with their columns, and the project's `models`/`sources` by name."""
        inputs = cls(models=dict.fromkeys(models), sources=dict.fromkeys(sources))
        for action in plan.actions:
            if isinstance(action.spec, SourceSpec):
                for table in action.spec.tables:
                    inputs.sources[f"{action.spec.source_name}.{table.name}"] = {
                        c.name for c in table.columns
                    }
            elif action.type != "modify_in_place":  # an edited mart keeps its own columns: the project's
                inputs.models[action.name] = {c.name for c in output_columns(action.spec)}
                inputs.keys[action.name] = planned_keys(action)
        return inputs


class SpecChecker:
    """Collects the problems of one action."""

    def __init__(self, action: PlanAction, adapter_type: str, inputs: Inputs):
        self.action = action
        self.adapter = adapter_type
        self.inputs = inputs
        self.problems: list[PlanProblem] = []

    def add(self, where: str, problem: str, expected: str | None = None) -> None:
        """Record a problem at `where` (a field path inside the action)."""
        self.problems.append(PlanProblem(self.action.name, where, problem, expected))

    def name(self, where: str, value: object, *, reserved_ok: bool = False) -> bool:
        """Check a name cartridge writes bare into SQL; True when it is fine."""
        problem = name_problem(value, self.adapter, reserved_ok=reserved_ok)
        if problem:
            self.add(where, problem, "a lower-case snake_case name")
        return problem is None

    def text(self, where: str, value: object) -> None:
        """Check warehouse text (quoted in SQL, neutralized in YAML, so any character but NUL may stay)."""
        if not isinstance(value, str) or not value:
            self.add(where, "is empty")
        elif "\x00" in value:
            self.add(where, f"{value!r} contains a NUL character")

    def warehouse_name(self, where: str, value: object) -> None:
        """Check a name dbt quotes in source() (database, schema, identifier): text without its quote mark."""
        self.text(where, value)
        if isinstance(value, str) and (problem := dbt_quoting_problem(value, self.adapter)):
            self.add(where, problem, "a relation whose name dbt can quote; leave this one out")

    def fragment(
        self, where: str, text: str, readable: dict[str | None, Columns], *, windows: bool = False
    ) -> None:
        """Check a SQL fragment and that every column it reads is in `readable` (alias → columns); window
        functions from the short list only when `windows` (a mart's or aggregate's column)."""
        tree, problem = parse_expression(text, self.adapter, windows=windows)
        if problem or tree is None:
            self.add(where, problem or "does not parse", "one SQL expression over the model's inputs")
            return
        for ref in column_references(tree):
            if ref.table is not None and ref.table not in readable:
                known = ", ".join(sorted(a for a in readable if a)) or "none"
                self.add(
                    where,
                    f"{text!r} reads {ref.table}.{ref.name}, but {ref.table!r} is not an input alias",
                    f"one of: {known}",
                )
                continue
            pools = [readable[ref.table]] if ref.table is not None else list(readable.values())
            if any(pool is None for pool in pools):
                continue  # an existing model whose columns are unknown: dbt will tell
            if not any(_has_column(pool, ref.name, ref.quoted) for pool in pools if pool is not None):
                self.add(where, f"{text!r} reads column {ref.name!r}, which its inputs do not have")

    def columns_in(self, where: str, names: Iterable[str], columns: Columns) -> None:
        """Every name is a column of `columns` (when known)."""
        for name in names:
            if self.name(where, name, reserved_ok=True) and columns is not None and name not in columns:
                self.add(
                    where, f"{name!r} is not a column of this model", f"one of: {', '.join(sorted(columns))}"
                )

    def data_tests(self, where: str, tests: list[DataTest]) -> None:
        """Column tests: relationships to a real model and column, accepted values as data, none twice."""
        seen: set[tuple[object, ...]] = set()
        for index, test in enumerate(tests):
            at = f"{where}.tests[{index}]"
            same = data_test_identity(test)
            if same in seen:  # dbt refuses the project at parse: two tests of one name on a column
                self.add(at, f"the column has this {test.name} test twice")
            seen.add(same)
            if test.name == "relationships":
                if test.to is None or test.field is None:
                    self.add(at, "relationships needs `to` (a model) and `field` (its column)")
                    continue
                if self.name(f"{at}.to", test.to, reserved_ok=True):
                    if test.to not in self.inputs.models:
                        self.add(f"{at}.to", f"{test.to!r} is neither planned nor a model of the project")
                    else:
                        self.columns_in(f"{at}.field", [test.field], self.inputs.models[test.to])
            elif test.to is not None or test.field is not None:
                self.add(at, f"{test.name} takes no `to` or `field`")
            if test.name == "accepted_values":
                if not test.values:
                    self.add(f"{at}.values", "accepted_values needs a non-empty list of values")
                # dbt pastes each value between quotes: it must stay one string literal once escaped.
                for value in test.values or []:
                    if problem := literal_problem(value, self.adapter):
                        self.add(f"{at}.values", problem, "text cartridge can escape as a string literal")
            elif test.values is not None:
                self.add(f"{at}.values", f"{test.name} takes no `values`")

    def model_tests(self, tests: list[ModelTest], outputs: set[str]) -> None:
        """Model-level tests: a unique combination of real columns, or a safe boolean expression."""
        for index, test in enumerate(tests):
            at = f"tests[{index}]"
            if test.name != "versions_do_not_overlap" and (test.valid_from, test.valid_to) != (None, None):
                self.add(at, f"{test.name} takes no `valid_from` or `valid_to`")
            if test.name == "unique_combination_of_columns":
                if len(test.columns) < 2:
                    self.add(f"{at}.columns", "a combination needs at least two columns")
                self.columns_in(f"{at}.columns", test.columns, outputs)
                if test.expression is not None:
                    self.add(f"{at}.expression", "unique_combination_of_columns takes no expression")
            elif test.name == "versions_do_not_overlap":
                check_overlap_test(self, at, test, outputs)
            else:
                if test.expression is None:
                    self.add(f"{at}.expression", "expression_is_true needs an expression")
                else:
                    self.fragment(f"{at}.expression", test.expression, {None: outputs})
                if test.columns:
                    self.add(f"{at}.columns", "expression_is_true takes no columns")

    def output(self, columns: list[ColumnSpec]) -> set[str]:
        """Check output names (grammar, unique) and column tests; the set of names."""
        seen: set[str] = set()
        for column in columns:
            at = f"spec.columns[{column.name}]"
            self.name(f"{at}.name", column.name)
            if column.name in seen:
                self.add(f"{at}.name", f"the model outputs {column.name!r} twice")
            seen.add(column.name)
            self.data_tests(at, column.tests)
        return seen

    def check(self) -> list[PlanProblem]:
        """Every problem of the action's spec, config and tests."""
        spec = self.action.spec
        if isinstance(spec, SourceSpec):
            self.source(spec)
            return self.problems
        outputs = self.output(output_columns(spec))
        if not outputs:
            self.add("spec.columns", "the model outputs no columns", "at least one column")
        if isinstance(spec, StagingSpec):
            self.staging(spec, outputs)
        elif isinstance(spec, AggregateSpec):
            self.aggregate(spec)
        elif isinstance(spec, HistorySpec):
            check_history(self, spec)
        elif isinstance(spec, TimeSpineSpec):
            if spec.start_date >= spec.end_date:
                self.add("spec.end_date", "the time spine ends before it starts", "a date after start_date")
        elif isinstance(spec, UnionSpec):
            check_union(self, spec, outputs)
        elif isinstance(spec, PeriodicSnapshotSpec):
            check_periodic_snapshot(self, spec)
        else:
            self.mart(spec)
        if self.action.semantic_model is not None:
            check_semantic_model(self, self.action.semantic_model, outputs)
        self.columns_in("spec.grain", getattr(spec, "grain", []), outputs)
        self.columns_in("config.unique_key", self.action.config.unique_key, outputs)
        check_incremental(self, outputs)
        for tag in self.action.config.tags:
            if not TAG.fullmatch(tag):
                self.add("config.tags", f"{tag!r} is not a tag (letters, digits, _ . -)")
        self.model_tests(self.action.tests, outputs)
        return self.problems

    def source(self, spec: SourceSpec) -> None:
        """A source: its name and table names are written into source() calls; the rest is quoted text."""
        self.name("spec.source_name", spec.source_name, reserved_ok=True)
        if spec.source_name != self.action.name:
            self.add("name", f"a source action is named after its source, {spec.source_name!r}")
        self.warehouse_name("spec.schema_name", spec.schema_name)
        if spec.database is not None:
            self.warehouse_name("spec.database", spec.database)
        tables: set[str] = set()
        for table in spec.tables:
            at = f"spec.tables[{table.name}]"
            self.name(f"{at}.name", table.name, reserved_ok=True)
            if table.name in tables:
                self.add(f"{at}.name", f"the source declares {table.name!r} twice")
            tables.add(table.name)
            self.warehouse_name(f"{at}.identifier", table.identifier)
            self.freshness(at, table)
            for column in table.columns:
                self.text(f"{at}.columns.name", column.name)
                if column.expression is not None and column.expression != column.name:
                    self.add(f"{at}.columns[{column.name}].expression", "a source column has no expression")
                if column.aggregate is not None:
                    self.add(f"{at}.columns[{column.name}].aggregate", "a source column has no aggregate")
                # dbt writes a tested column's name bare into the test's SQL: only a plain name may be tested.
                if column.tests and (problem := name_problem(column.name, self.adapter)):
                    self.add(
                        f"{at}.columns[{column.name}].tests[0]",
                        f"dbt would write the column bare into its tests, and {problem}",
                        "no tests here; test the staged column instead",
                    )
                self.data_tests(f"{at}.columns[{column.name}]", column.tests)

    def freshness(self, at: str, table: SourceTableSpec) -> None:
        """A loaded_at_field is one of the table's columns, holding timestamps, and comes with its thresholds."""
        if (table.loaded_at_field is None) != (table.freshness is None):
            self.add(f"{at}.freshness", "loaded_at_field and freshness go together: set both or neither")
        if table.loaded_at_field is None:
            return
        column = next((c for c in table.columns if c.name == table.loaded_at_field), None)
        if column is None:
            self.add(
                f"{at}.loaded_at_field",
                f"{table.loaded_at_field!r} is not a column of this table",
                f"one of: {', '.join(c.name for c in table.columns)}",
            )
        elif column.data_type and type_family(column.data_type) not in ("temporal", "text"):
            self.add(
                f"{at}.loaded_at_field",
                f"{column.name!r} is {column.data_type}, which holds no point in time",
                "a timestamp column (or text holding ISO timestamps)",
            )

    def staging(self, spec: StagingSpec, outputs: set[str]) -> None:
        """A staging model reads one source table: raw columns quoted, casts to plain types."""
        self.name("spec.source_name", spec.source_name, reserved_ok=True)
        self.name("spec.table", spec.table, reserved_ok=True)
        if not NAME.fullmatch(spec.entity):  # only words in descriptions: no length limit
            self.add(
                "spec.entity", f"{spec.entity!r} is not a lower-case snake_case word", "like `order_item`"
            )
        key = f"{spec.source_name}.{spec.table}"
        raw = self.inputs.sources.get(key)
        if key not in self.inputs.sources:
            self.add("spec.table", f"source table {key!r} is neither planned nor declared in the project")
        for column in spec.columns:
            at = f"spec.columns[{column.name}]"
            if (column.source_column is None) == (column.expression is None):
                self.add(
                    at, "a staging column has either `source_column` or `expression`, not both or neither"
                )
            if column.source_column is not None:
                self.text(f"{at}.source_column", column.source_column)
                if raw is not None and column.source_column not in raw:
                    self.add(f"{at}.source_column", f"{column.source_column!r} is not a column of {key}")
                if column.cast_to is not None and (
                    problem := cast_type_problem(column.cast_to, self.adapter)
                ):
                    self.add(f"{at}.cast_to", problem, "a plain SQL type")
            elif column.cast_to is not None:
                self.add(f"{at}.cast_to", "only a `source_column` is cast; write the cast in the expression")
            if column.expression is not None:
                self.fragment(f"{at}.expression", column.expression, {None: raw})
            if column.aggregate is not None:
                self.add(
                    f"{at}.aggregate", "a staging column aggregates nothing; aggregate in an aggregate model"
                )
        if spec.filter is not None:
            self.fragment("spec.filter", spec.filter, {None: raw})
        if spec.deduplicate is not None:
            self.columns_in("spec.deduplicate.partition_by", spec.deduplicate.partition_by, outputs)
            self.columns_in(
                "spec.deduplicate.order_by", [o.column for o in spec.deduplicate.order_by], outputs
            )
            for taken in sorted(outputs & _DEDUPLICATE_COLUMNS):
                self.add(f"spec.columns[{taken}].name", f"{taken!r} is a column de-duplication adds itself")
            if not spec.deduplicate.partition_by or not spec.deduplicate.order_by:
                self.add("spec.deduplicate", "de-duplication needs partition_by and order_by columns")

    def model_columns(self, where: str, model: str) -> Columns:
        """The columns of a model the spec reads, recording a problem when the model is unknown."""
        if self.name(where, model, reserved_ok=True) and model not in self.inputs.models:
            self.add(where, f"{model!r} is neither planned nor a model of the project")
            return set()
        return self.inputs.models.get(model)

    def aggregate(self, spec: AggregateSpec) -> None:
        """An aggregate groups one model by some of its columns."""
        readable = check_input_joins(self, spec, self.model_columns("spec.from_model", spec.from_model))
        if not spec.group_by:
            self.add("spec.group_by", "an aggregate groups by at least one column")
        self.columns_in("spec.group_by", spec.group_by, readable[None])
        for column in spec.columns:
            at = f"spec.columns[{column.name}].expression"
            self.expression_column(at, column, readable, aggregates=True)
        if spec.filter is not None:
            self.fragment("spec.filter", spec.filter, readable)

    def expression_column(
        self, at: str, column: ColumnSpec, readable: dict[str | None, Columns], *, aggregates: bool = False
    ) -> None:
        """A column of an intermediate model or mart: an expression (window functions from the short list
        allowed), or in an aggregate model a conditional aggregate; never a raw column or cast."""
        if column.source_column is not None or column.cast_to is not None:
            self.add(at, "only staging columns read `source_column`; write an expression")
        if column.aggregate is not None:
            here = at.removesuffix(".expression") + ".aggregate"
            if column.expression is not None:
                self.add(here, "a column has an `expression` or an `aggregate`, not both")
            if aggregates:
                self.conditional_aggregate(here, column.aggregate, readable)
            else:
                self.add(here, "only an aggregate model's column may be a conditional aggregate")
        elif column.expression is None:
            self.add(at, "is missing")
        else:
            self.fragment(at, column.expression, readable, windows=True)

    def conditional_aggregate(
        self, at: str, aggregate: ConditionalAggregate, readable: dict[str | None, Columns]
    ) -> None:
        """An aggregate's function over one input column (none: count the rows) where a row-level condition holds."""
        if aggregate.column is None:
            if aggregate.function != "count":
                self.add(f"{at}.column", f"{aggregate.function} needs a column", "a column of the input")
        elif not DOC_NAME.fullmatch(aggregate.column):
            # `sum(case when … then <column> end)` takes one value per row; an expression there is a column
            # of the input the model forgot to make, or a conditional aggregate written as an expression.
            self.add(
                f"{at}.column",
                f"{aggregate.column!r} is an expression; `column` names one plain column of the input",
                "a column of the input; for a product or difference write the column's `expression` "
                "instead, e.g. sum(case when <where> then <expression> end)",
            )
        else:
            self.columns_in(f"{at}.column", [aggregate.column], readable.get(None))
        self.fragment(f"{at}.where", aggregate.where, readable)
        tree, _ = parse_expression(aggregate.where, self.adapter)
        if tree is not None and tree.find(exp.AggFunc) is not None:
            self.add(f"{at}.where", f"{aggregate.where!r} aggregates; the condition is on each row")

    def mart(self, spec: MartSpec) -> None:
        """A mart joins models on column pairs; each column reads the aliases in scope."""
        readable: dict[str | None, Columns] = {}
        if self.name("spec.base_alias", spec.base_alias):
            readable[spec.base_alias] = self.model_columns("spec.base_model", spec.base_model)
        for index, join in enumerate(spec.joins):
            at = f"spec.joins[{index}]"
            joined = self.model_columns(f"{at}.model", join.model)
            if self.name(f"{at}.alias", join.alias) and join.alias in readable:
                self.add(f"{at}.alias", f"alias {join.alias!r} is used twice")
            if not join.on:
                self.add(f"{at}.on", "a join needs at least one column pair")
            for pair in join.on:
                if pair.left_alias not in readable:
                    self.add(
                        f"{at}.on.left_alias",
                        f"{pair.left_alias!r} is not the base or an earlier join",
                        ", ".join(a for a in readable if a),
                    )
                else:
                    self.columns_in(f"{at}.on.left_column", [pair.left_column], readable[pair.left_alias])
                self.columns_in(f"{at}.on.right_column", [pair.right_column], joined)
            readable[join.alias] = joined
        for column in output_columns(spec):
            self.expression_column(f"spec.columns[{column.name}].expression", column, readable)
        if spec.filter is not None:
            self.fragment("spec.filter", spec.filter, readable)


def _has_column(columns: set[str], name: str, quoted: bool) -> bool:
    """Unquoted names match case-insensitively, as warehouses fold them; quoted names match exactly."""
    return name in columns if quoted else name.lower() in {c.lower() for c in columns}


def data_test_identity(test: DataTest) -> tuple[object, ...]:
    """What makes two column tests the same test to dbt (its name and arguments; not its severity or notes)."""
    return (test.name, test.to, test.field, tuple(test.values or ()))
