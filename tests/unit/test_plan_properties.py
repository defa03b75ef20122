"""Properties of the plan contract, over inputs hypothesis makes up.

- a path validation accepts stays inside the model path;
- a plan validation accepts has acyclic dependencies;
- a name validation accepts, a warehouse name quoted for the adapter and neutralized text cannot break
  out of their place in SQL or YAML;
- the rules planner's renaming of raw columns is injective and stays within the grammar.
"""

from __future__ import annotations

import string
from graphlib import CycleError, TopologicalSorter
from pathlib import Path, PurePosixPath

import jinja2
import jinja2.meta
import pytest
import sqlglot
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlglot import exp
from support import shop_project

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.gather.facts import RawColumn, RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import Manifest, Metadata
from cartridge_bridge.planning.checks import path_problem, plan_problems
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ExecutionPlan,
    StagingSpec,
    model_inputs,
    output_columns,
)
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.sql.identifiers import name_problem, neutralize, quote
from cartridge_bridge.sql.sql_fragments import expression_problem

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HOSTILE = st.text(
    alphabet=st.sampled_from([*string.ascii_letters, *string.digits, *"_ -./\\'\"`;{}%#()*,\n\t$", "é"]),
    max_size=40,
)
PATH_PARTS = st.sampled_from(
    ["models", "marts", "..", ".", "", "/", "staging", "x.sql", "a b", "\\", "~", "models_old"]
)


def jinja_text(text: str) -> str:
    """What dbt's Jinja makes of a piece of text, failing if it would call or read anything."""
    env = jinja2.Environment(keep_trailing_newline=True)
    assert not jinja2.meta.find_undeclared_variables(env.parse(text))
    return env.from_string(text).render()


@SETTINGS
@given(parts=st.lists(st.one_of(PATH_PARTS, HOSTILE), min_size=1, max_size=6), absolute=st.booleans())
def test_an_accepted_path_stays_in_the_model_path(
    context: ProjectContext, parts: list[str], absolute: bool
) -> None:
    path = ("/" if absolute else "") + "/".join(parts)
    if path_problem(path, context) is None:
        pure = PurePosixPath(path)
        assert not pure.is_absolute() and ".." not in pure.parts and "\\" not in path
        assert pure.parts[0] == context.model_path
        project = Path(context.project_dir).resolve()
        assert (project / path).resolve().is_relative_to(project / context.model_path)


@pytest.fixture(scope="module")
def valid_plan(context: ProjectContext) -> ExecutionPlan:
    return plan_with_rules(context)


@SETTINGS
@given(data=st.data())
def test_an_accepted_plan_has_no_cycle(
    valid_plan: ExecutionPlan, context: ProjectContext, data: st.DataObject
) -> None:
    plan = valid_plan.model_copy(deep=True)
    models = [a for a in plan.models() if isinstance(a.spec, AggregateSpec)]
    names = [a.name for a in plan.models()]
    # Point some aggregates at arbitrary models (their own consumers included) and keep the
    # dependencies consistent, as a careless editor or a model might.
    for action in data.draw(st.lists(st.sampled_from(models), max_size=3, unique_by=lambda a: a.name)):
        assert isinstance(action.spec, AggregateSpec)
        action.spec.from_model = data.draw(st.sampled_from(names))
        action.dependencies = model_inputs(action.spec)
    cyclic = False
    try:
        TopologicalSorter({a.name: list(a.dependencies) for a in plan.models()}).prepare()
    except CycleError:
        cyclic = True
    problems = plan_problems(plan, context)
    if cyclic:
        assert any("cycle" in p.problem for p in problems)
    if not problems:
        assert not cyclic


@SETTINGS
@given(name=HOSTILE)
def test_an_accepted_name_is_a_bare_sql_identifier(name: str) -> None:
    if name_problem(name, "postgres") is None:
        parsed = sqlglot.parse_one(f"select {name} from t", read="postgres")
        assert isinstance(parsed, exp.Select)
        [projection] = parsed.expressions
        assert isinstance(projection, exp.Column) and projection.name == name


@SETTINGS
@given(
    name=HOSTILE.filter(bool),
    adapter=st.sampled_from(["postgres", "duckdb", "bigquery", "spark", "snowflake"]),
)
def test_a_quoted_warehouse_name_stays_one_identifier(name: str, adapter: str) -> None:
    assume(
        adapter != "bigquery" or "." not in name
    )  # BigQuery reads dots in backticks as a path, and forbids them in names
    dialect = {"postgres": "postgres", "duckdb": "duckdb", "bigquery": "bigquery", "spark": "spark"}.get(
        adapter, adapter
    )
    compiled = jinja_text(quote(name, adapter))
    parsed = sqlglot.parse_one(f"select {compiled} from t", read=dialect)
    [projection] = parsed.expressions
    assert isinstance(projection, exp.Column) and projection.name == name


@pytest.mark.parametrize("adapter", ["postgres", "duckdb", "bigquery", "spark", "snowflake"])
def test_every_keyword_of_the_dialects_stays_one_identifier(adapter: str) -> None:
    """Every word sqlglot's tokenizers know (hypothesis once found `drop`) is quoted where it must be."""
    words = set()
    for dialect in ("postgres", "duckdb", "bigquery", "spark", "snowflake"):
        tokenizer = sqlglot.Dialect.get_or_raise(dialect).tokenizer_class
        words |= {k.lower() for k in tokenizer.KEYWORDS if k.replace("_", "").isalpha()}
    for word in sorted(words):
        parsed = sqlglot.parse_one(f"select {quote(word, adapter)} from t", read=adapter)
        [projection] = parsed.expressions
        assert isinstance(projection, exp.Column) and projection.name == word, word


@SETTINGS
@given(text=st.text(max_size=60))
def test_neutralized_text_renders_back_to_itself(text: str) -> None:
    # Jinja writes every line break as \n; nothing else about the text may change.
    assert jinja_text(neutralize(text)) == text.replace("\r\n", "\n").replace("\r", "\n")


@SETTINGS
@given(text=HOSTILE)
def test_an_accepted_fragment_is_one_projection(text: str) -> None:
    if expression_problem(text, "postgres") is None:
        statements = sqlglot.parse(f"select {text} as c from t", read="postgres")
        assert len(statements) == 1 and isinstance(statements[0], exp.Select)
        assert len(statements[0].expressions) == 1
        assert not list(statements[0].find_all(exp.Subquery))


@SETTINGS
@given(
    columns=st.lists(
        st.one_of(
            HOSTILE.filter(lambda s: s.strip() != ""),
            st.sampled_from(["id", "ID", "Id", "order", "group", "x" * 70, "x" * 70 + "y"]),
        ),
        min_size=1,
        max_size=12,
        unique=True,
    ),
)
def test_renaming_is_injective_and_within_the_grammar(
    tmp_path_factory: pytest.TempPathFactory, columns: list[str]
) -> None:
    assume(all("\x00" not in c for c in columns))
    relation = RawRelation.model_validate(
        {
            "schema": "raw",
            "identifier": "Things",
            "columns": [RawColumn(name=c, data_type="text", position=i + 1) for i, c in enumerate(columns)],
        }
    )
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=[relation]
    )
    project = shop_project(tmp_path_factory.mktemp("p"))
    context = build_context(project, Manifest(metadata=Metadata(project_name="shop")), facts, Conventions())
    plan = plan_with_rules(context)
    staging = next(a for a in plan.actions if isinstance(a.spec, StagingSpec))
    assert isinstance(staging.spec, StagingSpec)
    staged = [c.name for c in staging.spec.columns]
    assert len(set(staged)) == len(columns)
    assert [c.source_column for c in staging.spec.columns] == columns
    assert all(name_problem(n, "postgres") is None for n in staged), staged
    assert plan_problems(plan, context) == []


TABLE_NAMES = [
    "customers",
    "orders",
    "order_items",
    "products",
    "refunds",
    "RAW_Orders",
    "raw_orders",
    "tags",
]
COLUMN_NAMES = [
    "amount",
    "total_amount",
    "number_of_orders",
    "number_of_order_items",
    "number_of_refunds",
    "total_order_amount",
    "order_count",
    "price",
    "total_price",
    "quantity",
    "customer_id",
    "order_id",
    "product_id",
    "tag_id",
    "created_at",
    "updated_at",
    "name",
    "status",
]
COLUMN_TYPES = ["integer", "numeric", "text", "timestamp", "boolean", "double precision"]


@st.composite
def small_schemas(draw: st.DrawFn) -> list[RawRelation]:
    """2–5 tables with an `id` and a few columns from a vocabulary of keys, amounts, counts and times."""
    tables = draw(st.lists(st.sampled_from(TABLE_NAMES), min_size=2, max_size=5, unique=True))
    relations = []
    for identifier in tables:
        names = draw(st.lists(st.sampled_from(COLUMN_NAMES), max_size=6, unique=True))
        columns = [("id", "integer")] + [
            (n, "integer" if n.endswith("_id") else draw(st.sampled_from(COLUMN_TYPES))) for n in names
        ]
        relations.append(
            RawRelation.model_validate(
                {
                    "schema": "raw",
                    "identifier": identifier,
                    "columns": [
                        RawColumn(name=n, data_type=t, position=i + 1) for i, (n, t) in enumerate(columns)
                    ],
                }
            )
        )
    return relations


@SETTINGS
@given(relations=small_schemas())
def test_rules_plans_of_small_schemas_have_no_problems(
    tmp_path_factory: pytest.TempPathFactory, relations: list[RawRelation]
) -> None:
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=relations
    )
    project = shop_project(tmp_path_factory.mktemp("p"))
    context = build_context(project, Manifest(metadata=Metadata(project_name="shop")), facts, Conventions())
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    for action in plan.models():
        names = [c.name for c in output_columns(action.spec)]
        assert len(names) == len(set(names)), (action.name, names)
