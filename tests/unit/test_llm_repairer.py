"""The LLM repairer: failing data tests relaxed without a call; model errors sent back with SQL and dbt's message."""

from __future__ import annotations

import json
from typing import Any

from llm_answers import request_data
from llm_fakes import QueueChat

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.llm.answers import StagingRepair
from cartridge_bridge.planning.llm.chat import LLMSettings
from cartridge_bridge.planning.llm.conversion import data_tests_answer, to_answer
from cartridge_bridge.planning.llm.repairer import LLMRepairer
from cartridge_bridge.planning.plan import ExecutionPlan, PlanAction, StagingSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules
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


def repairer(chat: QueueChat, **overrides: Any) -> LLMRepairer:
    return LLMRepairer(chat, LLMSettings(model="fake/model", **overrides), RelaxFailingTests())


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


def test_failing_data_tests_are_relaxed_without_asking_the_model(context: ProjectContext) -> None:
    chat = QueueChat()  # any call would fail the test
    outcome = repairer(chat).repair(plan_with_rules(context), [failing_test("stg_shop__orders", "order_id")])
    assert outcome.changes == ["stg_shop__orders.order_id: unique (2 failing rows)"]
    assert outcome.plan is not None and chat.requests == []


def test_one_round_relaxes_tests_and_corrects_a_model(context: ProjectContext) -> None:
    plan = broken_plan(context)
    chat = QueueChat([repair_answer(plan, "stg_shop__orders", fixed_status)])
    outcome = repairer(chat).repair(plan, [failing_test("stg_shop__customers", "customer_id"), model_error()])
    assert outcome.plan is not None
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
