"""The CLI's renderings print user and warehouse text literally: brackets are text, not rich markup."""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from cartridge_bridge.api import ApplyReport, make_plan
from cartridge_bridge.cli.views import count_tests, show_apply, show_plan
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.dbt.runner import BuildSummary, NodeResult
from cartridge_bridge.planning.plan import ExecutionPlan, ModelTest
from cartridge_bridge.review.lineage import mermaid_lineage
from cartridge_bridge.write.journal import Journal
from cartridge_bridge.write.workspace import FileChange

# What a plan file, an LLM or the warehouse could hold: markup, an ESC sequence, line breaks, a bidi override.
HOSTILE = [
    "[/]",
    "[bold]x[/bold",
    "a\x1b[2J\x1b]0;pwned\x07b",
    "one\nerror: two\r",
    "\u202edlrow",
    "\x85\x9b31m",
]
# rich's own colour codes on a terminal; anything else below a space (but a newline) came from the data.
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def test_brackets_in_skipped_reasons_are_printed_as_they_are() -> None:
    plan = ExecutionPlan(
        plan_version=3,
        project_name="shop",
        strategy="greenfield",
        planner="rules",
        adapter_type="duckdb",
        actions=[],
        skipped=["raw.[raw] has no columns [bold]at all[/bold]; try --schema [raw]"],
    )
    buffer = io.StringIO()
    show_plan(Console(file=buffer, width=200, color_system=None), plan)
    assert "skipped raw.[raw] has no columns [bold]at all[/bold]; try --schema [raw]" in buffer.getvalue()


def _report(plan: ExecutionPlan, text: str) -> ApplyReport:
    """An apply report whose every outside name and message is `text`."""
    hostile = plan.model_copy(update={"planner": text, "skipped": [text]})
    path = hostile.actions[0].file_path
    node = NodeResult(f"model.shop.{text}", "model", text, "error", text, None)
    return ApplyReport(
        plan=hostile,
        changes=[FileChange(path, "create", None, f"select 1 -- {text}\n")],
        journal=Journal(run_id=text, created_at="2026-01-01T00:00:00Z"),
        build=BuildSummary(success=False, nodes=[node], errors=[], warnings=[]),
        diff="",
        seconds=1.0,
        relaxed_tests=[text],
        model_verdicts=[text],
    )


def _unsafe(printed: str) -> list[str]:
    """The characters that reached the output and could drive a terminal or reorder a line."""
    return [c for c in _SGR.sub("", printed) if c != "\n" and unicodedata.category(c) in ("Cc", "Cf")]


def _render(report: ApplyReport, terminal: bool) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=300, force_terminal=terminal, color_system="standard" if terminal else None
    )
    show_apply(console, report)
    show_plan(console, report.plan)
    return buffer.getvalue()


def test_the_report_prints_markup_and_control_characters_as_data(context: ProjectContext) -> None:
    plan = make_plan(context)
    for text in HOSTILE:
        for terminal in (False, True):
            printed = _render(_report(plan, text), terminal)
            assert _unsafe(printed) == [], (text, printed)
    printed = _render(_report(plan, "[/]"), False)
    assert re.search(r"\d+ data tests planned \(\d+ column, \d+ model\) by the \[/\] planner\.", printed)
    assert "skipped [/]" in printed
    printed = _render(_report(plan, "a\x1b[2J\x1b]0;pwned\x07b"), False)
    assert "skipped a\\x1b[2J\\x1b]0;pwned\\x07b" in printed  # shown, escaped, on its line
    assert "skipped one\\nerror: two\\r" in _render(_report(plan, "one\nerror: two\r"), False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=30))
def test_any_text_in_a_report_is_printed_without_a_crash_or_a_control_character(
    context: ProjectContext, text: str
) -> None:
    printed = _render(_report(make_plan(context), text), terminal=False)
    assert _unsafe(printed) == []


def test_a_mermaid_label_cannot_break_out_of_its_node(context: ProjectContext) -> None:
    plan = make_plan(context)
    action = next(a for a in plan.actions if a.dependencies)
    renamed = action.model_copy(update={"name": 'x"] --> evil["\nclick x call alert()'})
    chart = mermaid_lineage(plan.model_copy(update={"actions": [renamed]}))
    # One line per statement: the chart, two groups (opened, a node, closed) and an edge per dependency.
    assert chart.count("\n") == 1 + (2 + len(action.dependencies)) + 3 + len(action.dependencies)
    assert '"] --> evil["' not in chart and "\nclick" not in chart


def test_relaxed_tests_show_the_first_few_and_the_file_holding_them_all(context: ProjectContext) -> None:
    report = _report(make_plan(context), "shop")
    report.relaxed_tests = [f"stg_shop__orders.t{i}: 3 rows failed\nselect 1" for i in range(12)]
    report.report_file = Path("/p/.cartridge/runs/20260101T000000000000Z/report.txt")
    printed = _render(report, terminal=False).splitlines()
    shown_ = [line for line in printed if line.startswith("relaxed to warn ")]
    assert shown_ == [f"relaxed to warn stg_shop__orders.t{i}: 3 rows failed; select 1" for i in range(5)]
    assert f"… and 7 more tests relaxed or repaired (12 in all, listed in {report.report_file})" in printed
    assert f"The run's whole report: {report.report_file}" in printed
    report.report_file = None  # no file to hold them: every one is printed
    assert sum(line.startswith("relaxed to warn ") for line in _render(report, False).splitlines()) == 12


def test_the_report_counts_tests_by_kind_as_planned_and_as_dbt_ran_them(context: ProjectContext) -> None:
    plan = make_plan(context)
    on_columns, on_models = count_tests(plan)
    assert on_columns > 0
    action = next(a for a in plan.actions if a.type == "create_mart")
    grain = ModelTest(name="unique_combination_of_columns", columns=["a", "b"])
    plan.actions[plan.actions.index(action)] = action.model_copy(update={"tests": [*action.tests, grain]})
    assert count_tests(plan) == (on_columns, on_models + 1)  # a model-level test counts as one
    nodes = [
        NodeResult("model.shop.m", "model", "m", "success", None, None),
        NodeResult("test.shop.a", "test", "a", "pass", None, 0, tested_column="id"),
        NodeResult("test.shop.b", "test", "b", "fail", None, 3, tested_column="x"),
        NodeResult("test.shop.c", "test", "c", "pass", None, 0),
        NodeResult("test.shop.d", "test", "d", "skipped", None, None, tested_column="y"),
    ]
    report = _report(plan, "shop")
    report.build = BuildSummary(success=False, nodes=nodes, errors=[], warnings=[])
    lines = _render(report, terminal=False).splitlines()
    planned = f"{on_columns + on_models + 1} data tests planned ({on_columns} column, {on_models + 1} model)"
    assert f"{planned} by the shop planner." in lines
    assert "3 data tests ran (2 column, 1 model); 1 skipped." in lines


def test_the_report_shows_each_stage_and_what_no_stage_took(context: ProjectContext) -> None:
    report = _report(make_plan(context), "shop")
    report.seconds = 64.04
    report.stages = {"gather": 1.0, "context": 0.25, "plan": 40.0, "parse": 3.0, "build": 19.5}
    lines = _render(report, terminal=False).splitlines()
    assert (
        "Time by stage: gather 1.0 s, context 0.2 s, plan 40.0 s, parse 3.0 s, build 19.5 s, other 0.3 s."
        in lines
    )
    assert (
        lines.index("Done in 64.0 s.") == lines.index(next(x for x in lines if x.startswith("Time by"))) + 1
    )


def test_the_models_verdicts_show_the_first_few_and_the_file_holding_them_all(
    context: ProjectContext,
) -> None:
    report = _report(make_plan(context), "shop")
    report.model_verdicts = [
        f"dim_x.t{i}: relationships (1 failing rows) accepted by the model, kept at warn: [b]"
        for i in range(7)
    ]
    report.report_file = Path("/p/.cartridge/runs/20260101T000000000000Z/report.txt")
    printed = _render(report, terminal=False).splitlines()
    shown_ = [line for line in printed if line.startswith("model verdict ")]
    assert (
        shown_[0]
        == "model verdict dim_x.t0: relationships (1 failing rows) accepted by the model, kept at warn: [b]"
    )
    assert len(shown_) == 5
    assert f"… and 2 more verdicts (listed in {report.report_file})" in printed
