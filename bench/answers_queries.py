"""The business-answers bench's question files (bench/answers/<connector>.yml) and the restriction on their SQL.

A question is asked of the generated layer in one of two ways. With `sql`: one `select` over one mart, at
most one join on a declared key, filters on the marts' columns, and sum/count/min/max/avg of their columns
under a group by; `date_trunc('<grain>', column)` may stand as a dimension. No case, arithmetic, window,
subquery or CTE: the logic must live in the layer, so the bench refuses anything else before it runs a query.
With `metricflow`: a MetricFlow query over the semantic models the layer has (metrics of the plan, group by
`metric_time__<grain>` or `<entity>__<dimension>`, `where` filters), its output columns renamed to the
answer's: the metrics and their measures are the layer's, so the logic lives there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
import yaml
from pydantic import BaseModel, ConfigDict, model_validator
from sqlglot import exp

from cartridge_bridge.planning.plan import (
    ExecutionPlan,
    MartSpec,
    PeriodicSnapshotSpec,
    StagingSpec,
    output_columns,
)

QUESTIONS = Path(__file__).resolve().parent / "answers"
AGGREGATES = (exp.Sum, exp.Count, exp.Min, exp.Max, exp.Avg)
TRUNCATIONS = (exp.TimestampTrunc, exp.DateTrunc)
GRAINS = frozenset({"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"})
# Every node the restricted SQL may hold; anything else (Case, Add, Window, Subquery, With, Cast, ...) is refused.
ALLOWED = (
    *(exp.Select, exp.From, exp.Join, exp.Table, exp.TableAlias, exp.Identifier, exp.Column, exp.Alias),
    *(exp.Where, exp.Group, exp.Order, exp.Ordered, exp.Paren, exp.And, exp.Or, exp.Not, exp.Is, exp.In),
    *(exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Null, exp.Boolean, exp.Literal, exp.Var),
    *(exp.Distinct, exp.Star, *AGGREGATES, *TRUNCATIONS),
)


class QueryRefused(ValueError):
    """A question's SQL breaks the restriction, or names what the layer does not have."""


class MetricQuery(BaseModel):
    """A question asked through MetricFlow: `mf query --metrics ... --group-by ... --where ...`."""

    model_config = ConfigDict(extra="forbid")

    metrics: list[str]
    group_by: list[str] = []  # `metric_time__month`, `project__team_id`
    where: list[
        str
    ] = []  # MetricFlow filters, e.g. "{{ TimeDimension('metric_time', 'month') }} is not null"
    columns: dict[str, str]  # the answer's column -> MetricFlow's output column (a metric or a group-by)

    @model_validator(mode="after")
    def _columns_are_outputs(self) -> MetricQuery:
        outputs = set(self.metrics) | set(self.group_by)
        strays = sorted(set(self.columns.values()) - outputs)
        if strays:
            raise ValueError(f"columns name no metric or group-by of the query: {', '.join(strays)}")
        return self


class Question(BaseModel):
    """One question of a connector's file: the SQL or MetricFlow query that answers it, or what the layer lacks."""

    model_config = ConfigDict(extra="forbid")

    question: str
    keys: list[str] | None = None  # the answer's key columns; default: its non-numeric ones
    sql: str | None = None
    metricflow: MetricQuery | None = None
    not_answerable: str | None = None  # what the layer lacks for the whole question
    unanswered: dict[str, str] = {}  # column -> what the layer lacks for it, when the query answers the rest

    @model_validator(mode="after")
    def _one_way(self) -> Question:
        if sum(way is not None for way in (self.sql, self.metricflow, self.not_answerable)) != 1:
            raise ValueError("give exactly one of sql, metricflow and not_answerable")
        return self


def load_questions(connector: str, folder: Path = QUESTIONS) -> dict[str, Question]:
    """The questions of one connector (`q1`: ...), each SQL checked for shape before anything runs."""
    path = folder / f"{connector}.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    questions = {name: Question.model_validate(entry) for name, entry in raw.items()}
    for name, question in questions.items():
        if question.sql is not None:
            try:
                check_shape(question.sql)
            except QueryRefused as refused:
                raise QueryRefused(f"{path.name} {name}: {refused}") from None
    return questions


def _refuse_node(node: exp.Expr) -> None:
    if not isinstance(node, ALLOWED):
        raise QueryRefused(f"{node.key} is not allowed: `{node.sql('postgres')[:60]}`")
    if isinstance(node, AGGREGATES):
        inner = node.this
        inner = (
            inner.expressions[0] if isinstance(inner, exp.Distinct) and len(inner.expressions) == 1 else inner
        )
        if not (
            isinstance(inner, exp.Column) or (isinstance(node, exp.Count) and isinstance(inner, exp.Star))
        ):
            raise QueryRefused(f"an aggregate must take one column: `{node.sql('postgres')}`")
    if isinstance(node, TRUNCATIONS):
        unit = str(node.args.get("unit").name if node.args.get("unit") else "").upper()  # type: ignore[union-attr]
        if unit not in GRAINS or not isinstance(node.this, exp.Column):
            raise QueryRefused(f"a date truncation must be to a grain of a column: `{node.sql('postgres')}`")
    if isinstance(node, exp.Distinct) and not isinstance(node.parent, exp.Count):
        raise QueryRefused("distinct only inside count")
    if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
        raise QueryRefused("name the columns: no `*` but in count(*)")


def check_shape(sql: str) -> exp.Select:
    """One select, at most one join on one column pair, and only the allowed nodes; the parsed query."""
    try:
        statements = sqlglot.parse(sql, read="postgres")
    except sqlglot.errors.ParseError as error:
        raise QueryRefused(f"does not parse: {str(error).splitlines()[0]}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        raise QueryRefused("must be exactly one select")
    select = statements[0]
    for key in ("with", "having", "qualify", "limit", "offset", "distinct", "windows"):
        if select.args.get(key):
            raise QueryRefused(f"{key} is not allowed")
    for node in select.walk():
        _refuse_node(node)
    for output in select.expressions:
        # Every output is a column, its truncation or an aggregate: a constant would be an answer typed in.
        if not isinstance(output.unalias(), (exp.Column, *AGGREGATES, *TRUNCATIONS)):
            raise QueryRefused(f"an output must be a column or an aggregate: `{output.sql('postgres')}`")
    joins = select.args.get("joins") or []
    if len(joins) > 1:
        raise QueryRefused("at most one join")
    for join in joins:
        on = join.args.get("on")
        if join.args.get("using") or not (
            isinstance(on, exp.EQ)
            and isinstance(on.this, exp.Column)
            and isinstance(on.expression, exp.Column)
        ):
            raise QueryRefused("a join must be `on a.column = b.column`")
    for where in select.find_all(exp.Where, exp.Group):
        if any(where.find_all(*AGGREGATES)):
            raise QueryRefused("aggregates belong in the select list only")
    return select


@dataclass
class Layer:
    """The generated marts: their columns, their primary keys and the foreign keys the plan declares."""

    columns: dict[str, set[str]] = field(default_factory=dict)
    grain: dict[str, set[str]] = field(default_factory=dict)
    foreign: set[tuple[str, str, str, str]] = field(default_factory=set)  # mart, column -> mart, its key
    metrics: set[str] = field(default_factory=set)  # the metrics of the plan's semantic models


def layer_of(plan: ExecutionPlan) -> Layer:
    """The marts of a plan, and their foreign keys: each mart column with a relationships test of its own, or
    carried from a staging column with one, to a mart's key (or to the staging model a mart is built on)."""
    marts = {a.name: a.spec for a in plan.actions if isinstance(a.spec, MartSpec)}
    # A periodic snapshot is a mart too (balances per period), with no key of its own another mart joins on.
    snapshots = {a.name: a.spec for a in plan.actions if isinstance(a.spec, PeriodicSnapshotSpec)}
    staging = {a.name: a.spec for a in plan.actions if isinstance(a.spec, StagingSpec)}
    layer = Layer()
    layer.metrics = {m.name for a in plan.actions if a.semantic_model for m in a.semantic_model.metrics}
    mart_of_base = {spec.base_model: name for name, spec in marts.items()}
    for name, any_spec in {**marts, **snapshots}.items():
        layer.columns[name] = {c.name for c in output_columns(any_spec)}
        layer.grain[name] = set(any_spec.grain)
    for name, spec in marts.items():
        for column in output_columns(spec):
            for test in column.tests:
                parent = str(test.to) if str(test.to) in marts else mart_of_base.get(str(test.to))
                if test.name == "relationships" and parent and test.field in layer.grain[parent]:
                    layer.foreign.add((name, column.name, parent, str(test.field)))
        base = staging.get(spec.base_model)
        if base is None:
            continue
        tests = {c.name: c.tests for c in base.columns}
        for column in spec.columns:
            for test in tests.get((column.expression or "").removeprefix(f"{spec.base_alias}."), []):
                parent = mart_of_base.get(str(test.to))
                if test.name == "relationships" and parent and test.field in layer.grain[parent]:
                    layer.foreign.add((name, column.name, parent, str(test.field)))
    return layer


def check_metrics(query: MetricQuery, layer: Layer) -> None:
    """Refuse a MetricFlow query asking for a metric the layer's semantic models do not define."""
    missing = [m for m in query.metrics if m not in layer.metrics]
    if missing:
        raise QueryRefused(f"no metric {', '.join(missing)} in the layer's semantic models")


def check_against(select: exp.Select, layer: Layer) -> list[str]:
    """Refuse a query whose tables are not marts, whose columns they lack, or whose join is on no declared key."""
    tables = {}
    for table in select.find_all(exp.Table):
        if table.args.get("db") or table.name not in layer.columns:
            raise QueryRefused(f"`{table.sql('postgres')}` is not a mart of the layer")
        tables[table.alias_or_name] = table.name
    aliases = {a.alias for a in select.expressions if isinstance(a, exp.Alias)}
    for column in select.find_all(exp.Column):
        if column.table and column.table not in tables:
            raise QueryRefused(f"`{column.sql('postgres')}` names no table of the query")
        candidates = [tables[column.table]] if column.table else list(tables.values())
        owners = [m for m in candidates if column.name in layer.columns[m]]
        if len(owners) != 1 and (column.table or column.name not in aliases):
            raise QueryRefused(f"column `{column.sql('postgres')}` is not in exactly one mart of the query")
    for join in select.args.get("joins") or []:
        on = join.args["on"]
        left, right = ((tables.get(c.table, ""), c.name) for c in (on.this, on.expression))
        if (*left, *right) not in layer.foreign and (*right, *left) not in layer.foreign:
            raise QueryRefused(f"the join `{on.sql('postgres')}` is on no foreign key the layer declares")
    return list(tables.values())
