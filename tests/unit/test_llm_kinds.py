"""The LLM outline's kinds: a history, a union and a periodic snapshot, each answered, converted to the spec the
rules planner builds, re-asked with the problem named when wrong, and a payload in any of their fields refused
or rendered inert."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from llm_answers import documented_entry, request_data
from llm_fakes import QueueChat
from plan_payloads import shop_union_action
from support import shop_project
from test_plan_injection import PAYLOADS, assert_inert, set_at, string_leaves

from cartridge_bridge.api import make_plan
from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.errors import LLMAnswerError
from cartridge_bridge.gather.facts import RawColumn, RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import Manifest, Metadata
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.llm.answers import (
    HistoryAnswer,
    LatestFirst,
    PeriodicSnapshotAnswer,
    SnapshotMeasureAnswer,
    UnionAnswer,
)
from cartridge_bridge.planning.llm.chat import ChatRequest, LLMSettings
from cartridge_bridge.planning.llm.conversion import to_history_draft, to_snapshot_draft, to_union_spec
from cartridge_bridge.planning.llm.planner import LLMPlanner
from cartridge_bridge.planning.llm.prompt_data import project_facts
from cartridge_bridge.planning.plan import (
    ExecutionPlan,
    HistorySpec,
    MartSpec,
    PeriodicSnapshotSpec,
    StagingSpec,
    UnionSpec,
)
from cartridge_bridge.planning.rules.planner import RulesPlanner
from cartridge_bridge.render.plan_files import render_plan

Answers = dict[str, Any]

TABLES = {
    "accounts": [("id", "integer"), ("name", "text")],
    # dbt snapshot's validity columns: a version history by its names alone
    "account_history": [("id", "integer"), ("plan", "text"), ("dbt_valid_from", "timestamp"),
                        ("dbt_valid_to", "timestamp")],
    "payments": [("id", "integer"), ("account_id", "integer"), ("amount", "numeric(12,2)"),
                 ("paid_at", "timestamp")],
    "refunds": [("id", "integer"), ("account_id", "integer"), ("amount", "numeric(12,2)"),
                ("refunded_at", "timestamp")],
}  # fmt: skip


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ProjectContext:
    relations = [
        RawRelation.model_validate(
            {
                "schema": "raw",
                "identifier": table,
                "columns": [
                    RawColumn(name=n, data_type=t, position=i) for i, (n, t) in enumerate(columns, 1)
                ],
            }
        )
        for table, columns in TABLES.items()
    ]
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=relations
    )
    project = shop_project(tmp_path_factory.mktemp("kinds"))
    return build_context(project, Manifest(metadata=Metadata(project_name="shop")), facts, Conventions())


def _outline() -> Answers:
    def model(name: str, layer: str, inputs: list[str], kind: str) -> Answers:
        return {
            "name": name,
            "layer": layer,
            "inputs": inputs,
            "grain": "g",
            "description": name,
            "kind": kind,
        }

    staging = [
        {
            "name": f"stg_raw__{t}",
            "layer": "staging",
            "source_table": f"raw.{t}",
            "grain": "g",
            "description": t,
        }
        for t in ("account_history", "payments", "refunds")
    ]
    return {
        "models": [
            *staging,
            model("int_account_versions", "intermediate", ["stg_raw__account_history"], "history"),
            model("int_account_current", "intermediate", ["int_account_versions"], "mart"),
            model("int_money_movements", "intermediate", ["stg_raw__payments", "stg_raw__refunds"], "union"),
            {
                **model(
                    "fct_money_daily",
                    "marts",
                    ["int_money_movements", "int_account_versions"],
                    "periodic_snapshot",
                ),
                "role": "fact",
            },
            {
                **model(
                    "fct_money_movements", "marts", ["int_money_movements", "int_account_current"], "mart"
                ),
                "role": "fact",
            },
        ],
        "skipped": [{"source_table": "raw.accounts", "reason": "not needed here"}],
    }


def _staging(entity: str, time: str) -> Answers:
    return {
        "entity": entity,
        "grain": [f"{entity}_id"],
        "columns": [
            {"name": f"{entity}_id", "source_column": "id", "cast_to": "integer"},
            {"name": "account_id", "source_column": "account_id", "cast_to": "integer"},
            {"name": "amount", "source_column": "amount", "cast_to": "numeric(12,2)"},
            {"name": "moved_at", "source_column": time, "cast_to": "timestamp"},
        ],
    }


def _answers() -> Answers:
    """Every model's good answer, by model (the outline under `plan`)."""
    line = [
        ("line_id", "integer"),
        ("account_id", "integer"),
        ("amount", "numeric(12,2)"),
        ("moved_at", "timestamp"),
    ]
    return {
        "plan": _outline(),
        "stg_raw__account_history": {
            "entity": "account",
            "grain": ["account_id", "dbt_valid_from"],
            "columns": [
                {"name": "account_id", "source_column": "id", "cast_to": "integer"},
                {"name": "plan", "source_column": "plan", "cast_to": "text"},
                {"name": "dbt_valid_from", "source_column": "dbt_valid_from", "cast_to": "timestamp"},
                {"name": "dbt_valid_to", "source_column": "dbt_valid_to", "cast_to": "timestamp"},
            ],
        },
        "stg_raw__payments": _staging("payment", "paid_at"),
        "stg_raw__refunds": _staging("refund", "refunded_at"),
        "int_account_versions": {
            "entity_key": ["account_id"], "valid_from": "dbt_valid_from", "valid_to": "dbt_valid_to",
            "tie_breaker": [{"column": "plan"}],
        },
        "int_account_current": {
            "base_model": "int_account_versions", "base_alias": "versions", "grain": ["account_id"],
            "columns": [{"name": "account_id", "expression": "versions.account_id"},
                        {"name": "plan", "expression": "versions.plan"}],
            "filter": "versions.is_current",
        },
        "int_money_movements": {
            "columns": [{"name": "source_model", "data_type": "text"},
                        *({"name": n, "data_type": t} for n, t in line)],
            "inputs": [
                {"model": "stg_raw__payments", "label": "payment", "columns": [
                    {"column": "line_id", "expression": "payment_id"}, {"column": "account_id", "expression": "account_id"},
                    {"column": "amount", "expression": "amount"}, {"column": "moved_at", "expression": "moved_at"}]},
                {"model": "stg_raw__refunds", "label": "refund", "columns": [
                    {"column": "line_id", "expression": "refund_id"}, {"column": "account_id", "expression": "account_id"},
                    {"column": "amount", "expression": "-amount"}, {"column": "moved_at", "expression": "moved_at"}]},
            ],
            "grain": ["source_model", "line_id"],
        },
        # A mart on the union, joining the history's current state: the mart and docs phases read both.
        "fct_money_movements": {
            "base_model": "int_money_movements", "base_alias": "movements", "grain": ["source_model", "line_id"],
            "columns": [{"name": n, "expression": f"movements.{n}"} for n in ("source_model", "line_id", "amount", "moved_at")],
            "joins": [{"model": "int_account_current", "alias": "accounts",
                       "on": [{"left_alias": "movements", "left_column": "account_id", "right_column": "account_id"}],
                       "columns": [{"name": "account_plan", "expression": "accounts.plan"}]}],
        },
        "fct_money_daily": {
            "period": "day", "event_model": "int_money_movements", "event_time": "moved_at",
            "entity": {"model": "int_money_movements", "columns": ["account_id"]},
            "measures": [{"name": "net_amount", "expression": "sum(amount)", "description": "Net money moved."}],
            # each account's plan as of the day's end, from the history
            "state": {"model": "int_account_versions", "key_columns": ["account_id"],
                      "columns": [{"name": "plan", "expression": "state.plan", "description": "The plan then."}]},
        },
    }  # fmt: skip


class KindsModel:
    """Answers the planner from `answers` (by model); `first` answers a model's first request instead, once."""

    def __init__(self, answers: Answers, first: dict[str, Answers] | None = None):
        self.answers = answers
        self.first = dict(first or {})

    def __call__(self, request: ChatRequest) -> str:
        task = request_data(request)
        if request.phase == "docs_tests":
            return json.dumps({"models": [documented_entry(m, {}) for m in task["models_to_describe"]]})
        if request.phase == "staging":
            names = [m["model"]["name"] for m in task["models"]]
            return json.dumps({"models": [{"model": n, **self.answer(n)} for n in names]})
        return json.dumps(self.answer("plan" if request.phase == "plan" else task["model"]["name"]))

    def answer(self, name: str) -> Answers:
        return self.first.pop(name) if name in self.first else self.answers[name]


def _plan(context: ProjectContext, chat: QueueChat, **settings: Any) -> ExecutionPlan:
    return make_plan(context, LLMPlanner(chat, LLMSettings(model="fake/model", **settings)))


def _reasks(chat: QueueChat) -> str:
    return "\n".join(m["content"] for r in chat.requests for m in r.messages[2:] if m["role"] == "user")


def test_the_outline_chooses_a_history_a_union_and_a_snapshot(context: ProjectContext) -> None:
    chat = QueueChat(responder=KindsModel(_answers()))
    plan = _plan(context, chat)
    assert plan_problems(plan, context) == []
    assert render_plan(plan)
    actions = {a.name: a for a in plan.actions}
    assert actions["int_account_versions"].type == "create_intermediate"
    assert isinstance(actions["int_account_versions"].spec, HistorySpec)
    assert isinstance(actions["int_account_current"].spec, MartSpec)
    assert actions["int_account_current"].type == "create_intermediate"
    assert isinstance(actions["int_money_movements"].spec, UnionSpec)
    assert actions["fct_money_daily"].type == "create_mart"
    assert isinstance(actions["fct_money_movements"].spec, MartSpec)
    snapshot = actions["fct_money_daily"].spec
    assert isinstance(snapshot, PeriodicSnapshotSpec) and snapshot.state is not None
    assert (snapshot.state.model, snapshot.state.valid_from, snapshot.state.valid_to) == (
        "int_account_versions", "valid_from", "valid_to",
    )  # fmt: skip
    staged = actions["stg_raw__account_history"].spec
    assert isinstance(staged, StagingSpec) and staged.deduplicate is None
    # The history carries the staged columns but the loader's, described as the staging model's documentation says.
    history = actions["int_account_versions"].spec
    assert [(c.name, c.description) for c in history.columns] == [
        ("account_id", "The account id."),
        ("plan", "The plan."),
    ]
    assert {r.phase for r in chat.requests} >= {"history", "union", "periodic_snapshot"}
    # The outline's data shows what makes each kind right: a key's history, a table's money events.
    [outline_task] = [request_data(r) for r in chat.requests if r.phase == "plan"]
    tables = {t["source_table"]: t for t in outline_task["raw_tables"]}
    assert tables["raw.account_history"]["key"]["history"] == {"version_columns": ["dbt_valid_from"]}
    assert tables["raw.payments"]["money_event"] == {"event_time": "paid_at", "money_columns": ["amount"]}
    assert "money_event" not in tables["raw.accounts"] and "money_event" not in tables["raw.account_history"]
    # Each kind's request tells what the data shows: the history's key and versions, the snapshot's dates.
    [history_task] = [request_data(r) for r in chat.requests if r.phase == "history"]
    assert history_task["history_key"] == {"key": ["account_id"], "version_columns": ["dbt_valid_from"]}
    [snapshot_task] = [request_data(r) for r in chat.requests if r.phase == "periodic_snapshot"]
    assert snapshot_task["date_columns"] == [
        {"column": "int_money_movements.moved_at", "data_type": "timestamp"}
    ]
    [staging_task] = [request_data(r) for r in chat.requests if r.phase == "staging"]
    assert [m.get("read_by_history") for m in staging_task["models"]] == ["int_account_versions", None, None]


def test_only_an_event_table_is_offered_as_a_money_series(context: ProjectContext) -> None:
    """`money_event` follows the rules planner's facts: a table that is no event (no fact of the rules) has none,
    however its columns read, so an account's balance and creation date are never offered as a series."""
    rules = RulesPlanner(type2_histories=False).draft(context)
    staging = {
        f"{m.spec.source_name}.{m.spec.table}": m.name
        for m in rules.models
        if isinstance(m.spec, StagingSpec)
    }
    sources = [s.spec for s in rules.sources]
    every = {t.source_table: t for t in project_facts(context, sources, staging, False).raw_tables}
    assert every["raw.payments"].money_event is not None
    none = {
        t.source_table: t for t in project_facts(context, sources, staging, False, events=set()).raw_tables
    }
    assert all(t.money_event is None for t in none.values())


def test_each_kind_converts_to_the_spec_the_rules_planner_builds(context: ProjectContext) -> None:
    rules = RulesPlanner().draft(context)
    [history] = rules.histories
    staged = next(m.spec for m in rules.models if m.name == history.spec.from_model)
    assert isinstance(staged, StagingSpec)
    answer = HistoryAnswer(
        entity_key=history.spec.entity_key,
        valid_from=history.spec.valid_from,
        valid_to=history.spec.valid_to,
        tie_breaker=[LatestFirst(column=o.column, descending=o.descending) for o in history.spec.tie_breaker],
    )
    converted = to_history_draft(answer, history.name, history.spec.from_model, staged, "account history")
    assert converted == history
    # The answer's shape is a daily snapshot's: the rules' monthly running totals per owner have no LLM form yet.
    for snapshot in [s for s in rules.snapshots if s.spec.period == "day"]:
        spec = snapshot.spec
        measures = [
            SnapshotMeasureAnswer(name=m.name, expression=m.expression or "", description=m.description)
            for m in spec.measures
        ]
        answered = PeriodicSnapshotAnswer(
            period=spec.period, event_model=spec.event_model, event_time=spec.event_time, measures=measures
        )
        assert to_snapshot_draft(answered, snapshot.name, snapshot.description) == snapshot
    union = UnionSpec.model_validate(shop_union_action()["spec"])
    answered_union = UnionAnswer.model_validate(
        {
            "columns": [{"name": c.name, "data_type": c.data_type} for c in union.columns],
            "inputs": [
                {
                    "model": i.model,
                    "label": i.label,
                    "columns": [{"column": k, "expression": v} for k, v in i.columns.items()],
                }
                for i in union.inputs
            ],
            "grain": union.grain,
        }
    )
    converted_union = to_union_spec(answered_union)
    assert converted_union == union.model_copy(
        update={"columns": [c.model_copy(update={"description": ""}) for c in union.columns]}
    )


WRONG_OUTLINES: list[tuple[Callable[[Answers], None], str]] = [
    (lambda o: o["models"][6].update(kind="history"), "fct_money_daily: kind: 'history' is not a kind of the marts layer (expected mart or union or periodic_snapshot)"),
    (lambda o: o["models"][5].update(kind="periodic_snapshot"),
     "int_money_movements: kind: 'periodic_snapshot' is not a kind of the intermediate layer"),
    (lambda o: o["models"][5].update(inputs=["stg_raw__payments"]),
     "int_money_movements: inputs: a union stacks at least two models"),
    (lambda o: o["models"][3].update(inputs=["stg_raw__payments"]),
     "int_account_versions: inputs: 'stg_raw__payments' is not the staging model of a table whose `key` has a "
     "`history` (expected stg_raw__account_history)"),
    (lambda o: o["models"][0].update(kind="union"), "stg_raw__account_history: kind: a staging model has no kind"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "problem"), WRONG_OUTLINES)
def test_a_kind_the_outline_cannot_have_is_reasked_with_the_problem_named(
    context: ProjectContext, change: Callable[[Answers], None], problem: str
) -> None:
    wrong = _outline()
    change(wrong)
    chat = QueueChat(responder=KindsModel(_answers(), first={"plan": wrong}))
    plan = _plan(context, chat)
    assert plan_problems(plan, context) == []
    assert problem in _reasks(chat)
    assert [r.phase for r in chat.requests].count("plan") == 2


WRONG_SPECS: list[tuple[str, Callable[[Answers], None], str]] = [
    ("int_account_versions", lambda a: a.update(valid_from="changed_at"), "int_account_versions: spec.valid_from"),
    ("int_account_versions", lambda a: a.update(tie_breaker=[]), "int_account_versions: spec.tie_breaker"),
    ("fct_money_daily", lambda a: a["measures"][0].update(expression="amount"),
     "fct_money_daily: spec.measures[net_amount].expression: 'amount' is not one aggregate of the events"),
    ("fct_money_daily", lambda a: a["state"].update(key_columns=["account_id", "plan"]),
     "fct_money_daily: spec.state.key_columns: 2 key columns for an entity key of 1"),
    ("fct_money_daily", lambda a: a["state"].update(model="int_account_current"),
     "fct_money_daily: state.model: 'int_account_current' is not an input of this model in the outline"),
    ("fct_money_daily", lambda a: a.update(event_model="stg_raw__payments"),
     "fct_money_daily: event_model: 'stg_raw__payments' is not an input of this model in the outline"),
    ("int_money_movements", lambda a: a["inputs"][1].update(model="stg_raw__account_history"),
     "int_money_movements: inputs[1].model: 'stg_raw__account_history' is not an input of this model"),
    ("int_money_movements", lambda a: a["inputs"][0]["columns"].pop(),
     "int_money_movements: spec.inputs[0].columns: maps no expression to 'moved_at'"),
    ("int_money_movements", lambda a: a["inputs"][0]["columns"].append({"column": "amount", "expression": "0"}),
     "int_money_movements: inputs[0].columns[amount]: mapped twice"),
    ("int_money_movements", lambda a: a["inputs"][0]["columns"][2].update(expression="sum(amount)"),
     "int_money_movements: spec.inputs[0].columns[amount]: 'sum(amount)' aggregates"),
    ("stg_raw__account_history",
     lambda a: a.update(deduplicate={"partition_by": ["account_id"], "order_by": [{"column": "dbt_valid_from"}]}),
     "stg_raw__account_history: deduplicate: int_account_versions is the history of this table"),
    # A version marked deleted ends its key in the history: staging keeps it (issue 18).
    ("stg_raw__account_history", lambda a: a.update(filter="plan is not null"),
     "stg_raw__account_history: filter: int_account_versions is the history of this table and keeps every version"),
    ("stg_raw__account_history", lambda a: a.update(grain=["account_id"]),
     "stg_raw__account_history: grain: it keeps every version for int_account_versions "
     "(expected [account_id, dbt_valid_from])"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "change", "problem"), WRONG_SPECS)
def test_a_wrong_kind_answer_is_reasked_with_the_field_named(
    context: ProjectContext, model: str, change: Callable[[Answers], None], problem: str
) -> None:
    answers = _answers()
    wrong = json.loads(json.dumps(answers[model]))
    change(wrong)
    chat = QueueChat(responder=KindsModel(answers, first={model: wrong}))
    plan = _plan(context, chat)
    assert plan_problems(plan, context) == []
    assert problem in _reasks(chat), _reasks(chat)


def test_a_payload_in_any_field_of_a_kind_answer_is_refused_or_inert(context: ProjectContext) -> None:
    answers = _answers()
    outcomes: dict[str, set[str]] = {}
    for model in ("int_account_versions", "int_money_movements", "fct_money_daily"):
        for path in string_leaves(answers[model]):
            for payload in PAYLOADS[0:2] + PAYLOADS[5:6] + PAYLOADS[7:8]:
                wrong = json.loads(json.dumps(answers[model]))
                set_at(wrong, path, payload)
                chat = QueueChat(responder=KindsModel(answers, first={model: wrong}))
                try:
                    plan = _plan(context, chat, max_retries=0)
                except LLMAnswerError as error:
                    assert model in str(error)
                    outcomes.setdefault("refused", set()).add(f"{model}{path}")
                    continue
                assert_inert(render_plan(plan), payload)
                outcomes.setdefault("inert", set()).add(f"{model}{path}")
    # Descriptions and labels may stay as text; names, columns and expressions are all refused.
    assert outcomes["refused"] and all(
        "description" in p or "label" in p for p in outcomes.get("inert", set()) - outcomes["refused"]
    ), outcomes


def test_the_union_prompt_asks_for_one_signed_amount_with_the_sign_per_input(context: ProjectContext) -> None:
    chat = QueueChat(responder=KindsModel(_answers()))
    _plan(context, chat)
    [union] = [r.messages[1]["content"] for r in chat.requests if r.phase == "union"]
    assert "stack into ONE signed amount column" in union
    assert "`case when <that column> = '<the out value>' then -amount else amount end`" in union


def test_the_history_prompts_keep_deleted_versions_in_the_history(context: ProjectContext) -> None:
    chat = QueueChat(responder=KindsModel(_answers()))
    _plan(context, chat)
    staging = next(r.messages[1]["content"] for r in chat.requests if r.phase == "staging")
    [history] = [r.messages[1]["content"] for r in chat.requests if r.phase == "history"]
    assert "keeps every version for that history model: no `deduplicate`, no `filter`" in staging
    assert "Every version stays in the history, those marked deleted too" in history


def test_a_snapshot_is_documented_and_tested_like_any_mart(context: ProjectContext) -> None:
    chat = QueueChat(responder=KindsModel(_answers()))
    plan = _plan(context, chat)
    described = [
        m["model"]["name"]
        for r in chat.requests
        if r.phase == "docs_tests"
        for m in request_data(r)["models_to_describe"]
    ]
    assert "fct_money_daily" in described
    snapshot = next(a for a in plan.actions if a.name == "fct_money_daily")
    assert isinstance(snapshot.spec, PeriodicSnapshotSpec)
    assert snapshot.description.startswith("LLM: ")
    measure = snapshot.spec.measures[0]
    assert (measure.name, measure.description) == ("net_amount", "The net amount.")
    # The grain's test is cartridge's own and stays whatever the answer tests.
    assert any(t.name == "unique_combination_of_columns" for t in snapshot.tests)
    assert plan_problems(plan, context) == []
