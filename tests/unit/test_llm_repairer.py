"""The LLM repairer: model errors sent back with SQL and dbt's message; failing data tests with dbt's count and the
profile's counts, fixed or kept relaxed by the model with a reason, relaxed without it when it cannot settle them."""

from __future__ import annotations

import json
from typing import Any

import jinja2
import pytest
from llm_answers import request_data
from llm_fakes import QueueChat
from support import UNIT_FIXTURES, shop_project

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.gather.facts import parse_facts
from cartridge_bridge.gather.manifest import Manifest
from cartridge_bridge.planning.llm.answers import MartRepair, StagingRepair
from cartridge_bridge.planning.llm.chat import LLMSettings
from cartridge_bridge.planning.llm.conversion import data_tests_answer, to_answer
from cartridge_bridge.planning.llm.failing_tests import failing_test_facts
from cartridge_bridge.planning.llm.repairer import LLMRepairer
from cartridge_bridge.planning.plan import (
    DataTest,
    ExecutionPlan,
    MartSpec,
    ModelTest,
    PlanAction,
    StagingSpec,
    output_columns,
)
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import render_plan
from cartridge_bridge.verify.failures import BuildFailure
from cartridge_bridge.verify.repair import RelaxFailingTests

INITCAP_ERROR = (
    "Database Error in model stg_shop__orders (models/staging/shop/stg_shop__orders.sql)\n"
    "  function initcap(text) does not exist\n"
    "  HINT:  No function matches the given name and argument types.\n"
    "  compiled code at target/run/shop/models/staging/shop/stg_shop__orders.sql"
)
COMPILED = (
    'create view "analytics"."stg_shop__orders" as (select initcap(status) as status from raw_shop.orders)'
)


def action(plan: ExecutionPlan, name: str) -> PlanAction:
    return next(a for a in plan.actions if a.name == name)


def broken_plan(context: ProjectContext) -> ExecutionPlan:
    """The rules plan, except that stg_shop__orders computes `status` with a function the warehouse lacks."""
    plan = plan_with_rules(context)
    spec = action(plan, "stg_shop__orders").spec
    assert isinstance(spec, StagingSpec)
    status = next(c for c in spec.columns if c.name == "status")
    status.source_column, status.cast_to, status.expression = None, None, "initcap(status)"
    return plan


def model_error(model: str = "stg_shop__orders", message: str = INITCAP_ERROR) -> BuildFailure:
    return BuildFailure(
        unique_id=f"model.shop.{model}", name=model, resource_type="model", status="error",
        file_path=f"models/staging/shop/{model}.sql", compiled_sql=COMPILED, message=message,
    )  # fmt: skip


def failing_test(model: str, column: str, test: str = "unique") -> BuildFailure:
    return BuildFailure(
        unique_id=f"test.shop.{test}_{model}_{column}", name=f"{test}_{model}_{column}", resource_type="test",
        status="fail", file_path="models/staging/shop/_shop__models.yml", compiled_sql="select 1",
        message="Got 2 results, configured to fail if != 0", failing_rows=2,
        tested_model=model, tested_column=column, test_name=test,
    )  # fmt: skip


def repair_answer(plan: ExecutionPlan, name: str, change: Any = None) -> str:
    """The whole spec and tests of a model in the repair answer's form, after `change` edits them."""
    found = action(plan, name)
    assert isinstance(found.spec, StagingSpec)
    document = json.loads(
        StagingRepair(
            spec=to_answer(found.spec), tests=data_tests_answer(found.spec, found.tests)
        ).model_dump_json()  # type: ignore[arg-type]
    )
    if change is not None:
        change(document)
    return json.dumps(document)


def fixed_status(document: dict[str, Any]) -> None:
    status = next(c for c in document["spec"]["columns"] if c["name"] == "status")
    status.update(source_column="status", cast_to=None, expression=None)  # text already: no cast


def repairer(chat: QueueChat, context: ProjectContext | None = None, **overrides: Any) -> LLMRepairer:
    return LLMRepairer(chat, LLMSettings(model="fake/model", **overrides), RelaxFailingTests(), context)


def test_a_model_error_goes_to_the_model_with_both_sqls_and_dbts_message(context: ProjectContext) -> None:
    plan = broken_plan(context)
    chat = QueueChat([repair_answer(plan, "stg_shop__orders", fixed_status)])
    outcome = repairer(chat).repair(plan, [model_error()])
    assert outcome.unrepairable == []
    assert outcome.changes == [
        "stg_shop__orders: spec corrected by the model after function initcap(text) does not exist"
    ]
    assert outcome.summary == "0 data tests relaxed, 1 models corrected by the model"
    [request] = chat.requests
    assert request.phase == "repair" and request.schema_name == "StagingRepair"
    task = request_data(request)
    assert "initcap(status) as status" in task["rendered_sql"]
    assert task["failures"][0]["compiled_sql"] == COMPILED
    assert task["failures"][0]["message"] == INITCAP_ERROR  # dbt's whole message, not only its cause
    assert {"name": "status", "data_type": "text"} in task["raw_columns"]
    assert outcome.plan is not None
    repaired = action(outcome.plan, "stg_shop__orders")
    assert (
        repaired.spec == action(plan_with_rules(context), "stg_shop__orders").spec
    )  # descriptions and tests kept
    assert action(plan, "stg_shop__orders").spec != repaired.spec  # the input plan is untouched


def test_one_round_asks_once_per_model_with_failures(context: ProjectContext) -> None:
    plan = broken_plan(context)
    chat = QueueChat(
        [
            repair_answer(
                plan, "stg_shop__customers", keep(failing_test("stg_shop__customers", "customer_id"))
            ),
            repair_answer(plan, "stg_shop__orders", fixed_status),
        ]
    )
    outcome = repairer(chat).repair(plan, [failing_test("stg_shop__customers", "customer_id"), model_error()])
    assert outcome.plan is not None
    assert [request_data(r)["model"] for r in chat.requests] == ["stg_shop__customers", "stg_shop__orders"]
    assert outcome.summary == "1 data tests relaxed, 1 models corrected by the model"
    customers = action(outcome.plan, "stg_shop__customers").spec
    assert isinstance(customers, StagingSpec) and customers.columns[0].tests[0].severity == "warn"


def test_a_corrected_spec_is_checked_against_the_whole_plan(context: ProjectContext) -> None:
    plan = broken_plan(context)

    def drop_status(document: dict[str, Any]) -> None:  # fct_orders reads orders.status
        document["spec"]["columns"] = [c for c in document["spec"]["columns"] if c["name"] != "status"]

    chat = QueueChat(
        [
            repair_answer(plan, "stg_shop__orders", drop_status),
            repair_answer(plan, "stg_shop__orders", fixed_status),
        ]
    )
    outcome = repairer(chat).repair(plan, [model_error()])
    assert outcome.plan is not None
    reask = chat.requests[1].messages[-1]["content"]
    assert "fct_orders: spec.columns[status].expression: 'orders.status' reads column 'status'" in reask


def test_an_answer_that_stays_wrong_leaves_the_failure_unrepairable(context: ProjectContext) -> None:
    plan = broken_plan(context)
    wrong = repair_answer(plan, "stg_shop__orders", lambda d: d["spec"].update(filter="1; select 2"))
    chat = QueueChat([wrong, wrong])
    outcome = repairer(chat, max_retries=1).repair(plan, [model_error()])
    assert outcome.plan is None
    [unrepairable] = outcome.unrepairable
    assert unrepairable.reason.startswith(
        "the corrected spec of stg_shop__orders stayed invalid after 1 re-ask: "
    )
    assert "must not contain ';'" in unrepairable.reason


def test_an_erroring_test_goes_to_the_model_of_its_tested_model(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    erroring = BuildFailure(
        unique_id="test.shop.relationships_stg_shop__orders_customer_id", name="relationships_stg_shop__orders_customer_id",
        resource_type="test", status="error", file_path="models/staging/shop/_shop__models.yml",
        compiled_sql="select customer_id from stg_shop__orders", message="Runtime Error: relation does not exist",
        tested_model="stg_shop__orders", tested_column="customer_id", test_name="relationships",
    )  # fmt: skip

    def no_relationship(document: dict[str, Any]) -> None:
        document["tests"]["columns"] = [
            c for c in document["tests"]["columns"] if c["column"] != "customer_id"
        ]

    chat = QueueChat([repair_answer(plan, "stg_shop__orders", no_relationship)])
    outcome = repairer(chat).repair(plan, [erroring])
    assert outcome.plan is not None
    spec = action(outcome.plan, "stg_shop__orders").spec
    assert isinstance(spec, StagingSpec)
    assert next(c for c in spec.columns if c.name == "customer_id").tests == []


def test_the_model_gets_at_most_its_repair_rounds(context: ProjectContext) -> None:
    plan = broken_plan(context)
    chat = QueueChat([repair_answer(plan, "stg_shop__orders", lambda d: None)])
    llm = repairer(chat, repair_rounds=1)
    assert (
        llm.repair(plan, [model_error()]).plan is not None
    )  # the first round asks (the answer changes nothing)
    outcome = llm.repair(plan, [model_error()])
    assert outcome.plan is None and len(chat.requests) == 1
    assert outcome.unrepairable[0].reason == "the model already had its 1 repair rounds"


def test_a_node_cartridge_did_not_plan_is_left_alone(context: ProjectContext) -> None:
    outcome = repairer(QueueChat()).repair(plan_with_rules(context), [model_error("stg_legacy")])
    assert outcome.plan is None
    assert outcome.unrepairable[0].reason == "cartridge did not plan this node, so it leaves it alone"


# Failing data tests: back to the model with the test, dbt's count and the profile's counts (values only when shared).

SAMPLE_MIN, SAMPLE_MAX, SAMPLE_TOP = 7770001, 7779999, "SAMPLE_TOP_CUSTOMER"


@pytest.fixture(scope="module")
def profiled_context(tmp_path_factory: pytest.TempPathFactory, manifest: Manifest) -> ProjectContext:
    """The shop profiled: 40 rows a table, unique ids, 6 customers on orders (a tenth null) with recognisable
    sample values."""
    document = json.loads((UNIT_FIXTURES / "facts_shop.json").read_text(encoding="utf-8"))
    document["profile"] = {"sample_limit": None, "top_values_limit": 5}
    for relation in document["relations"]:
        relation["profile"] = {"row_count": 40}
        for column in relation["columns"]:
            column["profile"] = {
                "null_count": 4 if column["name"] == "customer_id" else 0,
                "distinct_count": 6,
            }
            if column["name"] == "customer_id":
                column["profile"] |= {"min": SAMPLE_MIN, "max": SAMPLE_MAX}
            if column["name"] == "status":
                column["profile"] |= {"top_values": [{"value": SAMPLE_TOP, "count": 3}]}
    facts = parse_facts(json.dumps(document))
    return build_context(shop_project(tmp_path_factory.mktemp("profiled")), manifest, facts, Conventions())


WRONG = "int_order_items_aggregated_to_orders"


def wrong_parent_plan(context: ProjectContext) -> ExecutionPlan:
    """The rules plan, with fct_orders.customer_id tested against the orders' key: the wrong parent."""
    plan = plan_with_rules(context)
    spec = action(plan, "fct_orders").spec
    customer = next(c for c in output_columns(spec) if c.name == "customer_id")  # type: ignore[arg-type]
    customer.tests = [DataTest(name="relationships", to=WRONG, field="order_id")]
    return plan


def wrong_parent(rows: int = 12) -> BuildFailure:
    return BuildFailure(
        unique_id="test.shop.relationships_fct_orders_customer_id", name="relationships_fct_orders_customer_id",
        resource_type="test", status="fail", file_path="models/marts/_marts__models.yml", compiled_sql="select 1",
        message=f"Got {rows} results, configured to fail if != 0", failing_rows=rows,
        tested_model="fct_orders", tested_column="customer_id", test_name="relationships",
    )  # fmt: skip


def mart_answer(plan: ExecutionPlan, name: str, change: Any) -> str:
    """A mart's repair answer: its spec and tests as they are, after `change` edits them and adds verdicts."""
    found = action(plan, name)
    assert isinstance(found.spec, MartSpec)
    document = json.loads(
        MartRepair(
            spec=to_answer(found.spec), tests=data_tests_answer(found.spec, found.tests)
        ).model_dump_json()  # type: ignore[arg-type]
    )
    change(document)
    return json.dumps(document)


def right_parent(document: dict[str, Any]) -> None:
    customer = next(c for c in document["tests"]["columns"] if c["column"] == "customer_id")
    customer["tests"] = [{"name": "relationships", "to": "dim_customers", "field": "customer_id"}]
    document["failing_tests"] = [
        {"test": wrong_parent().name, "verdict": "fixed", "reason": "customer ids belong to dim_customers"}
    ]


def keep(failure: BuildFailure, reason: str = "orders may name customers deleted upstream") -> Any:
    def kept(document: dict[str, Any]) -> None:
        document["failing_tests"] = [{"test": failure.name, "verdict": "keep_relaxed", "reason": reason}]

    return kept


def test_a_failing_relationships_test_goes_to_the_model_with_counts_only(
    profiled_context: ProjectContext,
) -> None:
    plan = wrong_parent_plan(profiled_context)
    chat = QueueChat([mart_answer(plan, "fct_orders", right_parent)])
    outcome = repairer(chat, profiled_context).repair(plan, [wrong_parent()])
    [request] = chat.requests
    task = request_data(request)
    assert task["model"] == "fct_orders" and task["failures"] == []
    [failing] = task["failing_tests"]
    assert failing == {
        "node": "relationships_fct_orders_customer_id", "test": "relationships", "column": "customer_id",
        "to": WRONG, "field": "order_id", "failing_rows": 12,
        "failing_rows_are": "rows whose non-null value of the column is absent from `field` of the `to` model",
        "counts": [
            {"column": "fct_orders.customer_id", "reads": "shop.orders.customer_id",
             "counted_on": "the raw table, before staging's filters", "profiled_rows": 40,
             "stats": {"null_fraction": 0.1, "distinct_count": 6}},
            {"column": f"{WRONG}.order_id", "reads": "shop.order_items.order_id",
             "counted_on": "the raw table, before staging's filters", "profiled_rows": 40,
             "stats": {"null_fraction": 0.0, "distinct_count": 6}},
        ],
    }  # fmt: skip
    assert {
        "name": "dim_customers",
        "planned": True,
        "grain": ["customer_id"],
        "some_columns": ["customer_id"],
    } in task["models"]
    assert task["current_tests"]["columns"][1]["tests"] == [
        {"name": "relationships", "to": WRONG, "field": "order_id"}
    ]
    text = json.dumps(request.messages)
    assert str(SAMPLE_MIN) not in text and str(SAMPLE_MAX) not in text and SAMPLE_TOP not in text
    assert "`keep_relaxed`" in request.messages[-1]["content"]
    assert outcome.plan is not None and outcome.unrepairable == []
    test = next(
        c for c in output_columns(action(outcome.plan, "fct_orders").spec) if c.name == "customer_id"
    ).tests[0]  # type: ignore[arg-type]
    assert (test.to, test.field, test.severity, test.relaxed_reason) == (
        "dim_customers",
        "customer_id",
        "error",
        None,
    )
    assert outcome.changes == ["fct_orders: spec and tests corrected by the model after 1 failing data tests"]
    assert outcome.model_verdicts == [
        "fct_orders.customer_id: relationships (12 failing rows) fixed by the model: customer ids belong to dim_customers"
    ]


def test_sample_values_reach_the_repair_only_when_shared(profiled_context: ProjectContext) -> None:
    plan = wrong_parent_plan(profiled_context)
    chat = QueueChat([mart_answer(plan, "fct_orders", right_parent)])
    repairer(chat, profiled_context, share_samples=True).repair(plan, [wrong_parent()])
    counts = request_data(chat.requests[0])["failing_tests"][0]["counts"][0]
    assert counts["stats"] == {
        "null_fraction": 0.1,
        "distinct_count": 6,
        "min": SAMPLE_MIN,
        "max": SAMPLE_MAX,
    }


def test_a_test_the_model_keeps_relaxed_carries_its_reason_into_the_yaml(
    profiled_context: ProjectContext,
) -> None:
    plan = wrong_parent_plan(profiled_context)
    reason = (
        "orders may name products {{ var('x') }} deleted\nupstream"  # outside text: Jinja and a line break
    )
    chat = QueueChat([mart_answer(plan, "fct_orders", keep(wrong_parent(), reason))])
    outcome = repairer(chat, profiled_context).repair(plan, [wrong_parent()])
    assert outcome.plan is not None
    test = next(
        c for c in output_columns(action(outcome.plan, "fct_orders").spec) if c.name == "customer_id"
    ).tests[0]  # type: ignore[arg-type]
    assert test.severity == "warn" and test.to == WRONG
    assert test.relaxed_reason == "orders may name products {{ var('x') }} deleted upstream"
    assert outcome.changes == [
        "fct_orders.customer_id: relationships (12 failing rows), kept at warn by the model"
    ]
    assert outcome.summary == "1 data tests relaxed, 0 models corrected by the model"
    assert outcome.model_verdicts == [
        "fct_orders.customer_id: relationships (12 failing rows) accepted by the model, kept at warn: "
        "orders may name products {{ var('x') }} deleted upstream"
    ]
    properties = next(f for f in render_plan(outcome.plan) if f.path == "models/marts/_marts__models.yml")
    [entry] = [m for m in properties.models if m["name"] == "fct_orders"]
    [column] = [c for c in entry["columns"] if c["name"] == "customer_id"]
    meta = column["data_tests"][0]["relationships"]["config"]["meta"]
    # dbt renders meta as Jinja: the reason must come out as itself, its `{{ var('x') }}` never called.
    rendered = (
        jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(meta["cartridge_relaxed"]).render()
    )
    assert rendered == "orders may name products {{ var('x') }} deleted upstream"
    assert meta["cartridge_note"].startswith("12 rows failed this test")


def test_a_verdict_that_does_not_hold_is_sent_back(profiled_context: ProjectContext) -> None:
    plan = wrong_parent_plan(profiled_context)

    def claims_fixed(document: dict[str, Any]) -> None:  # changes nothing, and names a test that did not fail
        document["failing_tests"] = [
            {"test": wrong_parent().name, "verdict": "fixed", "reason": "done"},
            {"test": "unique_fct_orders_order_id", "verdict": "keep_relaxed", "reason": "fine"},
        ]

    chat = QueueChat(
        [mart_answer(plan, "fct_orders", claims_fixed), mart_answer(plan, "fct_orders", right_parent)]
    )
    outcome = repairer(chat, profiled_context).repair(plan, [wrong_parent()])
    assert outcome.plan is not None and len(chat.requests) == 2
    reask = chat.requests[1].messages[-1]["content"]
    assert (
        "failing_tests[relationships_fct_orders_customer_id]: fixed, but neither the spec nor this test changed"
        in reask
    )
    assert "failing_tests[unique_fct_orders_order_id]: not a failing test of this model" in reask


def test_without_a_valid_answer_the_failing_test_is_relaxed_and_the_report_says_why(
    profiled_context: ProjectContext,
) -> None:
    plan = wrong_parent_plan(profiled_context)
    no_verdict = mart_answer(plan, "fct_orders", lambda d: None)
    chat = QueueChat([no_verdict, no_verdict])
    outcome = repairer(chat, profiled_context, max_retries=1).repair(plan, [wrong_parent()])
    assert outcome.plan is not None and outcome.unrepairable == []
    test = next(
        c for c in output_columns(action(outcome.plan, "fct_orders").spec) if c.name == "customer_id"
    ).tests[0]  # type: ignore[arg-type]
    assert (test.to, test.severity, test.relaxed_reason) == (WRONG, "warn", None)
    assert outcome.changes == ["fct_orders.customer_id: relationships (12 failing rows)"]
    [verdict] = outcome.model_verdicts
    assert verdict.startswith(
        "fct_orders.customer_id: relationships (12 failing rows) relaxed without the model: "
        "the corrected spec of fct_orders stayed invalid after 1 re-ask: failing_tests: no verdict on "
    )


def test_after_its_repair_rounds_a_failing_test_is_relaxed_without_asking(
    profiled_context: ProjectContext,
) -> None:
    chat = QueueChat()  # any call would fail the test
    outcome = repairer(chat, profiled_context, repair_rounds=0).repair(
        wrong_parent_plan(profiled_context), [wrong_parent()]
    )
    assert outcome.plan is not None and chat.requests == []
    assert outcome.model_verdicts == [
        "fct_orders.customer_id: relationships (12 failing rows) relaxed without the model: "
        "the model already had its 0 repair rounds"
    ]


def test_a_failing_composite_key_test_counts_each_of_its_columns(profiled_context: ProjectContext) -> None:
    plan = plan_with_rules(profiled_context)
    test = ModelTest(name="unique_combination_of_columns", columns=["customer_id", "order_id"])
    failure = BuildFailure(
        unique_id="test.shop.unique_combination_fct_orders", name="unique_combination_fct_orders",
        resource_type="test", status="fail", file_path="models/marts/_marts__models.yml", compiled_sql="select 1",
        message="Got 3 results, configured to fail if != 0", failing_rows=3, tested_model="fct_orders",
        test_name="unique_combination_of_columns",
    )  # fmt: skip
    facts = failing_test_facts(plan, failure, test, profiled_context, share_samples=False)
    assert [(c.column, c.reads) for c in facts.counts] == [
        ("fct_orders.customer_id", "shop.orders.customer_id"),
        ("fct_orders.order_id", "shop.orders.id"),
    ]
