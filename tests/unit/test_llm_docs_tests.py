"""Tests and documentation several models per request within a token budget; sources described in the outline."""

from __future__ import annotations

import json
from typing import Any

from llm_answers import RulesMirror, Scripted, data_blocks, request_data, task_models
from llm_fakes import QueueChat
from pydantic import BaseModel

from cartridge_bridge.api import make_plan
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.llm.chat import LLMSettings
from cartridge_bridge.planning.llm.docs_tests import CHARS_PER_TOKEN, estimated_tokens, pack
from cartridge_bridge.planning.llm.planner import LLMPlanner
from cartridge_bridge.planning.plan import ExecutionPlan, SourceSpec, StagingSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import render_plan


class Words(BaseModel):
    words: list[str]


def test_pack_keeps_the_order_and_stays_within_the_budget() -> None:
    items = ["a" * 30, "b" * 30, "c" * 30, "d" * 200, "e" * 10, "f" * 10]
    batches = pack(items, lambda batch: Words(words=batch), budget=20)
    assert [batch for batch, _ in batches] == [[items[0], items[1]], [items[2]], [items[3]], items[4:]]
    for batch, task in batches:
        assert task == Words(words=batch)
        # within the budget, or one item that passes it alone
        assert estimated_tokens(task) <= 20 or len(batch) == 1
    assert estimated_tokens(Words(words=["x" * 37])) == -(-len('{"words":["' + "x" * 37 + '"]}') // 4)


def test_pack_of_nothing_is_no_batch() -> None:
    assert pack([], lambda batch: Words(words=batch), budget=100) == []


def plan_of(context: ProjectContext, chat: QueueChat, **settings: Any) -> ExecutionPlan:
    return make_plan(context, LLMPlanner(chat, LLMSettings(model="fake/model", **settings)))


def test_a_small_budget_makes_more_requests_each_within_it(context: ProjectContext) -> None:
    budget = 900
    chat = QueueChat(responder=RulesMirror(context))
    plan = plan_of(context, chat, batch_tokens=budget)
    batches = [r for r in chat.requests if r.phase == "docs_tests"]
    assert len(batches) > 1
    for request in batches:
        data = data_blocks(request.messages[1]["content"])[0]
        assert len(data) / CHARS_PER_TOKEN <= budget or len(task_models(request)) == 1
    # every model documented and tested exactly once, as a model that gets everything right would
    described = [n for r in batches for n in task_models(r)]
    assert sorted(described) == sorted(a.name for a in plan.models())
    assert plan.model_dump(exclude={"planner"}) == plan_of(context, QueueChat(responder=RulesMirror(context)))\
        .model_dump(exclude={"planner"})  # fmt: skip


def test_a_staging_column_is_listed_once_beside_its_raw_facts(context: ProjectContext) -> None:
    chat = QueueChat(responder=RulesMirror(context))
    plan_of(context, chat, batch_tokens=100_000)
    [request] = [r for r in chat.requests if r.phase == "docs_tests"]
    entries = {e["model"]["name"]: e for e in request_data(request)["models_to_describe"]}
    orders = entries["stg_shop__orders"]
    assert orders["table"]["columns"] == [] and orders["table"]["source_table"] == "shop.orders"
    status = next(c for c in orders["columns"] if c["name"] == "status")
    assert "source_column" not in status and status["nullable"] is True  # read from the raw column "status"
    key = next(c for c in orders["columns"] if c["name"] == "order_id")
    assert key["source_column"] == "id"  # a renamed column says what it reads
    assert "other_models" in request_data(request) and "existing_key_owners" in request_data(request)


def _sources(plan: ExecutionPlan) -> SourceSpec:
    [source] = [a.spec for a in plan.actions if isinstance(a.spec, SourceSpec)]
    return source


def test_sources_are_described_as_the_outline_says(context: ProjectContext) -> None:
    mirror = RulesMirror(context)
    outline = json.loads(mirror.outline.model_dump_json())
    outline["source_tables"] = [
        {
            "source_table": "shop.orders",
            "description": "Orders placed in the shop, {{ one }} per   checkout.",
        },
    ]
    chat = QueueChat(responder=Scripted(mirror, {("plan", None): [json.dumps(outline)]}))
    plan = plan_of(context, chat)
    tables = {t.name: t for t in _sources(plan).tables}
    assert tables["orders"].description == "Orders placed in the shop, {{ one }} per checkout."
    rules = {t.name: t for t in _sources(plan_with_rules(context)).tables}
    assert tables["customers"].description == rules["customers"].description  # not described: the rules' text
    [yaml_file] = [f for f in render_plan(plan) if f.sources]
    written = next(t for t in yaml_file.sources[0]["tables"] if t["name"] == "orders")["description"]
    # Jinja from outside is written as a literal of itself: dbt renders it back to the text, never runs it
    assert written == "{{ 'Orders placed in the shop, {{ one }} per checkout.' }}"


def test_source_columns_are_described_as_their_staging_columns(context: ProjectContext) -> None:
    mirror = RulesMirror(context)
    entry = json.loads(mirror.answer_for("docs_tests", mirror.drafts["stg_shop__orders"]))
    for column in entry["columns"]:
        column["description"] = f"LLM: {column['name']}"
    chat = QueueChat(responder=Scripted(mirror, {("docs_tests", "stg_shop__orders"): [json.dumps(entry)]}))
    plan = plan_of(context, chat)
    staged = next(a.spec for a in plan.actions if a.name == "stg_shop__orders")
    assert isinstance(staged, StagingSpec)
    orders = next(t for t in _sources(plan).tables if t.name == "orders")
    by_raw = {c.source_column: c.name for c in staged.columns}
    for column in orders.columns:
        if column.name in by_raw:
            assert column.description == f"LLM: {by_raw[column.name]}"


def test_a_description_of_a_table_the_outline_does_not_stage_is_reasked(context: ProjectContext) -> None:
    mirror = RulesMirror(context)
    outline = json.loads(mirror.outline.model_dump_json())
    outline["source_tables"].append({"source_table": "shop.refunds", "description": "Refunds."})
    chat = QueueChat(responder=Scripted(mirror, {("plan", None): [json.dumps(outline)]}))
    plan_of(context, chat)
    assert chat.phases().count("plan") == 2
    assert (
        "source_tables[4]: 'shop.refunds' is not a table the outline stages"
        in chat.requests[1].messages[-1]["content"]
    )


def test_a_batch_accepted_after_a_reask_is_kept_whole_for_its_first_asking(context: ProjectContext) -> None:
    mirror = RulesMirror(context)
    entry = json.loads(mirror.answer_for("docs_tests", mirror.drafts["stg_shop__orders"]))
    entry["columns"] = entry["columns"][:-1]  # a column left undescribed: re-asked
    chat = QueueChat(responder=Scripted(mirror, {("docs_tests", "stg_shop__orders"): [json.dumps(entry)]}))
    plan_of(context, chat, batch_tokens=100_000)
    first, reask = [r for r in chat.requests if r.phase == "docs_tests"]
    assert not first.reask and reask.reask
    [(request, reply)] = [(q, a) for q, a in chat.accepted_answers if q.phase == "docs_tests"]
    assert request == first  # kept under the question first asked, never under the re-ask
    assert [e["model"] for e in json.loads(reply.text)["models"]] == task_models(first)
