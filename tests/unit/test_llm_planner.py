"""The LLM planner through the ChatModel seam with scripted answers: good plans, re-asks, give-ups, fallbacks, concurrency."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llm_answers import Overlap, RulesMirror, Scripted, asked_models, request_data, task_model, task_models
from llm_fakes import QueueChat
from support import snapshot_tree

from cartridge_bridge.api import make_plan
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import BudgetExceeded, LLMAnswerError
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.llm.asking import extract_json
from cartridge_bridge.planning.llm.chat import ChatRequest, LLMSettings
from cartridge_bridge.planning.llm.planner import LLMPlanner
from cartridge_bridge.planning.placement import place
from cartridge_bridge.planning.plan import ExecutionPlan, MartSpec, StagingSpec, output_columns
from cartridge_bridge.planning.rules.planner import RulesPlanner
from cartridge_bridge.render.plan_files import render_plan

ChatOf = Callable[..., Any]


@pytest.fixture
def chat_of() -> Iterator[ChatOf]:
    """Make the chat a test talks to: in-process here; tests/e2e/test_llm_planner_litellm.py runs
    the same tests with the real litellm client against a local OpenAI-compatible server."""
    yield lambda responder: QueueChat(responder=responder)


def settings(**overrides: Any) -> LLMSettings:
    return LLMSettings(model="fake/model", **overrides)


def plan_with(context: ProjectContext, chat: QueueChat, **overrides: Any) -> ExecutionPlan:
    """The LLM planner's plan for the context, placed and validated as `cartridge plan` does."""
    return make_plan(context, LLMPlanner(chat, settings(**overrides)))


def edited(text: str, change: Any) -> str:
    """A JSON answer after `change` edits it in place."""
    document = json.loads(text)
    change(document)
    return json.dumps(document)


def reasks(chat: QueueChat, phase: str, model: str | None = None) -> list[str]:
    """The re-ask messages sent in this phase (for this model), in order."""
    found = []
    for request in chat.requests:
        if request.phase != phase or (model is not None and model not in asked_models(request)):
            continue
        found += [m["content"] for m in request.messages[2:] if m["role"] == "user"]
    return list(dict.fromkeys(found))  # each re-ask is repeated in the later requests of its conversation


def without_derived_types(plan: ExecutionPlan) -> dict[str, Any]:
    """The plan without its planner name and the types documented on columns outside staging."""
    document = plan.model_dump(exclude={"planner"})
    for action in document["actions"]:
        spec = action["spec"]
        if spec["kind"] in ("aggregate", "mart"):
            for column in spec["columns"] + [c for j in spec.get("joins", []) for c in j["columns"]]:
                column["data_type"] = None
    return document


def rules_plan(context: ProjectContext) -> ExecutionPlan:
    """The rules' plan the mirror answers with: without the crossed measures and owner sequences the requests
    do not offer, and the roll-ups a fallback leaves out (see `LLMPlanner.draft`)."""
    rules = RulesPlanner(crossed_measures=False, rollups=False, owner_sequences=False)
    return place(rules.draft(context), context, "rules")


def test_a_good_outline_and_specs_make_the_rules_plan(context: ProjectContext, chat_of: ChatOf) -> None:
    chat = chat_of(responder=RulesMirror(context))
    plan = plan_with(context, chat)
    assert plan.planner == "llm:fake/model"
    assert plan_problems(plan, context) == []
    assert render_plan(plan)  # renders through the guards
    assert without_derived_types(plan) == without_derived_types(rules_plan(context))
    assert chat.phases()[0] == "plan" and chat.phases().count("plan") == 1
    # The four staging specs in one request (they fit the token budget); each mart alone.
    assert chat.phases().count("staging") == 1 and chat.phases().count("mart") == 4
    staged = [n for r in chat.requests if r.phase == "staging" for n in task_models(r)]
    assert sorted(staged) == sorted(a.name for a in plan.models() if a.type == "create_staging")
    # Tests and documentation: every model once, several per request.
    described = [n for r in chat.requests if r.phase == "docs_tests" for n in task_models(r)]
    assert sorted(described) == sorted(a.name for a in plan.models())
    assert chat.phases().count("docs_tests") < len(described)
    for request in chat.requests:
        assert (
            request.response_schema is not None and request.response_schema["additionalProperties"] is False
        )
    assert {r.schema_name for r in chat.requests} == {
        "PlanOutline",
        "StagingBatchAnswer",
        "AggregateAnswer",
        "MartAnswer",
        "DocsAndTestsAnswer",
    }


def test_the_model_never_writes_sources_and_types_pass_through(
    context: ProjectContext, chat_of: ChatOf
) -> None:
    plan = plan_with(context, chat_of(responder=RulesMirror(context)))
    [source] = [a for a in plan.actions if a.type == "create_source"]
    assert source == next(a for a in rules_plan(context).actions if a.type == "create_source")
    fact = next(a for a in plan.actions if a.name == "fct_orders")
    assert isinstance(fact.spec, MartSpec)
    assert {c.name: c.data_type for c in fact.spec.columns}["ordered_at"] == "timestamp"


def test_specs_follow_their_inputs(context: ProjectContext, chat_of: ChatOf) -> None:
    chat = chat_of(responder=RulesMirror(context))
    plan_with(context, chat)
    asked = [
        n for r in chat.requests if r.phase in ("staging", "intermediate", "mart") for n in asked_models(r)
    ]
    mirror = RulesMirror(context)
    for model in mirror.outline.models:
        for name in model.inputs:
            assert asked.index(name) < asked.index(model.name)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda text: f"Here is the outline:\n```json\n{text}\n```\nLet me know if you need more.",
        lambda text: f"```\n{text}\n```",
        lambda text: f"Sure! {text} I hope this helps {{not json}}",
    ],
    ids=["fenced json", "bare fence", "chatty"],
)
def test_a_wrapped_answer_is_read_without_a_reask(
    context: ProjectContext, wrap: Any, chat_of: ChatOf
) -> None:
    mirror = RulesMirror(context)
    chat = chat_of(responder=Scripted(mirror, {("plan", None): [wrap(mirror.outline.model_dump_json())]}))
    plan_with(context, chat)
    assert chat.phases().count("plan") == 1


def test_extract_json_takes_the_first_object_in_prose() -> None:
    assert extract_json('noise {"a": [1, {"b": 2}]} and {"c": 3}') == {"a": [1, {"b": 2}]}
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("I cannot help with that. [1, 2]")


def test_invalid_json_then_a_good_answer(context: ProjectContext, chat_of: ChatOf) -> None:
    mirror = RulesMirror(context)
    chat = chat_of(responder=Scripted(mirror, {("plan", None): ['{"models": [']}))
    plan_with(context, chat)
    assert chat.phases().count("plan") == 2
    [reask] = reasks(chat, "plan")
    assert "the answer holds no JSON object" in reask
    second = chat.requests[1].messages
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == '{"models": ['


def test_a_schema_invalid_answer_is_repaired_after_the_reask(
    context: ProjectContext, chat_of: ChatOf
) -> None:
    mirror = RulesMirror(context)

    def break_it(document: dict[str, Any]) -> None:
        del document["models"][0]["grain"]
        document["models"][1]["path"] = "../../etc/evil.sql"
        document["models"][2]["layer"] = "bronze"

    bad = edited(mirror.outline.model_dump_json(), break_it)
    chat = chat_of(responder=Scripted(mirror, {("plan", None): [bad]}))
    plan_with(context, chat)
    [reask] = reasks(chat, "plan")
    problems = json.loads(reask.split("<data>\n", 1)[1].split("\n</data>", 1)[0])["problems"]
    assert "models.0.grain: Field required" in problems
    assert "models.1.path: Extra inputs are not permitted" in problems
    assert any(
        p.startswith("models.2.layer: Input should be 'staging', 'intermediate' or 'marts'") for p in problems
    )
    assert "bronze" in reask


def _outline_with(context: ProjectContext, change: Any) -> str:
    return edited(RulesMirror(context).outline.model_dump_json(), change)


def _cycle(document: dict[str, Any]) -> None:
    models = {m["name"]: m for m in document["models"]}
    models["int_orders_aggregated_to_customers"]["inputs"] = ["dim_customers"]


def _duplicate(document: dict[str, Any]) -> None:
    document["models"][5]["name"] = document["models"][4]["name"]


def _unknown_ref(document: dict[str, Any]) -> None:
    document["models"][-1]["inputs"].append("stg_shop__refunds")


def _bad_name(document: dict[str, Any]) -> None:
    document["models"][-1]["name"] = "../marts/dim_products"


def _uncovered(document: dict[str, Any]) -> None:
    document["models"] = [m for m in document["models"] if m["name"] != "stg_shop__products"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_cycle, "the outline's inputs form a cycle: "),
        (_duplicate, "the outline plans 'int_orders_aggregated_to_customers' twice"),
        (_unknown_ref, "'stg_shop__refunds' is neither planned in this outline nor a model of the project"),
        (_bad_name, "'../marts/dim_products' is not a lower-case snake_case name"),
        (_uncovered, "no staging model for source table 'shop.products'"),
    ],
    ids=["cycle", "duplicate name", "unknown ref", "path as a name", "table left uncovered"],
)
def test_an_outline_the_seam_rejects_is_reasked_and_fixed(
    context: ProjectContext, change: Any, expected: str, chat_of: ChatOf
) -> None:
    mirror = RulesMirror(context)
    chat = chat_of(responder=Scripted(mirror, {("plan", None): [_outline_with(context, change)]}))
    plan = plan_with(context, chat)
    [reask] = reasks(chat, "plan")
    assert expected in reask
    assert plan_problems(plan, context) == []


def _staging_answer(context: ProjectContext, change: Any) -> str:
    mirror = RulesMirror(context)
    return edited(mirror.answer_for("staging", mirror.drafts["stg_shop__orders"]), change)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["columns"][2].update(
                source_column=None, expression="status; drop table raw_shop.orders"
            ),
            "must not contain ';'",
        ),
        (lambda d: d.update(filter="id in (select id from raw_shop.customers)"), "not a statement, subquery"),
        (
            lambda d: d["columns"][2].update(source_column=None, expression="{{ run_query('x') }}"),
            "must not contain Jinja",
        ),
        (
            lambda d: d["columns"][1].update(source_column="customer"),
            "'customer' is not a column of shop.orders",
        ),
        (lambda d: d.update(grain=["order_key"]), "'order_key' is not a column of this model"),
    ],
    ids=["statement", "subquery", "jinja", "unknown raw column", "grain not an output"],
)
def test_a_spec_the_seam_rejects_is_reasked_and_fixed(
    context: ProjectContext, change: Any, expected: str, chat_of: ChatOf
) -> None:
    mirror = RulesMirror(context)
    bad = _staging_answer(context, change)
    chat = chat_of(responder=Scripted(mirror, {("staging", "stg_shop__orders"): [bad]}))
    plan = plan_with(context, chat)
    [reask] = reasks(chat, "staging", "stg_shop__orders")
    assert expected in reask
    assert "stg_shop__orders: spec." in reask  # the problem names the model and the field
    staged = next(a for a in plan.actions if a.name == "stg_shop__orders")
    assert staged.spec == mirror.drafts["stg_shop__orders"].spec


def test_a_mart_may_only_read_its_outlined_inputs(context: ProjectContext, chat_of: ChatOf) -> None:
    mirror = RulesMirror(context)
    bad = edited(
        mirror.answer_for("mart", mirror.drafts["fct_order_items"]),
        lambda d: d.update(base_model="stg_legacy"),
    )
    chat = chat_of(responder=Scripted(mirror, {("mart", "fct_order_items"): [bad]}))
    plan_with(context, chat)
    [reask] = reasks(chat, "mart", "fct_order_items")
    assert (
        "'stg_legacy' is not an input of this model in the outline (expected one of: stg_shop__order_items)"
        in reask
    )


def _entry(mirror: RulesMirror, model: str, change: Any) -> str:
    """The right tests-and-documentation entry of a model after `change` edits it."""
    return edited(mirror.answer_for("docs_tests", mirror.drafts[model]), change)


def _bad_parent(document: dict[str, Any]) -> None:
    column = next(c for c in document["columns"] if c["name"] == "customer_id")
    column["tests"] = [{"name": "relationships", "to": "dim_clients", "field": "id"}]


def test_one_models_bad_entry_is_reasked_alone(context: ProjectContext, chat_of: ChatOf) -> None:
    mirror = RulesMirror(context)

    def undescribed(document: dict[str, Any]) -> None:
        _bad_parent(document)
        document["columns"] = [c for c in document["columns"] if c["name"] != "ordered_at"]

    bad = _entry(mirror, "stg_shop__orders", undescribed)
    chat = chat_of(responder=Scripted(mirror, {("docs_tests", "stg_shop__orders"): [bad]}))
    plan = plan_with(context, chat)
    [reask] = reasks(chat, "docs_tests", "stg_shop__orders")
    data = json.loads(reask.split("<data>\n", 1)[1].split("\n</data>", 1)[0])
    assert data["answer_again_for"] == ["stg_shop__orders"]  # the others' entries were accepted
    assert (
        "stg_shop__orders: spec.columns[customer_id].tests[0].to: 'dim_clients' is neither planned nor a model"
        " of the project" in data["problems"]
    )
    assert "stg_shop__orders: columns: 'ordered_at' is not described" in data["problems"]
    asked = [n for r in chat.requests if r.phase == "docs_tests" for n in task_models(r)]
    assert asked.count("stg_shop__orders") == 2
    assert all(asked.count(n) == 1 for n in asked if n != "stg_shop__orders")
    assert without_derived_types(plan) == without_derived_types(rules_plan(context))


def test_a_batch_answer_that_cannot_be_read_is_asked_again_in_halves(
    context: ProjectContext, chat_of: ChatOf
) -> None:
    mirror = RulesMirror(context)
    cut_off = iter(['{"models": [{"model": "stg_shop__customers", "description": "Cust'])  # an output limit

    def responder(request: ChatRequest) -> str:
        return next(cut_off, None) or mirror(request) if request.phase == "docs_tests" else mirror(request)

    chat = chat_of(responder=responder)
    plan = plan_with(context, chat, batch_tokens=100_000)  # one request for every model
    first, *halves = [r for r in chat.requests if r.phase == "docs_tests"]
    asked = task_models(first)
    assert [task_models(r) for r in halves] == [asked[: len(asked) // 2], asked[len(asked) // 2 :]]
    assert all(len(r.messages) == 2 for r in halves)  # fresh questions, not re-asks of the cut-off answer
    assert without_derived_types(plan) == without_derived_types(rules_plan(context))


def test_after_max_retries_the_planner_gives_up_with_one_line_and_writes_nothing(
    context: ProjectContext, chat_of: ChatOf
) -> None:
    mirror = RulesMirror(context)
    chat = chat_of(responder=Scripted(mirror, {}).always_answer("plan", None, _outline_with(context, _cycle)))
    before = snapshot_tree(Path(context.project_dir))
    with pytest.raises(LLMAnswerError) as raised:
        plan_with(context, chat, max_retries=2)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("the LLM planner gave up: the plan outline stayed invalid after 2 re-asks: ")
    assert "the outline's inputs form a cycle" in message and message.endswith("; nothing was written")
    assert raised.value.exit_code == 1
    assert chat.phases() == ["plan", "plan", "plan"]
    assert snapshot_tree(Path(context.project_dir)) == before


def test_a_spec_that_stays_wrong_names_the_model(context: ProjectContext, chat_of: ChatOf) -> None:
    mirror = RulesMirror(context)
    bad = _staging_answer(context, lambda d: d.update(filter="{% do run_query('x') %}"))
    chat = chat_of(responder=Scripted(mirror, {}).always_answer("staging", "stg_shop__orders", bad))
    with pytest.raises(LLMAnswerError, match=r"the spec of stg_shop__orders stayed invalid after 1 re-ask: "):
        plan_with(context, chat, max_retries=1)
    assert [n for r in chat.requests if r.phase == "staging" for n in asked_models(r)].count(
        "stg_shop__orders"
    ) == 2  # asked with the other staging models, then alone again
    asked = {n for r in chat.requests for n in asked_models(r)}
    assert not asked & {
        "int_orders_aggregated_to_customers",
        "fct_orders",
        "dim_customers",
    }  # downstream of it


def test_a_transport_error_is_not_a_bad_answer_and_stops_the_queued_calls(context: ProjectContext) -> None:
    mirror = RulesMirror(context)

    def responder(request: ChatRequest) -> str:
        if request.phase != "plan":
            time.sleep(0.2)
        if request.phase == "intermediate":
            raise BudgetExceeded("the next call would take the run past --max-cost 0.01 USD")
        return mirror(request)

    chat = QueueChat(responder=responder)
    with pytest.raises(BudgetExceeded, match="max-cost"):
        plan_with(context, chat, concurrency=1, fallback="rules")
    # Staging is specified first (one request); the intermediates it unblocks are queued at once, and the
    # first one's error cancels the rest: they are never sent.
    asked = [r.phase for r in chat.requests if r.phase not in ("plan", "staging")]
    assert asked[0] == "intermediate" and len(asked) <= 2


def test_fallback_rules_when_the_outline_stays_wrong(context: ProjectContext, chat_of: ChatOf) -> None:
    chat = chat_of(responder=lambda request: "I would rather not.")
    plan = plan_with(context, chat, fallback="rules", max_retries=0)
    rules = rules_plan(context)
    assert [a.name for a in plan.actions] == [a.name for a in rules.actions]
    assert plan.planner == "llm:fake/model"
    assert plan.skipped[-1].startswith("the plan outline stayed invalid after 0 re-asks: ")
    assert plan.skipped[-1].endswith("the rules planner planned every table instead")


def test_fallback_rules_for_a_table_the_model_cannot_stage(context: ProjectContext, chat_of: ChatOf) -> None:
    mirror = RulesMirror(context)
    bad = _staging_answer(context, lambda d: d["columns"][0].update(source_column="order_number"))
    chat = chat_of(responder=Scripted(mirror, {}).always_answer("staging", "stg_shop__orders", bad))
    plan = plan_with(context, chat, fallback="rules", max_retries=1)
    assert plan_problems(plan, context) == []
    names = [a.name for a in plan.actions]
    # the rules planner staged orders; what depends on it was not specified by the model, so the rules planned it
    for name in ("stg_shop__orders", "int_orders_aggregated_to_customers", "fct_orders", "dim_customers"):
        assert name in names
    staged = next(a for a in plan.actions if a.name == "stg_shop__orders")
    assert staged.spec == next(a for a in rules_plan(context).actions if a.name == "stg_shop__orders").spec
    assert any(
        n.startswith("the spec of stg_shop__orders stayed invalid after 1 re-ask") for n in plan.skipped
    )
    assert any("its input stg_shop__orders could not be specified" in n for n in plan.skipped)
    assert "mart" in chat.phases()  # models that do not depend on orders were still the model's


def test_fallback_rules_for_tests_and_docs(context: ProjectContext, chat_of: ChatOf) -> None:
    mirror = RulesMirror(context)
    chat = chat_of(
        responder=Scripted(mirror, {}).always_answer(
            "docs_tests", "stg_shop__customers", '{"model": "stg_shop__customers", "description": ""}'
        )
    )
    plan = plan_with(context, chat, fallback="rules", max_retries=0)
    customers = next(a for a in plan.actions if a.name == "stg_shop__customers")
    assert isinstance(customers.spec, StagingSpec)
    tests = {c.name: [t.name for t in c.tests] for c in customers.spec.columns}
    assert tests == {"customer_id": ["unique", "not_null"], "email": [], "created_at": []}
    descriptions = {c.name: c.description for c in output_columns(customers.spec)}
    assert descriptions["customer_id"] == "Primary key of the customer."
    assert any(n.endswith("cartridge tested the grain of stg_shop__customers only") for n in plan.skipped)
    assert any(n.endswith("cartridge described stg_shop__customers in its own words") for n in plan.skipped)


def test_fallback_rules_keeps_the_good_part_of_an_entry(context: ProjectContext, chat_of: ChatOf) -> None:
    mirror = RulesMirror(context)

    def described_but_badly_tested(document: dict[str, Any]) -> None:
        _bad_parent(document)
        document["description"] = "Orders as the model describes them."

    bad = _entry(mirror, "stg_shop__orders", described_but_badly_tested)
    chat = chat_of(responder=Scripted(mirror, {}).always_answer("docs_tests", "stg_shop__orders", bad))
    plan = plan_with(context, chat, fallback="rules", max_retries=1)
    orders = next(a for a in plan.actions if a.name == "stg_shop__orders")
    assert orders.description == "Orders as the model describes them."  # the documentation was kept
    assert isinstance(orders.spec, StagingSpec)
    assert not any(
        t.name == "relationships" for c in orders.spec.columns for t in c.tests
    )  # the grain's only
    notes = [n for n in plan.skipped if "the tests and documentation of stg_shop__orders" in n]
    assert len(notes) == 1 and notes[0].endswith("cartridge tested the grain of stg_shop__orders only")


@pytest.mark.parametrize("limit", [1, 2])
def test_concurrent_calls_stay_within_the_limit(context: ProjectContext, limit: int, chat_of: ChatOf) -> None:
    overlap = Overlap(RulesMirror(context))
    plan_with(context, chat_of(responder=overlap), concurrency=limit)
    assert overlap.most == limit  # four staging specs at once would exceed it; the limit is reached


def test_no_new_table_means_no_call(context: ProjectContext) -> None:
    covered = context.model_copy(
        update={
            "raw_schemas": [
                s.model_copy(update={"covered": [r.identifier for r in s.relations]})
                for s in context.raw_schemas
            ]
        }
    )
    chat = QueueChat()
    draft = LLMPlanner(chat, settings()).draft(covered)
    assert draft.models == [] and chat.requests == []


def test_the_tables_a_model_leaves_out_are_named(context: ProjectContext, chat_of: ChatOf) -> None:
    def skip_products(document: dict[str, Any]) -> None:
        document["models"] = [
            m for m in document["models"] if "product" not in m["name"] and m["name"] != "fct_order_items"
        ]
        document["skipped"] = [{"source_table": "shop.products", "reason": "a view\nof a vendor feed"}]
        document["source_tables"] = [
            t for t in document["source_tables"] if t["source_table"] != "shop.products"
        ]

    def untested_product(document: dict[str, Any]) -> None:
        next(c for c in document["columns"] if c["name"] == "product_id")["tests"] = []

    mirror = RulesMirror(context)
    scripts = {
        ("plan", None): [_outline_with(context, skip_products)],
        ("docs_tests", "stg_shop__order_items"): [_entry(mirror, "stg_shop__order_items", untested_product)],
    }
    chat = chat_of(responder=Scripted(mirror, scripts))
    plan = plan_with(context, chat)
    assert "raw_shop.products: left out by the model: a view of a vendor feed" in plan.skipped
    [source] = [a for a in plan.actions if a.type == "create_source"]
    assert "products" not in [t.name for t in source.spec.tables]  # type: ignore[union-attr]
    assert "shop.products" in [t["source_table"] for t in request_data(chat.requests[0])["raw_tables"]]


def test_a_mart_may_join_an_existing_model_of_the_project(context: ProjectContext, chat_of: ChatOf) -> None:
    mirror = RulesMirror(context)

    def add_legacy_mart(document: dict[str, Any]) -> None:
        document["models"].append(
            {
                "name": "fct_order_payments",
                "layer": "marts",
                "role": "fact",
                "inputs": ["stg_shop__orders", "stg_legacy"],
                "grain": "one row per order",
                "description": "Orders with their legacy payments.",
            }
        )

    mart = {
        "base_model": "stg_shop__orders",
        "base_alias": "orders",
        "grain": ["order_id"],
        "columns": [{"name": "order_id", "expression": "orders.order_id"}],
        "joins": [
            {
                "model": "stg_legacy",
                "alias": "legacy",
                "on": [{"left_alias": "orders", "left_column": "order_id", "right_column": "order_id"}],
                "columns": [{"name": "paid_amount", "expression": "legacy.amount"}],
            }
        ],
    }
    docs_tests = {
        "model": "fct_order_payments",
        "description": "Orders with their legacy payments.",
        "columns": [
            {
                "name": "order_id",
                "description": "The order.",
                "tests": [{"name": "unique"}, {"name": "not_null"}],
            },
            {"name": "paid_amount", "description": "Paid."},
        ],
    }
    scripts = {
        ("plan", None): [_outline_with(context, add_legacy_mart)],
        ("mart", "fct_order_payments"): [json.dumps(mart)],
        ("docs_tests", "fct_order_payments"): [json.dumps(docs_tests)],
    }
    chat = chat_of(responder=Scripted(mirror, scripts))
    plan = plan_with(context, chat)
    mart_action = next(a for a in plan.actions if a.name == "fct_order_payments")
    assert mart_action.dependencies == ["stg_shop__orders", "stg_legacy"]
    [request] = [r for r in chat.requests if r.phase == "mart" and task_model(r) == "fct_order_payments"]
    inputs = {m["name"]: m for m in request_data(request)["inputs"]}
    assert inputs["stg_legacy"] == {"name": "stg_legacy", "planned": False, "grain": [], "some_columns": []}
    assert inputs["stg_shop__orders"]["planned"] is True


def test_a_deduplication_written_with_raw_names_is_read_as_the_output_columns(
    context: ProjectContext, chat_of: ChatOf
) -> None:
    mirror = RulesMirror(context)
    draft = mirror.drafts["stg_shop__customers"]
    assert isinstance(draft.spec, StagingSpec)
    raw = {c.name: str(c.source_column) for c in draft.spec.columns}
    assert raw["customer_id"] != "customer_id"  # staging renames the key: `id` → `customer_id`

    def keep_latest(document: dict[str, Any]) -> None:  # the key as the table's facts spell it: raw names
        order = [{"column": raw["created_at"], "descending": True}]
        document["deduplicate"] = {"partition_by": [raw["customer_id"]], "order_by": order}

    answer = edited(mirror.answer_for("staging", draft), keep_latest)
    chat = chat_of(responder=Scripted(mirror, {("staging", "stg_shop__customers"): [answer]}))
    plan = plan_with(context, chat)
    spec = next(a.spec for a in plan.actions if a.name == "stg_shop__customers")
    assert isinstance(spec, StagingSpec) and spec.deduplicate is not None
    assert spec.deduplicate.partition_by == ["customer_id"]
    assert [o.column for o in spec.deduplicate.order_by] == ["created_at"]
    assert reasks(chat, "staging", "stg_shop__customers") == []


def test_specs_reach_later_phases_in_outline_order_whatever_order_they_finish_in(
    context: ProjectContext, chat_of: ChatOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Later phases settle clashing metric names first come, first served: were the specs handed on in the
    # order concurrent answers came back in, one plan would ask different questions on different runs (a
    # recorded answer keyed on its prompt would then be missed on some runs).
    import cartridge_bridge.planning.llm.planner as llm_planner

    seen: list[list[str]] = []
    document = llm_planner._Planning.test_and_document

    def recording(self: Any, outline: Any, specified: dict[str, Any], *rest: Any) -> Any:
        seen.append(list(specified))
        return document(self, outline, specified, *rest)

    monkeypatch.setattr(llm_planner._Planning, "test_and_document", recording)
    mirror = RulesMirror(context)
    outline: list[str] = []

    def slow_first(request: ChatRequest) -> str:
        answer = mirror(request)
        if request.phase == "plan":
            outline.extend(m["name"] for m in json.loads(answer)["models"])
        elif request.phase in ("intermediate", "mart"):  # the earlier in the outline, the later its answer
            time.sleep(0.05 * (len(outline) - outline.index(task_model(request))))
        return answer

    plan_with(context, chat_of(responder=slow_first), concurrency=4)
    assert len(seen) == 1 and len(seen[0]) > 4
    assert seen[0] == [n for n in outline if n in seen[0]]
