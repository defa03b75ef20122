"""The review page: its sections and counts, and outside text that cannot change its Markdown or its Mermaid."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token
from plan_payloads import MARKDOWN_PAYLOADS, marker_statements

from cartridge_bridge.api import make_plan
from cartridge_bridge.config import SourceFreshness
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.dbt.runner import BuildSummary, NodeResult
from cartridge_bridge.errors import shown
from cartridge_bridge.planning.plan import (
    DataTest,
    ExecutionPlan,
    ModelTest,
    SourceSpec,
    undescribed_columns,
)
from cartridge_bridge.review.lineage import mermaid_lineage
from cartridge_bridge.review.markdown import cell, code, mermaid_label
from cartridge_bridge.review.page import DRY_RUN_NOTE, ReviewInput, review_page
from cartridge_bridge.write.workspace import FileChange

RUN = "20260101T000000000000Z"
_MARKDOWN = MarkdownIt("commonmark").enable("table")  # GitHub's tables on CommonMark, raw HTML recognized
HOSTILE = [*MARKDOWN_PAYLOADS, marker_statements("review_pwned")]


def _tables(tokens: list[Token]) -> list[list[list[str]]]:
    """Each table as its rows (header first), each row as its cells' text as read (code spans' without fences)."""
    tables: list[list[list[str]]] = []
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            tables[-1].append([])
        elif token.type in ("th_open", "td_open"):
            tables[-1][-1].append("".join(child.content for child in tokens[index + 1].children or []))
    return tables


def _headings(tokens: list[Token]) -> list[tuple[str, str]]:
    return [(t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"]


def _inline(tokens: list[Token]) -> list[Token]:
    return [child for t in tokens if t.type == "inline" for child in t.children or []]


def _built(plan: ExecutionPlan) -> BuildSummary:
    models = [
        NodeResult(f"model.shop.{a.name}", "model", a.name, "success", None, None) for a in plan.models()
    ]
    tests = [NodeResult(f"test.shop.t{i}", "test", f"t{i}", "pass", None, 0) for i in range(3)]
    warned = NodeResult("test.shop.w", "test", "w", "warn", None, 3)
    return BuildSummary(success=True, nodes=[*models, *tests, warned], errors=[], warnings=[])


def test_the_page_has_a_section_per_layer_with_a_row_per_model_and_the_relaxed_tests_with_their_reasons(
    context: ProjectContext,
) -> None:
    plan = make_plan(context)
    staging = next(a for a in plan.models() if a.type == "create_staging")
    key = next(c for c in staging.spec.columns if c.tests)  # type: ignore[union-attr]
    key.tests[0].severity, key.tests[0].note = "warn", "3 rows failed this test"
    mart = next(a for a in plan.models() if a.type == "create_mart")
    mart.tests.append(ModelTest(name="expression_is_true", expression="amount >= 0", severity="warn",
                                note="1 rows failed", relaxed_reason="refunds are negative"))  # fmt: skip
    changes = [FileChange(a.file_path, "create", None, "x") for a in plan.actions]
    page = review_page(ReviewInput(plan, changes, RUN, _built(plan), ["fct_orders: kept at warn: refunds"]))
    tokens = _MARKDOWN.parse(page)
    assert _headings(tokens) == [("h1", f"Review: cartridge run {RUN}")] + [
        ("h2", title)
        for title in ("Sources", "Staging", "Intermediate", "Marts", "Relaxed tests",
                      "The model's verdicts on failing tests", "Columns left undescribed", "Lineage", "Files",
                      "Raw tables left out")
    ]  # fmt: skip
    sources, staging_table, intermediate, marts, relaxed, files = _tables(tokens)
    per_type = {
        kind: [a for a in plan.actions if a.type == kind] for kind in ("create_staging", "create_mart")
    }
    assert len(sources) - 1 == sum(len(a.spec.tables) for a in plan.actions if isinstance(a.spec, SourceSpec))
    assert [row[0] for row in staging_table[1:]] == [a.name for a in per_type["create_staging"]]
    assert len(intermediate) - 1 == sum(a.type == "create_intermediate" for a in plan.actions)
    assert [row[0].split(" ")[0] for row in marts[1:]] == [a.name for a in per_type["create_mart"]]
    assert staging_table[1][1:4] == [staging.spec.grain[0], f"{staging.spec.source_name}.{staging.spec.table}",  # type: ignore[union-attr]
                                     "2: unique 1, not_null 1"]  # fmt: skip
    assert relaxed[1:] == [
        [staging.name, key.name, key.tests[0].name, "3 rows failed this test", ""],
        [mart.name, "(the model)", "expression_is_true amount >= 0", "1 rows failed", "refunds are negative"],
    ]
    assert len(files) - 1 == len(plan.actions)
    assert "dbt build passed: models 12 success; tests 3 pass, 1 warn." in page
    assert "with 28 data tests (27 column, 1 model); 2 tests at warn; 10 columns left undescribed." in page
    assert "Adds 1 source (4 tables), 4 staging models, 4 intermediate models and 4 marts" in page


def test_a_dry_run_page_says_no_test_has_run_and_lists_no_relaxed_tests(context: ProjectContext) -> None:
    plan = make_plan(context)
    page = review_page(ReviewInput(plan, [], run_id=None))
    headings = [title for _, title in _headings(_MARKDOWN.parse(page))]
    assert headings[0] == "Review: cartridge plan (dry run)"
    assert DRY_RUN_NOTE in page and "Relaxed tests" not in headings and "Files" not in headings
    assert {"Staging", "Intermediate", "Marts", "Lineage", "Columns left undescribed"} <= set(headings)
    # A plan file may hold tests at warn already: they are listed, as the plan's, with their notes.
    key = next(c for a in plan.models() for c in a.spec.columns if c.tests)  # type: ignore[union-attr]
    key.tests[0].severity, key.tests[0].note = "warn", "known duplicates"
    [_, *_, at_warn] = _tables(_MARKDOWN.parse(review_page(ReviewInput(plan, [], run_id=None))))
    assert at_warn[1][3] == "known duplicates"


def _hostile(plan: ExecutionPlan) -> tuple[ExecutionPlan, list[str]]:
    """The plan with each payload in a model's name, a column's name, a source table, a test's note and
    reason, a skipped table's reason; and every outside string the page must show as itself."""
    plan = plan.model_copy(deep=True, update={"planner": HOSTILE[0], "project_name": HOSTILE[1]})
    models = [a for a in plan.models() if not isinstance(a.spec, SourceSpec)]
    source = next(a.spec for a in plan.actions if isinstance(a.spec, SourceSpec))
    for index, payload in enumerate(HOSTILE):
        action = models[index % len(models)]
        action.name = f"{payload} {index}"
        column = action.spec.columns[index % len(action.spec.columns)]  # type: ignore[union-attr]
        column.name, column.description = f"{payload} col", ""
        column.tests.append(DataTest(name="not_null", severity="warn", note=payload, relaxed_reason=payload))
        source.tables[index % len(source.tables)].name = f"{payload} table"  # type: ignore[union-attr]
        plan.skipped.append(payload)
    names = [a.name for a in models] + [
        c.name for a in models for c in a.spec.columns if c.name.endswith(" col")
    ]  # type: ignore[union-attr]
    return plan, [*HOSTILE, *names, *(t.name for t in source.tables)]  # type: ignore[union-attr]


def test_outside_text_is_shown_as_itself_and_never_read_as_markdown_html_or_mermaid(
    context: ProjectContext,
) -> None:
    plan, expected = _hostile(make_plan(context))
    changes = [FileChange(f"models/{p}.sql", "create", None, "x") for p in HOSTILE]
    page = review_page(ReviewInput(plan, changes, RUN, _built(plan), list(HOSTILE)))
    tokens = _MARKDOWN.parse(page)
    inline = _inline(tokens)
    kinds = {t.type for t in tokens} | {t.type for t in inline}
    assert not kinds & {
        "html_block",
        "html_inline",
        "link_open",
        "image",
        "em_open",
        "strong_open",
        "code_block",
    }
    assert [tag for tag, _ in _headings(tokens)].count("h1") == 1
    assert len([t for t in tokens if t.type == "fence"]) == 1  # the lineage's, never closed early
    spans = {t.content for t in inline if t.type == "code_inline"}
    assert {shown(text, limit=None) for text in expected} <= spans
    for rows in _tables(tokens):
        assert {len(row) for row in rows} == {len(rows[0])}  # no pipe made a cell of its own
    _, *layers, relaxed, files = _tables(tokens)
    assert sum(len(rows) - 1 for rows in layers) == len(plan.models())
    assert len(relaxed) - 1 == len(HOSTILE) and len(files) - 1 == len(HOSTILE)
    bullets = [line for line in page.splitlines() if line.startswith("- ")]
    # The verdicts, the undescribed columns and the skipped tables: one line each.
    assert len(bullets) == len(HOSTILE) + len(undescribed_columns(plan)) + len(plan.skipped)
    _assert_lineage(plan, next(t.content for t in tokens if t.type == "fence"))


_MERMAID_LINE = re.compile(
    r'flowchart LR|    subgraph g\d+\["[a-z ]+"\]|        (n\d+)\["([^"]*)"\]|    end|    (n\d+) --> (n\d+)'
)


def _assert_lineage(plan: ExecutionPlan, chart: str) -> None:
    """Every line of the chart is one of its five statements, its ids made by cartridge and its labels the names."""
    labels: dict[str, str] = {}
    edges = []
    for line in chart.splitlines():
        found = _MERMAID_LINE.fullmatch(line)
        assert found, line
        if found.group(1):
            labels[found.group(1)] = re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), found.group(2))
        elif found.group(3):
            edges.append((labels[found.group(3)], labels[found.group(4)]))
    assert set(labels) == {f"n{i}" for i in range(1, len(labels) + 1)}
    assert edges == [
        (shown(d, limit=None), shown(a.name, limit=None)) for a in plan.actions for d in a.dependencies
    ]


def test_two_names_mermaid_would_have_made_one_node_stay_two(context: ProjectContext) -> None:
    plan = make_plan(context)
    first, second = plan.models()[:2]
    first.name, second.name = "a-b", "a_b"
    chart = mermaid_lineage(plan)
    assert '["a-b"]' in chart and '["a_b"]' in chart
    assert len(re.findall(r'n\d+\["', chart)) == len(set(re.findall(r'(n\d+)\["', chart)))


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_any_text_is_one_code_span_of_itself_even_in_a_table_cell(text: str) -> None:
    safe = shown(text, limit=None)
    span = code(text)
    if not safe.strip(" "):
        assert span.startswith("(") and "`" not in span
        return
    row = f"| a | {cell(span)} | b |"
    tokens = _MARKDOWN.parse(f"| x | y | z |\n|---|---|---|\n{row}\n")
    [[_, [left, _, right]]] = _tables(tokens)
    assert (left, right) == ("a", "b")
    [middle_span] = [t for t in _inline(tokens) if t.type == "code_inline"]
    assert middle_span.content == safe


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_any_text_is_a_mermaid_label_that_cannot_end_its_quotes_or_its_line(text: str) -> None:
    label = mermaid_label(text)
    assert not set(label) & set('"`<>%&\n\r')
    assert re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label) == shown(text, limit=None)


def test_the_semantic_models_and_the_time_spine_have_their_section(context: ProjectContext) -> None:
    plan = make_plan(context.model_copy(update={"semantic_models": True}))
    described = [a for a in plan.actions if a.semantic_model is not None]
    assert described  # the shop's marts are described to the semantic layer
    page = review_page(ReviewInput(plan, [], RUN, None, []))
    tokens = _MARKDOWN.parse(page)
    headings = [title for _, title in _headings(tokens)]
    assert headings.index("Semantic models and metrics") < headings.index("Lineage")
    [semantic] = [t for t in _tables(tokens) if t[0][0] == "semantic model"]
    assert [row[1] for row in semantic[1:]] == [a.name for a in described]
    metrics = {m.name for a in described for m in a.semantic_model.metrics}  # type: ignore[union-attr]
    assert {m for row in semantic[1:] for m in row[5].split(", ")} - {"none"} == metrics
    assert "Time spine: `metricflow_time_spine` (added: the project had none)." in page


def test_each_source_table_shows_its_freshness_check(context: ProjectContext) -> None:
    plan = make_plan(context)
    [source] = [a.spec for a in plan.actions if isinstance(a.spec, SourceSpec)]
    first = source.tables[0]
    freshness = SourceFreshness(warn_after={"count": 12, "period": "hour"})  # type: ignore[arg-type]
    source.tables[0] = first.model_copy(
        update={"loaded_at_field": first.columns[0].name, "freshness": freshness}
    )
    page = review_page(ReviewInput(plan, [], RUN, None, []))
    sources = _tables(_MARKDOWN.parse(page))[0]
    assert sources[0][-1] == "freshness"
    assert sources[1][-1] == f"{first.columns[0].name}: warn 12 hour"
    assert {row[-1] for row in sources[2:]} == {"none"}
