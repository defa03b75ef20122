"""The Python API: each function is one command's work, returning values and never printing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cartridge_bridge import planners
from cartridge_bridge.config import load_config
from cartridge_bridge.context.gathering import OpenProject as OpenProject
from cartridge_bridge.context.gathering import gather_facts as gather_facts
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.dbt.package_install import (
    PACKAGE_NAME,
    InitOptions,
    InitReport,
    RestorableWrites,
    install_entry,
    install_settings,
    plan_vendored_copy,
)
from cartridge_bridge.dbt.packages_file import LOCK_FILE, packages_file, packages_yml_with_cartridge
from cartridge_bridge.dbt.runner import BuildSummary, DbtProject, nests_test_arguments_by_default
from cartridge_bridge.errors import PlannerPlanError, ProjectError, UsageError
from cartridge_bridge.files.atomic_files import read_exact, write_atomic
from cartridge_bridge.gather.facts import WarehouseFacts
from cartridge_bridge.gather.manifest import read_manifest
from cartridge_bridge.options import ProjectOptions as ProjectOptions
from cartridge_bridge.planners import PlannerChoice as PlannerChoice
from cartridge_bridge.planners import llm_settings as llm_settings
from cartridge_bridge.planners import make_chat_model as make_chat_model
from cartridge_bridge.planners import make_llm_planner as make_llm_planner
from cartridge_bridge.planners import make_llm_repairer as make_llm_repairer
from cartridge_bridge.planning.carried_transforms import transform_findings
from cartridge_bridge.planning.checks import plan_problems, validate_plan
from cartridge_bridge.planning.in_place import InPlaceEdits, extend_in_place, in_place_files
from cartridge_bridge.planning.llm.chat import UsageLedger
from cartridge_bridge.planning.placement import place
from cartridge_bridge.planning.plan import ExecutionPlan, SourceSpec
from cartridge_bridge.planning.plan import undescribed_columns as undescribed_columns
from cartridge_bridge.planning.planner import Planner
from cartridge_bridge.planning.problems import plan_error
from cartridge_bridge.planning.rules.planner import RulesPlanner
from cartridge_bridge.planning.rules.source_freshness import FreshnessCoverage, freshness_coverage
from cartridge_bridge.progress import Progress
from cartridge_bridge.render.plan_files import render_plan
from cartridge_bridge.review.page import REVIEW_NAME, ReviewInput, review_page
from cartridge_bridge.sql.identifiers import dbt_quoting_problem
from cartridge_bridge.stage_clock import Stage, StageClock
from cartridge_bridge.undo_api import UndoReport as UndoReport
from cartridge_bridge.undo_api import undo_run as undo_run
from cartridge_bridge.verify.llm_repairer import LLMRepairer
from cartridge_bridge.verify.loop import prove_with_repairs
from cartridge_bridge.verify.magnitudes import check_magnitudes
from cartridge_bridge.verify.prove import DbtProver
from cartridge_bridge.verify.relations import MACRO as RELATIONS_MACRO
from cartridge_bridge.verify.relations import WarehouseRelations
from cartridge_bridge.verify.repair import RelaxFailingTests, Repairer
from cartridge_bridge.write.journal import Journal
from cartridge_bridge.write.plan_writer import PlanWriter, already_written
from cartridge_bridge.write.run_guard import exclusive_run
from cartridge_bridge.write.run_report import save_in_run, save_run_report
from cartridge_bridge.write.workspace import FileChange, stage_changes, unified_diff


@dataclass
class ApplyReport:
    """What an apply did: the plan, each file's change, the journal and the dbt build."""

    plan: ExecutionPlan
    changes: list[FileChange]
    journal: Journal | None
    build: BuildSummary | None
    diff: str
    seconds: float  # the command's wall time: from the start of generate (planning included) or apply
    relaxed_tests: list[str] = field(default_factory=list)  # every repair made: relaxed tests, LLM fixes
    # Each failing data test the LLM repairer handled: fixed or accepted by the model (its reason), or relaxed
    # without it (and why).
    model_verdicts: list[str] = field(default_factory=list)
    usage: UsageLedger | None = None  # LLM calls, tokens and cost (None on the rules path)
    # Columns the existing models' YAML documents and the models do not have (ProjectContext.stale_docs).
    stale_docs: list[str] = field(default_factory=list)
    # New staged columns not converted like the project's columns of their name (`amount / 100`): the summary's
    # first lines (carried_transforms.transform_findings).
    unit_findings: list[str] = field(default_factory=list)
    report_file: Path | None = None  # the long lists whole; None: a dry run, or not written
    review: str | None = None  # the review page (Markdown): the run's, or a dry run's of the plan
    review_file: Path | None = None  # the run's review.md; None: a dry run, or not written
    stages: dict[Stage, float] = field(default_factory=dict)  # seconds per stage that ran (see StageClock)
    freshness: FreshnessCoverage | None = (
        None  # the new source tables that check freshness, and those that cannot
    )

    @property
    def nothing_changed(self) -> bool:
        """True when every planned file already had exactly this content."""
        return not any(c.writes for c in self.changes)

    @property
    def undescribed(self) -> list[str]:
        """`model.column` for every planned model column left without a description, for the user to write."""
        return undescribed_columns(self.plan)

    def lists(self) -> dict[str, list[str]]:
        """The report's long lists by title: what the run's report file holds whole."""
        return {
            "new columns not converted like the project's (check their unit)": self.unit_findings,
            "tests relaxed or repaired": self.relaxed_tests,
            "failing data tests the model fixed or accepted": self.model_verdicts,
            "columns left undescribed (describe them in the properties files)": self.undescribed,
            "stale documentation in the existing models (documented columns the models do not have)": (
                self.stale_docs
            ),
        }


def _project_dir(options: ProjectOptions) -> Path:
    project_dir = options.project_dir.resolve()
    if not (project_dir / "dbt_project.yml").is_file():
        raise ProjectError(f"{project_dir} is not a dbt project (no dbt_project.yml); pass --project-dir")
    return project_dir


def open_project(options: ProjectOptions, progress: Progress, clock: StageClock | None = None) -> OpenProject:
    """Read cartridge.yml and parse the project with dbt."""
    project_dir = _project_dir(options)
    config = load_config(project_dir)
    dbt = DbtProject(project_dir, options.profiles_dir, options.target)
    progress.step("dbt parse")
    with (clock or StageClock()).stage("parse"):
        dbt.parse()
    return OpenProject(dbt=dbt, config=config, manifest=read_manifest(dbt.manifest_path))


@exclusive_run()
def load_context(
    options: ProjectOptions, progress: Progress, clock: StageClock | None = None
) -> tuple[OpenProject, ProjectContext]:
    """Parse the project, gather the raw schemas' facts and build the ProjectContext."""
    clock = clock or StageClock()
    config = load_config(_project_dir(options))
    schemas = options.schemas or config.schemas
    if not schemas:
        raise UsageError(
            "name the raw schemas to model with --schema, or list them under `schemas:` in cartridge.yml"
        )
    project = open_project(options, progress, clock)
    progress.step(f"gather {', '.join(schemas)}")
    profile = config.profile if options.profile is None else options.profile
    with clock.stage("gather"):
        facts = gather_facts(
            project,
            schemas,
            options.select or config.select,
            options.exclude or config.exclude,
            profile,
            progress,
        )
    progress.step(f"build the context of {len(facts.relations)} raw relations")
    with clock.stage("context"):
        context = build_context(
            project.dbt.project_dir,
            project.manifest,
            facts,
            config.conventions,
            options.source_name or config.source_name,
            nests_test_arguments_by_default(),
            config.convention_confidence,
            config.context_budget_tokens,
            config.semantic_models if options.semantic_models is None else options.semantic_models,
        )
        context.incremental_min_rows = config.incremental_min_rows
    return project, context


def make_plan(
    context: ProjectContext,
    planner: Planner | None = None,
    progress: Progress | None = None,
    clock: StageClock | None = None,
    in_place: InPlaceEdits | None = None,
) -> ExecutionPlan:
    """Draft with the planner (the rules planner by default), place the drafts and validate the plan; with
    `in_place`, new measures at an existing mart's grain become edits of that mart where it can be wrapped."""
    planner = planner or RulesPlanner()
    if progress is not None:
        progress.step(f"plan with {planner.name}")
    with (clock or StageClock()).stage("plan"):
        plan = place(planner.draft(context), context, planner.name)
        if in_place is not None:
            plan = extend_in_place(plan, context, in_place)
        # Every planner's drafts are placed and checked here, once (no planner checks its own whole plan).
        problems = plan_problems(plan, context)
        if problems:
            error = plan_error(problems, f"the {planner.name} planner's plan")
            raise PlannerPlanError(f"{error}; nothing was written", problems)
    return plan


def in_place_of(options: ProjectOptions, project: OpenProject) -> InPlaceEdits | None:
    """What extending existing marts in place reads, when it is on (the flag over cartridge.yml); else None."""
    on = project.config.modify_existing if options.modify_existing is None else options.modify_existing
    return InPlaceEdits(project.dbt.project_dir, project.manifest) if on else None


def in_place_diff(plan: ExecutionPlan, project_dir: Path) -> str:
    """The unified diff of the plan's in-place edits (each existing mart's SQL and properties file); "" if none."""
    edited = in_place_files(plan)
    if not edited:
        return ""
    changes = stage_changes(project_dir.resolve(), render_plan(plan), "skip")
    return unified_diff([c for c in changes if c.path in edited])


def write_plan(plan: ExecutionPlan, path: Path) -> None:
    """Save a plan as indented JSON for review."""
    write_atomic(path, plan.model_dump_json(indent=2) + "\n")


def plan_facts(project: OpenProject, plan: ExecutionPlan, progress: Progress) -> WarehouseFacts | None:
    """The warehouse facts of the plan's source schemas (unprofiled), so a plan cannot name what is not there.

    A schema dbt could not quote safely is not gathered: the plan checks refuse it by name.
    """
    sources = [a.spec for a in plan.actions if isinstance(a.spec, SourceSpec)]
    adapter = project.manifest.metadata.adapter_type or plan.adapter_type
    schemas = sorted(
        {s.schema_name for s in sources if s.schema_name and not dbt_quoting_problem(s.schema_name, adapter)}
    )
    if not schemas:
        return None
    progress.step(f"gather {', '.join(schemas)} (the plan's raw schemas)")
    return gather_facts(project, schemas, [], [])


@exclusive_run()
def apply_plan(
    plan: ExecutionPlan,
    options: ProjectOptions,
    progress: Progress,
    project: OpenProject | None = None,
    context: ProjectContext | None = None,
    confirm: Callable[[list[str]], bool] | None = None,
    repairer: Repairer | None = None,
    plan_label: str = "the plan file",
    clock: StageClock | None = None,
) -> ApplyReport:
    """Validate, render, write and prove a plan with dbt, repairing with `repairer`; a failure restores the project.

    `plan_label` names the plan in errors (the CLI passes `plan file <path>`); `clock` is the command's, when
    it started before this apply (generate's), so the report's time is the whole command's.
    """
    clock = clock or StageClock()
    if project is None or context is None:
        project = open_project(options, progress, clock)
        written = already_written(project.dbt.project_dir, plan)  # applying it again is a no-op that says so
        with clock.stage("gather"):
            facts = None if written else plan_facts(project, plan, progress)
        with clock.stage("context"):
            context = build_context(
                project.dbt.project_dir, project.manifest, facts, project.config.conventions,
                nested_test_arguments_default=nests_test_arguments_by_default(),
                min_confidence=project.config.convention_confidence,
            )  # fmt: skip
        if not written:
            with clock.stage("plan"):
                validate_plan(plan, context, plan_label)
    policy = options.on_conflict or project.config.on_conflict
    build = project.config.build if options.build is None else options.build
    rounds = project.config.repair_rounds if options.repair_rounds is None else options.repair_rounds
    tracks_relations = project.manifest.has_macro(PACKAGE_NAME, RELATIONS_MACRO)
    warehouse = WarehouseRelations(project.dbt) if tracks_relations else None
    writer = PlanWriter(project.dbt.project_dir, policy, progress, options.dry_run, confirm, warehouse)
    prover = DbtProver(project.dbt, build, progress, writer.before_build, clock)
    prover.check = lambda built: check_magnitudes(project.dbt, built, context, progress)
    verified = prove_with_repairs(
        plan, writer, prover, repairer or RelaxFailingTests(), progress, rounds, clock
    )
    report = ApplyReport(
        plan=verified.plan,
        changes=writer.changes,
        journal=writer.journal if verified.written else None,
        build=verified.build,
        diff=unified_diff(writer.changes),
        seconds=0.0,
        relaxed_tests=verified.repairs,
        model_verdicts=verified.model_verdicts,
        freshness=freshness_coverage(verified.plan, context),
        stale_docs=context.stale_docs,
        unit_findings=transform_findings(verified.plan, context.existing),
    )
    if report.journal is not None:
        run_id = report.journal.run_id
        report.report_file = save_run_report(project.dbt.project_dir, run_id, report.lists())
        review = ReviewInput(report.plan, report.changes, run_id, report.build, report.model_verdicts)
        report.review = review_page(review)
        report.review_file = save_in_run(project.dbt.project_dir, run_id, REVIEW_NAME, report.review)
    elif options.dry_run and not report.nothing_changed:
        report.review = review_page(ReviewInput(report.plan, report.changes, run_id=None))
    report.seconds, report.stages = clock.total(), clock.stages()
    return report


def check_planner(options: ProjectOptions) -> str:
    """The name of the planner a run will use (flags over cartridge.yml), refused before any work when unknown."""
    project_dir = _project_dir(options)
    return planners.planner_name(options, load_config(project_dir))


def choose_planner(options: ProjectOptions, project: OpenProject, progress: Progress) -> PlannerChoice:
    """The planner and repairer the registry makes for --planner, --model or cartridge.yml (see planners)."""
    return planners.choose_planner(options, project.config, project.dbt.project_dir, progress)


@exclusive_run()
def generate(
    options: ProjectOptions,
    progress: Progress,
    confirm: Callable[[list[str]], bool] | None = None,
    planner: Planner | None = None,
    repairer: Repairer | None = None,
    clock: StageClock | None = None,
) -> ApplyReport:
    """Plan and apply in one step, with the planner `choose_planner` picks unless one is given.

    The report's time runs from `clock`'s start (the command's, when the CLI passes it) or this call's.
    """
    clock = clock or StageClock()
    if planner is None:
        check_planner(options)  # an unknown --planner is refused before the parse and the gather
    project, context = load_context(options, progress, clock)
    with clock.stage("plan"):  # choosing an LLM planner imports litellm: planning's cost, not the user's
        choice = choose_planner(options, project, progress) if planner is None else None
    plan = make_plan(
        context,
        planner or (choice.planner if choice else None),
        progress,
        clock,
        in_place_of(options, project),
    )
    repairer = repairer or (choice.repairer if choice else None)
    if isinstance(repairer, LLMRepairer) and repairer.context is None:
        # Made before the gather: the profile is what its failing tests' counts are read from.
        repairer.context = context
    report = apply_plan(plan, options, progress, project, context, confirm, repairer, clock=clock)
    report.usage = choice.usage if choice else None
    return report


@exclusive_run()
def init_project(project_dir: Path, progress: Progress, options: InitOptions | None = None) -> InitReport:
    """Install the cartridge package: a vendored copy or a git revision, listed in packages.yml, then dbt deps."""
    project_dir = _project_dir(ProjectOptions(project_dir=project_dir))
    options = options or InitOptions()
    install = install_settings(load_config(project_dir).package_install, options)
    vendored = plan_vendored_copy(project_dir, install.path) if install.mode == "vendored" else None
    target = packages_file(project_dir)
    existing = read_exact(target) if target.is_file() else None
    entry = install_entry(install)
    updated = packages_yml_with_cartridge(existing, entry, project_dir, target.name)
    changes: dict[Path, str | None] = dict(vendored.writes) if vendored else {}
    if updated != existing:
        changes[target] = updated
    deps = options.deps
    if deps is None:
        deps = bool(changes) or not (project_dir / "dbt_packages" / PACKAGE_NAME).exists()
    files = RestorableWrites(project_dir, [*changes, project_dir / LOCK_FILE])
    try:
        files.write(changes)
        if deps:
            progress.step("dbt deps (installs the cartridge package)")
            DbtProject(project_dir).deps()
    except BaseException:
        files.restore()  # a failure leaves the project as it was
        raise
    return InitReport(entry, target, updated != existing, vendored, deps)
