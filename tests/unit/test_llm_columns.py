"""The LLM planner's column answers of plan v3: conditional aggregates, window columns and incremental facts.

A child split by a status and a flag (charges of customers) in a table big enough to be incremental; the answers
are the rules planner's, edited where a test says. Each answer goes through the plan checks: a good one converts
and passes, a bad one (a window outside a mart's or aggregate's column, a payload in a new field) is asked again
with the problem named and never reaches the plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from llm_answers import RulesMirror, Scripted, asked_models, request_data, task_model
from llm_fakes import QueueChat
from test_rules_marts import plan_of, table

from cartridge_bridge.api import make_plan
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import LLMAnswerError
from cartridge_bridge.gather.facts import ColumnProfile, ValueCount
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.llm.chat import ChatRequest, LLMSettings
from cartridge_bridge.planning.llm.planner import LLMPlanner
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ConditionalAggregate,
    ExecutionPlan,
    MartSpec,
    PlanAction,
)
from cartridge_bridge.render.plan_files import render_plan

STATUS = ColumnProfile(
    null_count=0,
    distinct_count=2,
    top_values=[ValueCount(value="succeeded", count=4000), ValueCount(value="failed", count=1000)],
)
CHARGE_COLUMNS = {
    "id": "integer",
    "customer_id": "integer",
    "amount": "numeric(12,2)",
    "status": "text",
    "is_refunded": "boolean",
    "created_at": "timestamp",
    "_fivetran_synced": "timestamp with time zone",
}
AGGREGATE = "int_charges_aggregated_to_customers"
FACT = "fct_charges"
RUNNING = (
    "sum(charges.amount) over (partition by charges.customer_id order by charges.created_at, charges.charge_id "
    "rows between unbounded preceding and current row)"
)
PREVIOUS = "lag(charges.amount) over (partition by charges.customer_id order by charges.created_at, charges.charge_id)"


@pytest.fixture(scope="module")
def charges_context(tmp_path_factory: pytest.TempPathFactory) -> ProjectContext:
    """Customers and their 5,000 charges (status succeeded or failed, a refunded flag, a loader timestamp)."""
    charges = table("charges", CHARGE_COLUMNS, rows=5000, distinct={"id": 5000})
    columns = [c.model_copy(update={"profile": STATUS}) if c.name == "status" else c for c in charges.columns]
    customers = table("customers", {"id": "integer", "name": "text"}, rows=10)
    _, context = plan_of(
        tmp_path_factory.mktemp("charges"), customers, charges.model_copy(update={"columns": columns})
    )
    return context.model_copy(update={"incremental_min_rows": 1000})


class Answers:
    """The rules' answers for the charges, without the snapshots (a kind the LLM outline does not offer
    here), each phase's answer editable as JSON; a column the rules do not have is documented without tests."""

    def __init__(self, context: ProjectContext):
        self.mirror = RulesMirror(context)
        models = [
            m
            for m in self.mirror.outline.models
            if m.name in self.mirror.drafts and m.kind != "periodic_snapshot"
        ]
        self.mirror.outline = self.mirror.outline.model_copy(update={"models": models})

    def __call__(self, request: ChatRequest) -> str:
        answer = self.mirror(request)
        if request.phase != "docs_tests":
            return answer
        entries = {e["model"]: e for e in json.loads(answer)["models"]}
        for described in request_data(request)["models_to_describe"]:
            entry = entries[described["model"]["name"]]
            known = {c["name"] for c in entry["columns"]}
            outputs = [c["name"] for c in described["columns"]]
            entry["columns"] = [c for c in entry["columns"] if c["name"] in outputs]
            entry["columns"] += [{"name": n, "description": ""} for n in outputs if n not in known]
        return json.dumps({"models": list(entries.values())})

    def spec(self, name: str, change: Callable[[dict[str, Any]], None] | None = None) -> str:
        """The rules' spec answer of a model, edited in place by `change`."""
        draft = self.mirror.drafts[name]
        phase = "intermediate" if draft.layer == "intermediate" else "mart"
        answer = json.loads(self.mirror.answer_for(phase, draft))
        if change is not None:
            change(answer)
        return json.dumps(answer)


def run(
    context: ProjectContext, scripts: dict[tuple[str, str | None], list[str]], **settings: Any
) -> tuple[ExecutionPlan, QueueChat]:
    answers = Answers(context)
    chat = QueueChat(responder=Scripted(answers, scripts))
    plan = make_plan(context, LLMPlanner(chat, LLMSettings(model="fake/model", **settings)))
    assert plan_problems(plan, context) == []
    return plan, chat


def reasks(chat: QueueChat, model: str) -> str:
    """Every re-ask sent about this model, as one text."""
    return "\n".join(
        m["content"]
        for r in chat.requests
        if model in asked_models(r)
        for m in r.messages[2:]
        if m["role"] == "user"
    )


def rendered_text(plan: ExecutionPlan) -> str:
    """Every file the plan writes, SQL and YAML entries, as one text."""
    return "\n".join(
        f.text + json.dumps([f.models, f.sources, f.semantic_models], default=str) for f in render_plan(plan)
    )


def action(plan: ExecutionPlan, name: str) -> PlanAction:
    return next(a for a in plan.actions if a.name == name)


def with_conditional_aggregates(answer: dict[str, Any]) -> None:
    """The rules' columns (which the dimension joins), and more: two conditional aggregates and a window."""
    answer["columns"] += [
        {
            "name": "succeeded_amount",
            "aggregate": {"function": "sum", "column": "amount", "where": "status = 'succeeded'"},
        },
        {"name": "number_of_refunded_charges", "aggregate": {"function": "count", "where": "is_refunded"}},
        {"name": "amount_rank", "expression": "rank() over (order by sum(amount) desc)"},
    ]


def succeeded_amount(answer: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in answer["columns"] if c["name"] == "succeeded_amount")["aggregate"]


def with_windows(answer: dict[str, Any]) -> None:
    answer["columns"] += [
        {"name": "running_amount", "expression": RUNNING},
        {"name": "previous_amount", "expression": PREVIOUS},
    ]


def test_a_conditional_aggregate_and_window_columns_convert_and_pass_the_checks(
    charges_context: ProjectContext,
) -> None:
    answers = Answers(charges_context)
    scripts = {
        ("intermediate", AGGREGATE): [answers.spec(AGGREGATE, with_conditional_aggregates)],
        ("mart", FACT): [answers.spec(FACT, with_windows)],
    }
    plan, chat = run(charges_context, scripts)
    assert reasks(chat, AGGREGATE) == "" and reasks(chat, FACT) == ""  # accepted as answered
    aggregate = action(plan, AGGREGATE).spec
    assert isinstance(aggregate, AggregateSpec)
    columns = {c.name: c for c in aggregate.columns}
    assert columns["succeeded_amount"].aggregate == ConditionalAggregate(
        function="sum", column="amount", where="status = 'succeeded'"
    )
    assert columns["number_of_refunded_charges"].aggregate == ConditionalAggregate(
        function="count", where="is_refunded"
    )
    # The rules' own conditional aggregates came back through the answer form unchanged.
    assert columns["total_charge_amount"].aggregate == ConditionalAggregate(
        function="sum", column="amount", where="status in ('succeeded')"
    )
    fact = action(plan, FACT).spec
    assert isinstance(fact, MartSpec)
    assert {c.name: c.expression for c in fact.columns}["running_amount"] == RUNNING
    rendered = rendered_text(plan)
    assert "sum(case when (status = 'succeeded') then amount end) as succeeded_amount" in rendered
    assert "count(case when (is_refunded) then 1 end) as number_of_refunded_charges" in rendered
    assert f"{RUNNING} as running_amount" in rendered


def test_the_requests_show_the_split_columns_and_the_incremental_candidate(
    charges_context: ProjectContext,
) -> None:
    for share_samples, values in ((False, None), (True, ["succeeded", "failed"])):
        _, chat = run(charges_context, {}, share_samples=share_samples)
        [intermediate] = [r for r in chat.requests if r.phase == "intermediate"]
        assert request_data(intermediate)["split_columns"] == [
            {"model": "stg_raw__charges", "column": "status", "kind": "status"}
            | ({"values": values} if values else {}),
            {"model": "stg_raw__charges", "column": "is_refunded", "kind": "flag"},
        ]
    marts = {task_model(r): request_data(r) for r in chat.requests if r.phase == "mart"}
    assert marts[FACT]["incremental"] == {
        "base_model": "stg_raw__charges",
        "row_count": 5000,
        "incremental_min_rows": 1000,
        "growing_column": "_fivetran_synced",
    }
    assert "incremental" not in marts["dim_customers"]  # a dimension: never offered
    fact_prompt = next(r for r in chat.requests if r.phase == "mart" and task_model(r) == FACT).messages[1][
        "content"
    ]
    assert "may then be `incremental` on that column" in fact_prompt


def test_a_small_table_offers_no_incremental(charges_context: ProjectContext) -> None:
    _, chat = run(charges_context.model_copy(update={"incremental_min_rows": 5001}), {})
    [fact] = [r for r in chat.requests if r.phase == "mart" and task_model(r) == FACT]
    assert "incremental" not in request_data(fact)
    assert "may then be `incremental`" not in fact.messages[1]["content"]


def incremental(column: str = "_fivetran_synced", **more: Any) -> Callable[[dict[str, Any]], None]:
    def change(answer: dict[str, Any]) -> None:
        answer["incremental"] = {"column": column, **more}

    return change


def test_an_incremental_fact_answer_becomes_the_models_config(charges_context: ProjectContext) -> None:
    answers = Answers(charges_context)
    plan, chat = run(charges_context, {("mart", FACT): [answers.spec(FACT, incremental(lookback_days=2))]})
    assert reasks(chat, FACT) == ""
    config = action(plan, FACT).config
    assert config.materialized == "incremental" and config.unique_key == ["charge_id"]
    assert config.incremental is not None
    assert (config.incremental.column, config.incremental.lookback_days) == ("_fivetran_synced", 2)
    rendered = next(f.text for f in render_plan(plan) if f.path.endswith(f"{FACT}.sql"))
    assert "is_incremental()" in rendered and "_fivetran_synced" in rendered
    # Without an answer asking for it, the fact is rebuilt whole: the rules' choice is only offered.
    plan, _ = run(charges_context, {})
    assert action(plan, FACT).config.materialized != "incremental"


def join_customers(answer: dict[str, Any]) -> None:
    answer["joins"] = [
        {
            "model": "stg_raw__customers",
            "alias": "customers",
            "on": [{"left_alias": "charges", "left_column": "customer_id", "right_column": "customer_id"}],
            "columns": [{"name": "customer_name", "expression": "customers.name"}],
        }
    ]


def both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(answer: dict[str, Any]) -> None:
        for one in changes:
            one(answer)

    return change


@pytest.mark.parametrize(
    ("model", "change", "problem"),
    [
        ("dim_customers", incremental("customer_id"), "only a fact is incremental"),
        (FACT, both(join_customers, incremental()), "a fact with joins is rebuilt whole"),
        (FACT, both(with_windows, incremental()), "an incremental fact cannot compute a window"),
        (FACT, incremental("charged_at"), "config.incremental.column"),
    ],
    ids=["dimension", "joins", "window", "not an output"],
)
def test_an_incremental_answer_that_cannot_be_is_asked_again(
    charges_context: ProjectContext, model: str, change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    answers = Answers(charges_context)
    plan, chat = run(charges_context, {("mart", model): [answers.spec(model, change)]})
    assert problem in reasks(chat, model)
    assert action(plan, model).config.materialized != "incremental"  # the corrected answer


def staging_entry(change: Callable[[dict[str, Any]], None]) -> Callable[[Answers], str]:
    def entry(answers: Answers) -> str:
        answer = json.loads(answers.mirror.answer_for("staging", answers.mirror.drafts["stg_raw__charges"]))
        change(answer)
        return json.dumps(answer)

    return entry


def _staging_window_column(answer: dict[str, Any]) -> None:
    answer["columns"].append({"name": "running_amount", "expression": "sum(amount) over (order by id)"})


def _staging_window_filter(answer: dict[str, Any]) -> None:
    answer["filter"] = "row_number() over (partition by id order by _fivetran_synced desc) = 1"


def _spec(model: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Answers], str]:
    return lambda answers: answers.spec(model, change)


def _aggregate_where(where: str) -> Callable[[dict[str, Any]], None]:
    def change(answer: dict[str, Any]) -> None:
        with_conditional_aggregates(answer)
        succeeded_amount(answer)["where"] = where

    return change


def _aggregate_column(column: str) -> Callable[[dict[str, Any]], None]:
    def change(answer: dict[str, Any]) -> None:
        with_conditional_aggregates(answer)
        succeeded_amount(answer)["column"] = column

    return change


def _mart_column(expression: str) -> Callable[[dict[str, Any]], None]:
    def change(answer: dict[str, Any]) -> None:
        answer["columns"].append({"name": "payload", "expression": expression})

    return change


def _mart_filter(answer: dict[str, Any]) -> None:
    answer["filter"] = "row_number() over (partition by charges.customer_id order by charges.created_at) = 1"


WINDOW_REFUSED = "uses a window function (`over`), which only a mart's or aggregate's column may compute"
CASES = [
    # Windows outside a mart's or aggregate's column.
    ("staging", "stg_raw__charges", staging_entry(_staging_window_column), WINDOW_REFUSED, "over (order by id)"),
    ("staging", "stg_raw__charges", staging_entry(_staging_window_filter), WINDOW_REFUSED, "row_number()"),
    ("mart", FACT, _spec(FACT, _mart_filter), WINDOW_REFUSED, "row_number()"),
    ("intermediate", AGGREGATE, _spec(AGGREGATE, _aggregate_where("rank() over (order by amount) = 1")),
     WINDOW_REFUSED, "rank()"),
    # Payloads in a conditional aggregate's condition and column.
    ("intermediate", AGGREGATE, _spec(AGGREGATE, _aggregate_where("{{ run_query('drop table x') }}")),
     "must not contain Jinja", "run_query"),
    ("intermediate", AGGREGATE, _spec(AGGREGATE, _aggregate_where("status = 'a') then 1 end) from x; --")),
     "aggregate.where", "from x"),
    ("intermediate", AGGREGATE, _spec(AGGREGATE, _aggregate_where("pg_read_file('/etc/passwd') is not null")),
     "reaches outside the model's inputs", "pg_read_file"),
    ("intermediate", AGGREGATE, _spec(AGGREGATE, _aggregate_where("sum(amount) > 0")),
     "the condition is on each row", "sum(amount) > 0"),
    ("intermediate", AGGREGATE, _spec(AGGREGATE, _aggregate_column("amount) from secrets --")),
     "aggregate.column", "secrets"),
    ("intermediate", AGGREGATE, _spec(AGGREGATE, _aggregate_column("{{ this }}")), "aggregate.column", "{{ this }}"),
    # Payloads in window clauses.
    ("mart", FACT, _spec(FACT, _mart_column("sum(charges.amount) over w")), "names its window", "over w"),
    ("mart", FACT, _spec(FACT, _mart_column("ntile(4) over (order by charges.amount)")),
     "as a window function", "ntile"),
    ("mart", FACT, _spec(FACT, _mart_column("lag(charges.amount) over (order by (select 1))")),
     "not a statement, subquery", "select 1"),
    ("mart", FACT, _spec(FACT, _mart_column("sum(charges.amount) over (partition by {{ this }})")),
     "must not contain Jinja", "{{ this }}"),
    ("mart", FACT, _spec(FACT, _mart_column(
        "sum(charges.amount) over (order by charges.created_at rows between unbounded preceding and "
        "current row exclude current row)")), "exclude", "exclude current row"),
    # Payloads in the incremental fields.
    ("mart", FACT, _spec(FACT, incremental("_fivetran_synced; drop table x")), "incremental.column",
     "drop table"),
    ("mart", FACT, _spec(FACT, incremental("{{ this }}")), "incremental.column", "{{ this }}"),
    ("mart", FACT, _spec(FACT, incremental(lookback_days=100000)), "lookback_days", "100000"),
    ("mart", FACT, _spec(FACT, incremental(on_schema_change="{{ run_query('x') }}")), "on_schema_change",
     "run_query"),
]  # fmt: skip


@pytest.mark.parametrize(("phase", "model", "bad", "problem", "payload"), CASES)
def test_a_refused_answer_is_asked_again_with_the_problem_named_and_never_reaches_the_plan(
    charges_context: ProjectContext,
    phase: str,
    model: str,
    bad: Callable[[Answers], str],
    problem: str,
    payload: str,
) -> None:
    plan, chat = run(charges_context, {(phase, model): [bad(Answers(charges_context))]})
    asked = reasks(chat, model)
    assert problem in asked, asked
    rendered = rendered_text(plan)
    assert payload not in rendered and payload not in plan.model_dump_json()


def test_an_answer_that_stays_refused_writes_nothing(charges_context: ProjectContext) -> None:
    answers = Answers(charges_context)
    bad = answers.spec(AGGREGATE, _aggregate_where("{{ run_query('drop table x') }}"))
    with pytest.raises(LLMAnswerError, match=r"aggregate\.where"):
        run(charges_context, {("intermediate", AGGREGATE): [bad] * 3})
