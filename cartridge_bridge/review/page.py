"""The review page of an apply: what it adds, layer by layer, as Markdown a reviewer pastes into a pull request.

Built from the plan as it was written (after the build's repairs, so relaxed tests carry their reasons) and the
build's outcome. A run's page is saved as `.cartridge/runs/<run id>/review.md`; a dry run prints the plan's.
Every name, description and reason on it came from outside: each is a code span (see review.markdown).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from cartridge_bridge.dbt.runner import BuildSummary
from cartridge_bridge.planning.in_place import in_place_files
from cartridge_bridge.planning.plan import (
    HISTORY_COLUMNS,
    DataTest,
    ExecutionPlan,
    HistorySpec,
    MartSpec,
    ModelTest,
    PeriodicSnapshotSpec,
    PlanAction,
    SourceSpec,
    SourceTableSpec,
    StagingSpec,
    TimeSpineSpec,
    UnionSpec,
    action_inputs,
    count_tests,
    output_columns,
    undescribed_columns,
)
from cartridge_bridge.review.lineage import LAYERS, mermaid_lineage
from cartridge_bridge.review.markdown import code, codes, table
from cartridge_bridge.write.workspace import FileChange, unified_diff

REVIEW_NAME = "review.md"
SEMANTIC_MODELS_HEADING = "## Semantic models and metrics"
DRY_RUN_NOTE = (
    "> **Dry run**: this is the plan before its build. No test has run yet, so none is relaxed: a generated "
    "test that fails on today's data is set to warn when the plan is applied, and the run's review page says "
    "which and why."
)


@dataclass
class ReviewInput:
    """What a review page is made of: the plan as written, each file's change and the build's outcome."""

    plan: ExecutionPlan
    changes: list[FileChange]
    run_id: str | None  # None: a dry run, the plan before anything is written or built
    build: BuildSummary | None = None  # None on a run: built with --no-build (dbt parse only)
    model_verdicts: list[str] = field(default_factory=list)  # the LLM repairer's, one line each


@dataclass(frozen=True)
class RelaxedTest:
    """A test the plan keeps at warn: where it is, what it tests, and the reasons in its meta."""

    model: str
    column: str | None  # None: a test on the whole model
    test: DataTest | ModelTest


def relaxed_tests(plan: ExecutionPlan) -> list[RelaxedTest]:
    """Every test of the plan's models at severity warn, in plan order: column tests, then the model's own."""
    found = []
    for action in plan.models():
        if isinstance(action.spec, SourceSpec):
            continue
        for column in output_columns(action.spec):
            found += [RelaxedTest(action.name, column.name, t) for t in column.tests if t.severity == "warn"]
        found += [RelaxedTest(action.name, None, t) for t in action.tests if t.severity == "warn"]
    return found


def review_page(review: ReviewInput) -> str:
    """The whole page: title, summary, one table per layer, relaxed tests, undescribed columns, lineage, files."""
    plan = review.plan
    undescribed = undescribed_columns(plan)
    relaxed = relaxed_tests(plan)
    lines = [*_head(review, len(relaxed), len(undescribed)), ""]
    for layer in dict.fromkeys(LAYERS.values()):  # the time spine shares the marts
        lines += _layer(plan, layer, undescribed)
    lines += _relaxed(relaxed, dry_run=review.run_id is None)
    lines += _section(
        "The model's verdicts on failing tests", [f"- {code(v)}" for v in review.model_verdicts]
    )
    lines += _section("Columns left undescribed", [f"- {code(c)}" for c in undescribed])
    lines += _semantic_models(plan)
    lines += ["## Lineage", "", "```mermaid", *mermaid_lineage(plan).splitlines(), "```", ""]
    lines += _in_place(review)
    rows = [[code(c.path), c.status] for c in review.changes]
    lines += _section("Files", table(["file", "change"], rows) if rows else [])
    lines += _section("Raw tables left out", [f"- {code(reason)}" for reason in plan.skipped])
    return "\n".join(lines).rstrip("\n") + "\n"


def _head(review: ReviewInput, relaxed: int, undescribed: int) -> list[str]:
    """The title, who planned what for which project, the summary counts and the build's outcome."""
    plan = review.plan
    title = f"cartridge run {review.run_id}" if review.run_id else "cartridge plan (dry run)"
    on_columns, on_models = count_tests(plan)
    lines = [
        f"# Review: {title}",
        "",
        f"Project {code(plan.project_name)} on {code(plan.adapter_type)}, {plan.strategy}; "
        f"planned by {code(plan.planner)}.",
        "",
        f"Adds {_added(plan)}, with {on_columns + on_models} data tests ({on_columns} column, "
        f"{on_models} model); {_count(relaxed, 'test')} at warn; {_count(undescribed, 'column')} left "
        "undescribed.",
        "",
    ]
    if review.run_id is None:
        return [*lines, DRY_RUN_NOTE]
    if review.build is None:
        return [*lines, "dbt build did not run (build is off); dbt parse accepted every file."]
    return [*lines, _build_line(review.build)]


def _added(plan: ExecutionPlan) -> str:
    """`1 source (3 tables), 3 staging models, 2 intermediate models and 2 marts`: what each layer adds."""
    kinds: Counter[str] = Counter(action.type for action in plan.actions)
    tables = sum(len(a.spec.tables) for a in plan.actions if isinstance(a.spec, SourceSpec))
    parts = [f"{_count(kinds['create_source'], 'source')} ({_count(tables, 'table')})"] if tables else []
    for kind, noun in (("create_staging", "staging model"), ("create_intermediate", "intermediate model")):
        parts += [_count(kinds[kind], noun)] if kinds[kind] else []
    parts += [_count(kinds["create_mart"], "mart")] if kinds["create_mart"] else []
    extended = kinds["modify_in_place"]
    parts += [f"{_count(extended, 'existing mart')} extended in place"] if extended else []
    if len(parts) < 2:
        return parts[0] if parts else "no model"
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# dbt's resource types and statuses are words; anything else it printed is shown as a code span.
_WORD = re.compile(r"[a-z][a-z ]*")


def _word(text: str) -> str:
    return text if _WORD.fullmatch(text) else code(text)


def _build_line(build: BuildSummary) -> str:
    """`dbt build passed: models 7 success; tests 19 pass, 1 warn.`, from dbt's own results."""
    parts = []
    for kind in sorted({n.resource_type for n in build.nodes}):
        statuses = Counter(n.status for n in build.nodes if n.resource_type == kind)
        counts = ", ".join(f"{count} {_word(status)}" for status, count in sorted(statuses.items()))
        parts.append(f"{_word(kind)}s {counts}")
    verdict = "passed" if build.success else "failed"
    return f"dbt build {verdict}: {'; '.join(parts) or 'nothing ran'}."


def _layer(plan: ExecutionPlan, layer: str, undescribed: list[str]) -> list[str]:
    """One layer's section: its source tables, or a table of its models with grain, inputs and tests."""
    actions = [a for a in plan.actions if LAYERS[a.type] == layer]
    if not actions:
        return []
    if layer == "sources":
        rows = [
            [
                code(spec.source_name),
                code(t.name),
                code(f"{spec.schema_name}.{t.identifier}"),
                str(len(t.columns)),
                _freshness(t),
            ]
            for spec in (a.spec for a in actions if isinstance(a.spec, SourceSpec))
            for t in spec.tables
        ]
        return _section("Sources", table(["source", "table", "relation", "columns", "freshness"], rows))
    per_model = Counter(column.split(".", 1)[0] for column in undescribed)
    rows = [
        [_model(action), codes(_grain(action), "not declared"), codes(_inputs(action)), _tests(action),
         str(per_model[action.name])]
        for action in actions
    ]  # fmt: skip
    header = ["model", "grain", "inputs", "data tests", "undescribed columns"]
    return _section(layer.capitalize(), table(header, rows))


def _freshness(source_table: SourceTableSpec) -> str:
    """`_fivetran_synced`: warn 24 hour, error 48 hour; none when the table is not checked."""
    freshness = source_table.freshness
    if source_table.loaded_at_field is None or freshness is None:
        return "none"
    limits = [
        f"{kind} {after.count} {after.period}"
        for kind, after in (("warn", freshness.warn_after), ("error", freshness.error_after))
        if after is not None
    ]
    return f"{code(source_table.loaded_at_field)}: {', '.join(limits)}"


def _model(action: PlanAction) -> str:
    role = f" ({action.spec.role})" if isinstance(action.spec, MartSpec) else ""
    if isinstance(action.spec, PeriodicSnapshotSpec):
        role = f" ({ {'day': 'daily', 'week': 'weekly', 'month': 'monthly'}[action.spec.period] } snapshot)"
    return code(action.name) + role


def _inputs(action: PlanAction) -> list[str]:
    return [] if isinstance(action.spec, SourceSpec) else action_inputs(action)


def _grain(action: PlanAction) -> list[str]:
    """The columns that make a row unique: the spec's grain, an aggregate's grouping."""
    spec = action.spec
    if isinstance(spec, (StagingSpec, MartSpec, UnionSpec)):
        return spec.grain
    if isinstance(spec, TimeSpineSpec):
        return [spec.column]
    if isinstance(spec, HistorySpec):
        return [*spec.entity_key, HISTORY_COLUMNS[0]]
    if isinstance(spec, PeriodicSnapshotSpec):
        return spec.grain
    return [] if isinstance(spec, SourceSpec) else spec.group_by


def _tests(action: PlanAction) -> str:
    """`4: not_null 2, unique 1, relationships 1`: the model's data tests by kind, column and model tests."""
    spec = action.spec
    names = [] if isinstance(spec, SourceSpec) else [t.name for c in output_columns(spec) for t in c.tests]
    kinds = Counter(names + [t.name for t in action.tests])
    if not kinds:
        return "none"
    return f"{sum(kinds.values())}: " + ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())


def _relaxed(relaxed: list[RelaxedTest], dry_run: bool) -> list[str]:
    """The tests at warn, each with cartridge's note and the model's reason from its meta."""
    if not relaxed:
        return (
            [] if dry_run else _section("Relaxed tests", ["None: every data test passed at severity error."])
        )
    rows = [
        [code(r.model), code(r.column) if r.column else "(the model)", _test_text(r.test),
         code(r.test.note) if r.test.note else "", code(r.test.relaxed_reason) if r.test.relaxed_reason else ""]
        for r in relaxed
    ]  # fmt: skip
    title = "Tests at warn in the plan" if dry_run else "Relaxed tests"
    return _section(title, table(["model", "column", "test", "note", "reason kept at warn"], rows))


def _test_text(test: DataTest | ModelTest) -> str:
    """A test's kind and what tells it from another of its kind (its target, expression or columns)."""
    if isinstance(test, ModelTest):
        detail = code(test.expression) if test.expression else codes(test.columns)
        return f"{test.name} {detail}"
    if test.name == "relationships":
        return f"relationships to {code(f'{test.to}.{test.field}')}"
    if test.name == "accepted_values":
        return f"accepted_values ({_count(len(test.values or []), 'value')})"
    return test.name


def _semantic_models(plan: ExecutionPlan) -> list[str]:
    """The plan's semantic models (one row each: its mart, entities, time, measures) and their metrics, shown
    only when it has any; after the undescribed columns, before the lineage, under SEMANTIC_MODELS_HEADING."""
    described = [(a, a.semantic_model) for a in plan.actions if a.semantic_model is not None]
    if not described:
        return []
    rows = [
        [code(model.name), code(action.name), codes([e.name for e in model.entities]),
         code(model.agg_time_dimension) if model.agg_time_dimension else "none",
         codes([m.name for m in model.measures]), codes([m.name for m in model.metrics]),
         _semantic_files(action)]
        for action, model in described
    ]  # fmt: skip
    header = ["semantic model", "mart", "entities", "time", "measures", "metrics", "file"]
    spine = next((a for a in plan.actions if isinstance(a.spec, TimeSpineSpec)), None)
    note = [f"Time spine: {code(spine.name)} (added: the project had none).", ""] if spine else []
    return [SEMANTIC_MODELS_HEADING, "", *note, *table(header, rows), ""]


def _semantic_files(action: PlanAction) -> str:
    """Where a semantic model is written (the project's own file, or its mart's properties), and its metrics when
    they go elsewhere."""
    model_file = action.semantic_model_path or action.properties_path or ""
    if action.metrics_path and action.metrics_path != model_file:
        return f"{code(model_file)}, metrics in {code(action.metrics_path)}"
    return code(model_file)


def _in_place(review: ReviewInput) -> list[str]:
    """The unified diff of the existing models' files the plan edits in place (`--modify-existing`), if any."""
    edited = in_place_files(review.plan)
    diff = unified_diff([c for c in review.changes if c.path in edited])
    if not diff:
        return []
    # A fence longer than any run of backticks in the files, so their text cannot close it.
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", diff)), default=0))
    return _section("Existing models edited in place", [f"{fence}diff", *diff.splitlines(), fence])


def _section(title: str, body: Sequence[str]) -> list[str]:
    """A `## title` section with a blank line after it, or nothing when it has no body."""
    return [f"## {title}", "", *body, ""] if body else []
