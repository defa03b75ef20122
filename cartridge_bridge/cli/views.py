"""Rich renderings of API results for the terminal; part of the CLI layer.

Every name and message that comes from outside (a plan, an LLM, the warehouse, dbt, the filesystem) goes
through `data`: printed as text, never read as rich markup, its control and bidi characters escaped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cartridge_bridge.errors import one_line, shown
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.planning.plan import count_tests as count_tests

if TYPE_CHECKING:
    from cartridge_bridge.api import ApplyReport, UndoReport
    from cartridge_bridge.context.existing_models import ExistingColumn
    from cartridge_bridge.context.key_facts import ForeignKeyFacts, KeyFacts
    from cartridge_bridge.context.project_context import ProjectContext
    from cartridge_bridge.dbt.package_install import InitReport
    from cartridge_bridge.dbt.runner import BuildSummary, FreshnessCheck, FreshnessSummary
    from cartridge_bridge.demo.run import DemoReport
    from cartridge_bridge.planning.llm.chat import UsageLedger
    from cartridge_bridge.planning.rules.source_freshness import FreshnessCoverage
    from cartridge_bridge.stage_clock import Stage

_LAYERS = {
    "create_source": "sources",
    "create_staging": "staging",
    "create_intermediate": "intermediate",
    "create_mart": "marts",
    "create_time_spine": "marts",
    "modify_in_place": "marts",
}


def data(text: object) -> str:
    """Outside text for a rich markup string: shown as it is, on one line, with no control character."""
    return escape(shown(str(text), limit=None))


def layer_of_paths(plan: ExecutionPlan) -> dict[str, str]:
    """Each file the plan writes, mapped to its layer (sources, staging, intermediate, marts)."""
    layers = {}
    for action in plan.actions:
        layer = _LAYERS[action.type]
        layers[action.file_path] = layer
        if action.properties_path:
            layers[action.properties_path] = layer
        for path in (action.semantic_model_path, action.metrics_path):
            if path:  # the project's semantic-model and metrics files, which the marts share
                layers.setdefault(path, layer)
    return layers


def tests_line(verb: str, on_columns: int, on_models: int) -> str:
    """`227 data tests ran (216 column, 11 model)`: the count, what happened to them, and their kinds."""
    return f"{on_columns + on_models} data tests {verb} ({on_columns} column, {on_models} model)"


def show_apply(console: Console, report: ApplyReport) -> None:
    """Files per layer, the dbt build, relaxed tests and the wall time of an apply."""
    for finding in report.unit_findings:  # first: a number 100x wrong is worse than anything below
        console.print(f"[bold yellow]{data(finding)}[/bold yellow]", highlight=False)
    if not report.plan.actions:
        console.print(
            "[green]Nothing changed[/green]: no new raw table to model "
            f"({len(report.plan.skipped)} left out)."
        )
        for reason in report.plan.skipped:
            console.print(f"[dim]  {data(reason)}[/dim]", highlight=False)
        return
    layers = layer_of_paths(report.plan)
    table = Table(title="Files", show_edge=False)
    table.add_column("layer")
    for status in ("create", "modify", "unchanged", "kept"):
        table.add_column(status, justify="right")
    per_layer: dict[str, Counter[str]] = {}
    for change in report.changes:
        per_layer.setdefault(layers.get(change.path, "other"), Counter())[change.status] += 1
    for layer in ("sources", "staging", "intermediate", "marts", "other"):
        if layer in per_layer:
            counts = per_layer[layer]
            table.add_row(layer, *(str(counts[s] or "") for s in ("create", "modify", "unchanged", "kept")))
    console.print(table)
    console.print(
        f"{tests_line('planned', *count_tests(report.plan))} by the {data(report.plan.planner)} planner.",
        highlight=False,
    )
    if report.freshness is not None and report.freshness.tables:
        console.print(freshness_coverage_line(report.freshness), highlight=False)
    if report.plan.skipped:
        for reason in report.plan.skipped:
            console.print(f"[yellow]skipped[/yellow] {data(reason)}", highlight=False)
    if report.nothing_changed:
        console.print(
            "[green]Nothing changed[/green]: every file already has exactly this content "
            "(this plan is already applied)."
        )
    elif report.journal is None:
        # As it is (a patch, never wrapped or re-tabbed), but with no control byte but tabs and line ends.
        console.file.write(patch_text(report.diff) or "(no diff)\n")
        console.print("[yellow]Dry run[/yellow]: nothing was written.")
        if report.review is not None:
            console.print("The review page of this plan, as a run would write it:")
            console.file.write("\n" + report.review + "\n")  # Markdown, its outside text escaped by the page
    else:
        run_id = data(report.journal.run_id)
        console.print(f"Run {run_id} written; `cartridge undo {run_id}` reverts it.", highlight=False)
    _repairs(console, report.relaxed_tests, report.report_file)
    _model_verdicts(console, report.model_verdicts, report.report_file)
    for finding in report.stale_docs:
        console.print(f"[yellow]{data(finding)}[/yellow]", highlight=False)
    on_page = "the review page above" if report.journal is None and report.review is not None else None
    _undescribed(console, report.undescribed, report.report_file or on_page)
    if report.report_file is not None:
        console.print(f"The run's whole report: {data(report.report_file)}", highlight=False)
    if report.review_file is not None:
        console.print(f"Its review page, for a pull request: {data(report.review_file)}", highlight=False)
    if report.build is not None:
        show_build(console, report.build)
    show_time(console, report.seconds, report.stages)


def freshness_coverage_line(coverage: FreshnessCoverage) -> str:
    """`Source freshness: 3 of 5 new source tables checked; 2 have no loader timestamp.`"""
    line = f"Source freshness: {coverage.checked} of {coverage.tables} new source tables checked"
    line += f"; {coverage.unstamped} {'has' if coverage.unstamped == 1 else 'have'} no loader timestamp"
    if coverage.unchecked_stamped:
        # A loader timestamp left unused is a choice the reader should see: `source_freshness: false`, or the plan's.
        line += f"; {coverage.unchecked_stamped} with one not checked"
    return line + "."


def show_time(console: Console, seconds: float, stages: Mapping[Stage, float]) -> None:
    """The seconds of each stage that ran, what no stage took, and the command's whole wall time."""
    if stages:
        other = max(0.0, seconds - sum(stages.values()))
        parts = [f"{name} {took:.1f} s" for name, took in stages.items()] + [f"other {other:.1f} s"]
        console.print(f"Time by stage: {', '.join(parts)}.", highlight=False)
    console.print(f"Done in {seconds:.1f} s.")


# With a report file to hold them whole, a long list shows its count and only these first few.
_REPAIRS_SHOWN = 5
_UNDESCRIBED_SHOWN = 5


def _repairs(console: Console, repairs: list[str], report_file: Path | None) -> None:
    """One line per relaxed or repaired test: the first few when the report file lists them all."""
    listed = repairs[:_REPAIRS_SHOWN] if report_file is not None else repairs
    for repair in listed:
        # The LLM repairer's corrections share the list with the data tests relaxed on today's data.
        label = "repaired" if "corrected by the model" in repair else "relaxed to warn"
        console.print(f"[yellow]{label}[/yellow] {data(one_line(repair))}", highlight=False)
    if len(repairs) > len(listed):
        console.print(
            f"[yellow]… and {len(repairs) - len(listed)} more tests relaxed or repaired[/yellow] "
            f"({len(repairs)} in all, listed in {data(report_file)})",
            highlight=False,
        )


def _model_verdicts(console: Console, verdicts: list[str], report_file: Path | None) -> None:
    """The failing data tests the model fixed or accepted (with its reason): the first few with a report file."""
    listed = verdicts[:_REPAIRS_SHOWN] if report_file is not None else verdicts
    for verdict in listed:
        console.print(f"[yellow]model verdict[/yellow] {data(one_line(verdict))}", highlight=False)
    if len(verdicts) > len(listed):
        console.print(
            f"[yellow]… and {len(verdicts) - len(listed)} more verdicts[/yellow] (listed in {data(report_file)})",
            highlight=False,
        )


def _undescribed(console: Console, columns: list[str], report_file: Path | str | None) -> None:
    """The columns left for the user to describe: the count and first few, or every one, a line each, with no file.

    `report_file` is where they are all listed: the run's report, or a dry run's review page.
    """
    if not columns:
        return
    head = f"[yellow]{len(columns)} columns left undescribed[/yellow] (describe them in the properties files)"
    if report_file is None:  # nothing written and no page: no run folder, so the terminal gets them all
        console.print(f"{head}:", highlight=False)
        for column in columns:
            console.print(f"  {data(column)}", highlight=False)
        return
    listed = columns[:_UNDESCRIBED_SHOWN]
    more = len(columns) - len(listed)
    tail = f", … and {more} more, all listed in {data(report_file)}" if more else ""
    console.print(f"{head}: {data(', '.join(listed))}{tail}", highlight=False)


def show_build(console: Console, build: BuildSummary) -> None:
    """One line of dbt build results per resource type, then any failures."""
    kinds = sorted({n.resource_type for n in build.nodes})
    parts = []
    for kind in kinds:
        statuses = Counter(n.status for n in build.nodes if n.resource_type == kind)
        parts.append(
            f"{data(kind)}s "
            + ", ".join(f"{count} {data(status)}" for status, count in sorted(statuses.items()))
        )
    verdict = "[green]passed[/green]" if build.success else "[red]failed[/red]"
    console.print(f"dbt build {verdict}: " + ("; ".join(parts) or "nothing ran"), highlight=False)
    skipped = build.count("test", "skipped")
    console.print(
        tests_line("ran", *build.tests_ran()) + (f"; {skipped} skipped" if skipped else "") + ".",
        highlight=False,
    )
    for node in build.failed:
        console.print(
            f"  [red]{data(node.status)}[/red] {data(node.name)}: {data(one_line(node.message or ''))}",
            highlight=False,
        )


def _age(seconds: float) -> str:
    """`40 s`, `12 min`, `30.5 hours`: how old a load is, in the unit a freshness threshold would use."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} hours"


def _freshness_check(check: FreshnessCheck) -> str:
    why = _age(check.age_seconds) + " old" if check.age_seconds is not None else one_line(check.message or "")
    return f"{data(check.source)} {data(check.status)} ({data(why)})"


def show_freshness(console: Console, freshness: FreshnessSummary) -> None:
    """`dbt source freshness` on one line: its verdict, the count per status, and every table that did not pass."""
    if not freshness.checks:
        why = (
            f": {data(one_line('; '.join(freshness.errors)))}"
            if freshness.errors
            else ": no source checks it"
        )
        verdict = "[red]failed[/red]" if not freshness.success else "[yellow]ran nothing[/yellow]"
        console.print(f"dbt source freshness {verdict}{why}.", highlight=False)
        return
    statuses = Counter(c.status for c in freshness.checks)
    counts = ", ".join(f"{count} {data(status)}" for status, count in sorted(statuses.items()))
    if freshness.stale:
        verdict = "[yellow]warned[/yellow]" if freshness.success else "[red]failed[/red]"
        tail = "; ".join(_freshness_check(c) for c in freshness.stale)
    else:
        verdict = "[green]passed[/green]"
        ages = [c.age_seconds for c in freshness.checks if c.age_seconds is not None]
        tail = f"the oldest load {_age(max(ages))} old" if ages else ""
    console.print(
        f"dbt source freshness {verdict}: {len(freshness.checks)} source tables, {counts}"
        + (f"; {tail}" if tail else "")
        + ".",
        highlight=False,
    )


def show_demo(console: Console, report: DemoReport) -> None:
    """The demo's summary: data, files, tests, build, freshness, time, and how to continue by hand."""
    if report.loaded_rows is None:
        console.print("Raw data: already loaded in schema raw, synced again (each row's _loaded_at is now).")
    else:
        rows = ", ".join(f"{data(name)} {count:,}" for name, count in report.loaded_rows.items())
        console.print(f"Raw data loaded into schema raw: {rows}.", highlight=False)
    show_apply(console, report.apply)
    if report.rebuild is not None:
        show_build(console, report.rebuild)
    show_freshness(console, report.freshness)
    project, sockets = data(report.project_dir), data(report.postgres.socket_dir)
    console.print(f"Demo finished in {report.seconds:.1f} s. The project is {project}.", highlight=False)
    console.print(
        f"PostgreSQL keeps running (socket in {sockets}); try `cd {project} && dbt build`, "
        f"and stop it with `cartridge demo --dir {project} --stop`.",
        highlight=False,
    )


def show_context(console: Console, context: ProjectContext) -> None:
    """Raw tables with coverage, conventions with their evidence, and the relevant slice."""
    console.print(
        f"Project [bold]{data(context.project_name)}[/bold] ({data(context.adapter_type)}), "
        f"{data(context.strategy)}: {len(context.existing_models)} models, "
        f"{len(context.existing_sources)} source tables.",
        highlight=False,
    )
    _raw_tables(console, context)
    _foreign_keys(console, context)
    _conventions(console, context)
    _slice(console, context)


def key_text(key: KeyFacts | None) -> str:
    """A table's key as `cartridge context` shows it: `id (checked)`, `id + _fivetran_synced (history, named)`."""
    if key is None:
        return "-"
    kind = "history, " if key.history is not None else ""
    return f"{' + '.join(key.row_key)} ({kind}{key.how})"


def _raw_tables(console: Console, context: ProjectContext) -> None:
    table = Table(title="Raw tables", show_edge=False)
    for column in ("schema", "table", "columns", "key (how known)", "source", "status"):
        table.add_column(column)
    for raw in context.raw_schemas:
        for relation in raw.relations:
            covered = relation.identifier in raw.covered
            readers = raw.staged_by.get(relation.identifier, [])
            table.add_row(
                data(raw.schema_name),
                data(relation.identifier),
                str(len(relation.columns)),
                data(key_text(raw.keys.key(relation.identifier))) if not covered else "",
                data(raw.source_name),
                f"[dim]already a source{data(' → ' + ', '.join(readers)) if readers else ''}[/dim]"
                if covered
                else "[green]new[/green]",
            )
    console.print(table)


def foreign_key_text(key: ForeignKeyFacts) -> str:
    """How a foreign key is known, as `cartridge context` shows it: `named`, `refuted: 3 of 4 values missing`."""
    if key.counts is None:
        return key.how
    distinct, held = key.counts
    return f"{key.how}: {distinct - held} of {distinct} values missing"


def _foreign_keys(console: Console, context: ProjectContext) -> None:
    keys = [(raw.schema_name, k) for raw in context.raw_schemas for k in raw.keys.foreign_keys]
    if not keys:
        return
    table = Table(title="Foreign keys of new tables (counted on the raw data)", show_edge=False)
    for column in ("schema", "table.column", "points at", "how known"):
        table.add_column(column)
    for schema, key in keys:
        table.add_row(
            data(schema),
            data(f"{key.child}.{key.column}"),
            data(f"{key.parent}.{key.parent_column}"),
            data(foreign_key_text(key)),
        )
    console.print(table)


def _conventions(console: Console, context: ProjectContext) -> None:
    findings = context.convention_findings
    origin = "dbt Labs' structure guide" if findings.origin == "default" else f"{findings.models} models"
    table = Table(title=f"Conventions (from {origin})", show_edge=False)
    for column in ("convention", "follows", "inferred", "confidence", "evidence", "e.g."):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for key in type(context.conventions).model_fields:
        finding = getattr(findings, key)
        evidence = finding.evidence
        follows = getattr(context.conventions, key)
        table.add_row(
            key,
            data(follows),
            "" if finding.value == follows else f"[yellow]{data(finding.value)}[/yellow]",
            f"{finding.confidence:.2f}",
            f"{evidence.agree}/{evidence.total}" if evidence.total else data(evidence.basis),
            data(evidence.examples[0]) if evidence.examples else "",
        )
    console.print(table)


def _slice(console: Console, context: ProjectContext) -> None:
    if context.existing_keys:
        owned = ", ".join(
            f"{key} → {' / '.join(filter(None, (owner.staging, owner.mart)))}"
            for key, owner in sorted(context.existing_keys.items())
        )
        console.print(
            f"Keys owned by built models (new tables are tested against them): {data(owned)}", highlight=False
        )
    for finding in context.stale_docs:
        console.print(f"[yellow]{data(finding)}[/yellow]", highlight=False)
    relevant = context.relevant
    if relevant is None:
        return
    table = Table(title=f"Relevant existing models ({relevant.tokens_used:,} of {relevant.budget:,} tokens)")
    for column in ("model", "why", "grain", "columns"):
        table.add_column(column)
    for entry in relevant.entries:
        table.add_row(
            data(entry.name),
            data(entry.why),
            data(" + ".join(entry.grain)),
            data(", ".join(_column_text(c) for c in entry.columns)),
        )
    console.print(table)
    left_out = ", ".join(f"{reason}: {count:,}" for reason, count in relevant.left_out.items() if count)
    if left_out:
        console.print(f"[dim]left out: {left_out}[/dim]")
    if relevant.over_budget_by:
        console.print(
            f"[yellow]over budget by {relevant.over_budget_by:,} tokens[/yellow] (key-sharing models are never dropped)"
        )


def _column_text(column: ExistingColumn) -> str:
    """`amount decimal = amount / 100`: a real column, its type, and its transform when it has one."""
    typed = f"{column.name} {column.data_type}" if column.data_type else column.name
    return f"{typed} = {column.expression}" if column.expression else typed


def show_plan(console: Console, plan: ExecutionPlan) -> None:
    """The plan's actions as a table."""
    title = f"Execution plan ({data(plan.strategy)}, {data(plan.planner)} planner)"
    table = Table(title=title, show_edge=False)
    for column in ("step", "type", "name", "file", "depends on"):
        table.add_column(column)
    for action in plan.actions:
        table.add_row(
            *(data(cell) for cell in (action.step_id, action.type, action.name, action.file_path)),
            data(", ".join(action.dependencies)),
        )
    console.print(table)
    described = [a.semantic_model for a in plan.actions if a.semantic_model is not None]
    if described:
        metrics = sum(len(m.metrics) for m in described)
        console.print(f"semantic models {len(described)}, metrics {metrics}", highlight=False)
    for reason in plan.skipped:
        console.print(f"[yellow]skipped[/yellow] {data(reason)}", highlight=False)


def show_init(console: Console, report: InitReport) -> None:
    """What `cartridge init` did to the vendored copy and the packages file, and what to do next."""
    lines = []
    copy = report.vendored
    if copy is not None and copy.status == "created":
        lines.append(f"Copied the cartridge package {copy.version} into {copy.path}.")
    elif copy is not None and copy.status == "refreshed":
        if copy.previous_version != copy.version:
            lines.append(f"Refreshed {copy.path} from cartridge {copy.previous_version} to {copy.version}.")
        else:
            lines.append(f"Refreshed {copy.path} to this cartridge {copy.version} (its files differed).")
    elif copy is not None:
        lines.append(f"{copy.path} already holds cartridge {copy.version}; nothing to copy.")
    entry = ", ".join(f"{key}: {value}" for key, value in report.entry.items())
    listed = "now lists" if report.listed else "already lists"
    lines.append(f"{report.packages_file.name} {listed} cartridge as {entry}.")
    if copy is not None and copy.status != "current":
        lines.append(
            f"Commit {copy.path} with {report.packages_file.name}: teammates and CI get the package from git."
        )
    if not report.deps_ran:
        lines.append("dbt deps was not run; run it to install the package.")
    lines.append('Try: dbt --quiet run-operation cartridge.gather --args "{schemas: [raw]}" > facts.json')
    for line in lines:
        console.print(shown(line, limit=None), markup=False, highlight=False, soft_wrap=True)


def show_usage(console: Console, ledger: UsageLedger) -> None:
    """LLM calls, re-asks, tokens and cost per phase and in total; a cost litellm cannot price is "unknown"."""
    if not ledger.phases:
        return
    table = Table(title="LLM usage", show_edge=False)
    table.add_column("phase")
    for column in ("calls", "cached", "re-asks", "input tokens", "output tokens", "cost (USD)"):
        table.add_column(column, justify="right")
    from typing import get_args

    from cartridge_bridge.planning.llm.chat import Phase

    order = list(get_args(Phase))  # the pipeline's order: plan, staging, …, repair
    phases = sorted(
        ledger.phases.items(),
        key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0]),
    )
    for name, usage in phases:
        table.add_row(
            data(name),
            str(usage.calls),
            str(usage.cached_calls),
            str(usage.reasks),
            f"{usage.input_tokens:,}",
            f"{usage.output_tokens:,}",
            _cost(usage.cost),
        )
    table.add_section()
    table.add_row(
        "total",
        str(sum(u.calls for _, u in phases)),
        str(sum(u.cached_calls for _, u in phases)),
        str(sum(u.reasks for _, u in phases)),
        f"{sum(u.input_tokens for _, u in phases):,}",
        f"{sum(u.output_tokens for _, u in phases):,}",
        _cost(ledger.total_cost()),
    )
    console.print(table)


def _cost(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


def show_undo(console: Console, report: UndoReport, kept: bool) -> None:
    """What undo restored, and what it dropped from or left in the warehouse."""
    journal = report.journal
    console.print(
        f"Run {data(journal.run_id)} undone: {len(journal.files)} files restored or removed.", highlight=False
    )
    if report.dropped:
        names = data(", ".join(r.label for r in report.dropped))
        console.print(f"Dropped what its build created: {names}.", highlight=False)
    if report.remaining:
        names = data(", ".join(r.label for r in report.remaining))
        why = "as asked (--keep-relations)" if kept else "could not drop them; drop them by hand"
        console.print(f"Still in the warehouse, {why}: {names}.", highlight=False)


# In a patch only what drives a terminal is escaped (C0 and C1 controls but tab and line ends, and the
# bidi controls): other characters are the files' own bytes, which the patch must keep to apply.
_PATCH_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\r(?!\n)"
)


def patch_text(diff: str) -> str:
    """A diff for a terminal or a pipe: what could drive a terminal escaped, every other byte as it is."""
    return _PATCH_UNSAFE.sub(lambda found: shown(found.group(), limit=None), diff)
