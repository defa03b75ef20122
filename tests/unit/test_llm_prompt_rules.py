"""The LLM planner's prompt rules of issue 24, each with the check that refuses an answer breaking it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llm_answers import RulesMirror, Scripted, asked_models, data_blocks
from llm_fakes import QueueChat

from cartridge_bridge.api import make_plan
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.gather.facts import ColumnProfile, RawColumn
from cartridge_bridge.planning.llm.chat import ChatRequest, LLMSettings
from cartridge_bridge.planning.llm.planner import LLMPlanner
from cartridge_bridge.planning.llm.prompt_data import ForeignKeyFacts, TableFacts, column_stats, orphaned_keys
from cartridge_bridge.planning.plan import ColumnSpec, StagingSpec
from cartridge_bridge.planning.sql_fragments import changed_comparison, parse_expression


def run(context: ProjectContext, responder: Any) -> QueueChat:
    chat = QueueChat(responder=responder)
    make_plan(context, LLMPlanner(chat, LLMSettings(model="fake/model")))
    return chat


def reasked_problems(requests: list[ChatRequest], phase: str, model: str) -> list[str]:
    """The problems the re-asks for this model in this phase listed, each once."""
    found = [
        problem
        for r in requests
        if r.phase == phase and model in asked_models(r)
        for m in r.messages[2:]
        if m["role"] == "user"
        for problem in json.loads(data_blocks(m["content"])[0])["problems"]
    ]
    return list(dict.fromkeys(found))


def edited(text: str, change: Any) -> str:
    document = json.loads(text)
    change(document)
    return json.dumps(document)


def test_the_prompts_say_conditions_compare_columns_as_written(context: ProjectContext) -> None:
    requests = run(context, RulesMirror(context)).requests
    assert all(
        "never `trim()`, `lower()` or `upper()` around the column compared" in r.messages[0]["content"]
        for r in requests
    )


def test_a_condition_that_trims_or_lowers_a_column_is_refused_with_one_line(context: ProjectContext) -> None:
    mirror = RulesMirror(context)
    good = mirror.answer_for("mart", mirror.drafts["fct_order_items"])
    alias = json.loads(good)["base_alias"]
    bad = edited(good, lambda d: d.update(filter=f"trim({alias}.order_item_id) = 'x'"))
    chat = run(context, Scripted(mirror, {("mart", "fct_order_items"): [bad]}))
    [problem] = reasked_problems(chat.requests, "mart", "fct_order_items")
    assert (
        f"fct_order_items: spec.filter: \"trim({alias}.order_item_id) = 'x'\" compares trim() of a column"
        in problem
    )


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("trim(kind) = 'percentage'", "trim"),
        ("sum(case when lower(status) in ('paid', 'refunded') then amount end)", "lower"),
        ("upper(code) like 'A%'", "upper"),
        ("kind = 'percentage '", None),  # a spelling the data holds, compared as written
        ("lower(email)", None),  # a value made, not compared
        ("status = lower('PAID')", None),  # no column changed
    ],
)
def test_only_a_compared_column_inside_trim_lower_or_upper_is_found(text: str, found: str | None) -> None:
    tree, problem = parse_expression(text, "postgres")
    assert tree is not None, problem
    assert changed_comparison(tree) == found


def test_a_conditional_aggregate_s_column_is_a_plain_column(context: ProjectContext) -> None:
    mirror = RulesMirror(context)
    [aggregate] = [n for n, d in mirror.drafts.items() if d.spec.kind == "aggregate"][:1]
    good = json.loads(mirror.answer_for("intermediate", mirror.drafts[aggregate]))
    group = good["group_by"][0]
    good["columns"].append(
        {
            "name": "weighted",
            "aggregate": {"function": "sum", "column": f"{group} * 2", "where": f"{group} > 0"},
        }
    )
    chat = run(context, Scripted(mirror, {("intermediate", aggregate): [json.dumps(good)]}))
    problems = reasked_problems(chat.requests, "intermediate", aggregate)
    assert (
        f"{aggregate}: spec.columns[weighted].aggregate.column: '{group} * 2' is an expression" in problems[0]
    )
    intermediate = next(r for r in chat.requests if r.phase == "intermediate")
    assert (
        "`column` is one plain column of the input, never an expression"
        in intermediate.messages[1]["content"]
    )
    docs = next(r for r in chat.requests if r.phase == "docs_tests")
    assert "names are one namespace across the project's semantic models" in docs.messages[1]["content"]


@pytest.mark.parametrize(
    ("data_type", "nulls", "said"),
    [("bigint", 8, True), ("integer", 7, None), ("text", 8, None), ("numeric(10,2)", 8, None)],
)
def test_an_integer_column_null_on_every_row_is_said_to_be(
    data_type: str, nulls: int, said: bool | None
) -> None:
    column = RawColumn(
        name="parent_id",
        data_type=data_type,
        position=1,
        profile=ColumnProfile(null_count=nulls, distinct_count=0),
    )
    stats = column_stats(column, 8, share_samples=False)
    assert stats is not None and stats.entirely_null is said


def test_the_prompts_say_an_entirely_null_column_is_never_summed_or_keyed(context: ProjectContext) -> None:
    system = run(context, RulesMirror(context)).requests[0].messages[0]["content"]
    assert "`entirely_null` holds no value on any row of the data" in system


def test_a_staged_foreign_key_missing_from_its_parent_is_shown_under_its_staged_name() -> None:
    keys = [
        ForeignKeyFacts(columns=["UserId"], references="git.users", ref_columns=["id"], how="refuted",
                        distinct_values=12, missing_from_parent=2),
        ForeignKeyFacts(columns=["RepoId"], references="git.repos", ref_columns=["id"], how="checked",
                        distinct_values=3, missing_from_parent=0),
    ]  # fmt: skip
    table = TableFacts(
        source_table="git.pulls", schema_name="raw", identifier="pulls", relation_type="table",
        foreign_keys=keys, columns=[], staging_model="stg_git__pulls",
    )  # fmt: skip
    spec = StagingSpec(
        source_name="git", table="pulls", entity="pull",
        columns=[ColumnSpec(name=n.lower().replace("id", "_id"), source_column=n, description="")
                 for n in ("UserId", "RepoId")],
    )  # fmt: skip
    [orphaned] = orphaned_keys(spec, table) or []
    assert (orphaned.columns, orphaned.references, orphaned.distinct_values, orphaned.missing_from_parent) == (
        ["user_id"], "git.users", 12, 2,
    )  # fmt: skip


def test_the_prompts_count_people_per_entity_from_the_fact(context: ProjectContext) -> None:
    requests = run(context, RulesMirror(context)).requests
    mart = next(r.messages[1]["content"] for r in requests if r.phase == "mart")
    outline = next(r.messages[1]["content"] for r in requests if r.phase == "plan")
    assert "from the model holding every referencing row, the fact, grouped by its foreign key column" in mart
    assert "Counts of people (authors, owners) per entity come from the fact that references them" in outline


def test_the_prompts_explain_a_history_of_copies_where_keys_are_shown(context: ProjectContext) -> None:
    requests = run(context, RulesMirror(context)).requests
    outline = next(r.messages[1]["content"] for r in requests if r.phase == "plan")
    staging = next(r.messages[1]["content"] for r in requests if r.phase == "staging")
    assert (
        "A `history` with `copies: true` has no versions: its repeated rows are identical copies" in outline
    )
    assert "with `copies: true` the repeated rows are identical copies" in staging
