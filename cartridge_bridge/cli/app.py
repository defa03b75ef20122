"""The `cartridge` command: parse flags, call one API function, render its result."""

from __future__ import annotations

import functools
import gc
import importlib
import inspect
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cartridge_bridge import __version__
from cartridge_bridge.config import LLM_CONCURRENCY, LLM_MAX_RETRIES, LLM_REPAIR_ROUNDS, RULES_REPAIR_ROUNDS
from cartridge_bridge.errors import CartridgeError, shown

if TYPE_CHECKING:
    from cartridge_bridge.api import ApplyReport, ProjectOptions
    from cartridge_bridge.stage_clock import StageClock

app = typer.Typer(
    name="cartridge",
    help="Plan, write and prove the dbt models for new raw warehouse tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: flags without a type, options with their metavar
)


def _console(stderr: bool = False) -> Console:
    """A console that, off a terminal (a pipe, a log), never wraps or cuts lines and writes no colour codes."""
    if (sys.stderr if stderr else sys.stdout).isatty():
        return Console(stderr=stderr, soft_wrap=stderr)  # one-line errors stay one line
    return Console(stderr=stderr, soft_wrap=True, width=100_000, color_system=None)


def _click_errors() -> Any:
    """The click exceptions typer raises: from its own copy of click (typer ≥0.2x), else from click."""
    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:
        return importlib.import_module("click.exceptions")


click_errors = _click_errors()
out = _console()
err = _console(stderr=True)


class Conflict(str, Enum):
    """What to do when a file the plan writes already exists with other content."""

    fail = "fail"
    skip = "skip"
    overwrite = "overwrite"


class PlanFormat(str, Enum):
    """How `cartridge plan` prints the plan."""

    table = "table"
    json = "json"
    mermaid = "mermaid"


class Fallback(str, Enum):
    """What to do with models the LLM could not produce."""

    none = "none"
    rules = "rules"


class StructuredOutputMode(str, Enum):
    """How the answer's JSON schema goes to the model."""

    auto = "auto"
    json_schema = "json_schema"
    json_object = "json_object"
    none = "none"


class StepPrinter:
    """Progress shown as dim lines on stderr."""

    def step(self, message: str) -> None:
        """Print the step that starts now."""
        err.print(f"[dim]→ {escape(shown(message, limit=None))}[/dim]", highlight=False)


ProjectDir = Annotated[
    Path, typer.Option("--project-dir", metavar="DIR", help="The dbt project (default: current directory).")
]
ProfilesDir = Annotated[
    Path | None, typer.Option("--profiles-dir", metavar="DIR", help="Where profiles.yml is, as for dbt.")
]
Target = Annotated[
    str | None, typer.Option("--target", metavar="TARGET", help="The profile target, as for dbt.")
]
Schemas = Annotated[
    list[str] | None,
    typer.Option("--schema", metavar="RAW_SCHEMA", help="A raw schema to model (repeatable)."),
]
Select = Annotated[
    list[str] | None, typer.Option("--select", metavar="GLOB", help="Only raw tables matching this glob.")
]
Exclude = Annotated[
    list[str] | None,
    typer.Option("--exclude", metavar="GLOB", help="Leave out raw tables matching this glob."),
]
SourceName = Annotated[
    str | None,
    typer.Option(
        "--source-name",
        metavar="NAME",
        help="The dbt source name for the schema (default: the schema in snake_case without a raw_, src_ or source_ prefix).",
    ),
]
SemanticModels = Annotated[
    bool | None,
    typer.Option(
        "--semantic-models/--no-semantic-models",
        help="Write semantic models and metrics for the marts, and a time spine when the project has none.",
    ),
]
ModifyExisting = Annotated[
    bool | None,
    typer.Option(
        "--modify-existing/--no-modify-existing",
        help="Add new measures at an existing mart's grain to that mart itself (shown as a diff, undone by "
        "`cartridge undo`) instead of a narrow model of their own.",
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show the diff and write nothing.")]
Build = Annotated[bool | None, typer.Option("--build/--no-build", help="Prove the result with dbt build.")]
OnConflict = Annotated[Conflict | None, typer.Option("--on-conflict", help="fail, skip or overwrite.")]
Yes = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")]
PlannerOption = Annotated[
    str | None,
    typer.Option(
        "--planner",
        metavar="NAME",
        help="Who plans: rules or llm, or a registered planner (default: planner: in cartridge.yml; "
        "llm when a model is chosen, else rules).",
    ),
]
Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        envvar="CARTRIDGE_MODEL",
        help="A litellm model string, e.g. openai/gpt-4.1 or ollama/qwen2.5-coder (default: model: in "
        "cartridge.yml; none → the rules planner).",
    ),
]
ApiBase = Annotated[
    str | None,
    typer.Option("--api-base", help="Where the model is served, e.g. http://localhost:11434 for Ollama."),
]
ShareSamples = Annotated[
    bool,
    typer.Option("--share-samples", help="Let sample values and profile statistics go into the prompts."),
]
Concurrency = Annotated[
    int | None,
    typer.Option(
        "--concurrency", min=1, max=64, help=f"LLM calls in flight at once (default {LLM_CONCURRENCY})."
    ),
]
MaxRetries = Annotated[
    int | None,
    typer.Option(
        "--max-retries",
        min=0,
        max=10,
        help=f"Re-asks after an answer that fails validation (default {LLM_MAX_RETRIES}).",
    ),
]
RepairRounds = Annotated[
    int | None,
    typer.Option(
        "--repair-rounds",
        min=0,
        max=10,
        help=(
            "Failed builds repaired and built again "
            f"(default {LLM_REPAIR_ROUNDS} with a model, {RULES_REPAIR_ROUNDS} with the rules)."
        ),
    ),
]
MaxCost = Annotated[
    float | None,
    typer.Option(
        "--max-cost", min=0.0, help="Stop before an LLM call would take the run past this many USD."
    ),
]
NoCache = Annotated[
    bool,
    typer.Option("--no-cache", help="Neither read nor write the LLM answer cache (.cartridge/llm-cache)."),
]
FallbackOption = Annotated[
    Fallback | None,
    typer.Option("--fallback", help="none, or rules: the rules planner's model where the LLM's failed."),
]
StructuredOutputOption = Annotated[
    StructuredOutputMode | None,
    typer.Option(
        "--llm-structured-output",
        help="How the answer's JSON schema goes to the model: auto (default), json_schema (response_format), "
        "json_object (response_format json_object, schema in the prompt) or none (schema in the prompt).",
    ),
]


def _options(
    project_dir: Path,
    profiles_dir: Path | None,
    target: str | None,
    schemas: list[str] | None = None,
    select: list[str] | None = None,
    exclude: list[str] | None = None,
    source_name: str | None = None,
    on_conflict: Conflict | None = None,
    dry_run: bool = False,
    build: bool | None = None,
) -> ProjectOptions:
    from cartridge_bridge.api import ProjectOptions

    return ProjectOptions(
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=target,
        schemas=list(schemas or []),
        select=list(select or []),
        exclude=list(exclude or []),
        source_name=source_name,
        on_conflict=on_conflict.value if on_conflict else None,
        dry_run=dry_run,
        build=build,
    )


@dataclass
class PlannerFlags:
    """The flags `plan` and `generate` share: who plans, how the LLM planner runs, what the marts get."""

    planner: str | None
    model: str | None
    api_base: str | None
    share_samples: bool
    concurrency: int | None
    max_retries: int | None
    max_cost: float | None
    no_cache: bool
    fallback: Fallback | None
    structured_output: StructuredOutputMode | None
    semantic_models: bool | None
    modify_existing: bool | None

    def apply_to(self, options: ProjectOptions, repair_rounds: int | None = None) -> ProjectOptions:
        """The options with these flags; an absent flag (None) leaves the setting to cartridge.yml."""
        return replace(
            options,
            planner=self.planner or None,
            model=self.model or None,
            api_base=self.api_base,
            share_samples=True if self.share_samples else None,
            concurrency=self.concurrency,
            max_retries=self.max_retries,
            max_cost=self.max_cost,
            cache=False if self.no_cache else None,
            fallback=self.fallback.value if self.fallback else None,
            repair_rounds=repair_rounds,
            structured_output=self.structured_output.value if self.structured_output else None,
            semantic_models=self.semantic_models,
            modify_existing=self.modify_existing,
        )


# Each shared flag: its parameter's type (with its typer.Option) and default, in the order --help lists them.
_PLANNER_FLAGS: dict[str, tuple[Any, Any]] = {
    "planner": (PlannerOption, None),
    "model": (Model, None),
    "api_base": (ApiBase, None),
    "share_samples": (ShareSamples, False),
    "concurrency": (Concurrency, None),
    "max_retries": (MaxRetries, None),
    "max_cost": (MaxCost, None),
    "no_cache": (NoCache, False),
    "fallback": (FallbackOption, None),
    "structured_output": (StructuredOutputOption, None),
    "semantic_models": (SemanticModels, None),
    "modify_existing": (ModifyExisting, None),
}


def with_planner_flags(command: Callable[..., None]) -> Callable[..., None]:
    """The command with the shared planner flags added to its options, handed to it as one `flags: PlannerFlags`
    (typer reads a command's flags from its signature: the one list is written here once)."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "flags"]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in _PLANNER_FLAGS.items()
    ]

    @functools.wraps(command)
    def run(**values: Any) -> None:
        flags = PlannerFlags(**{name: values.pop(name) for name in _PLANNER_FLAGS})
        command(**values, flags=flags)

    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
    run.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in [*own, *shared]} | {"return": None}
    return run


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo project and its database live.")
    ] = Path("cartridge-demo"),
    stop: Annotated[bool, typer.Option("--stop", help="Stop the demo's PostgreSQL server and exit.")] = False,
    planner: PlannerOption = None,
    model: Model = None,
    api_base: ApiBase = None,
) -> None:
    """Embedded PostgreSQL + a sample shop + a new dbt project, generated and built end to end."""
    from cartridge_bridge.demo.run import run_demo, stop_demo

    if stop:
        stopped = stop_demo(directory)
        out.print("PostgreSQL stopped." if stopped else "No demo PostgreSQL was running there.")
        return
    report = run_demo(
        directory, StepPrinter(), model=model or None, api_base=api_base, planner=planner or None
    )
    from cartridge_bridge.cli.views import show_demo

    show_demo(out, report)
    # A failed generate raises (and restores the project); the plain rebuild and `dbt source freshness` (an error
    # or a table it could not check; a warning passes, as in dbt) report failure here.
    if (report.rebuild is not None and not report.rebuild.success) or not report.freshness.success:
        raise typer.Exit(1)


@app.command()
def init(
    project_dir: ProjectDir = Path("."),
    vendor_dir: Annotated[
        str | None,
        typer.Option(
            "--vendor-dir",
            help="Copy the package into this folder, relative to the project (default vendor/cartridge), "
            "and list it with a relative local: path.",
        ),
    ] = None,
    git: Annotated[
        str | None, typer.Option("--git", help="List the package from this git repository instead of a copy.")
    ] = None,
    revision: Annotated[
        str | None, typer.Option("--revision", help="With --git: the tag or commit dbt checks out.")
    ] = None,
    subdirectory: Annotated[
        str | None, typer.Option("--subdirectory", help="With --git: the package's folder in the repository.")
    ] = None,
    deps: Annotated[bool, typer.Option("--deps/--no-deps", help="Run dbt deps afterwards.")] = True,
) -> None:
    """Add the cartridge dbt package to the project (a vendored copy, or a git revision) and run dbt deps."""
    from cartridge_bridge.api import init_project
    from cartridge_bridge.cli.views import show_init
    from cartridge_bridge.dbt.package_install import InitOptions

    options = InitOptions(vendor_dir, git, revision, subdirectory, deps)
    show_init(out, init_project(project_dir, StepPrinter(), options))


@app.command()
def context(
    project_dir: ProjectDir = Path("."),
    profiles_dir: ProfilesDir = None,
    target: Target = None,
    schema: Schemas = None,
    select: Select = None,
    exclude: Exclude = None,
    source_name: SourceName = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole context document as JSON.")
    ] = False,
) -> None:
    """What cartridge sees: raw tables, existing models, conventions, greenfield or brownfield."""
    from cartridge_bridge.api import load_context
    from cartridge_bridge.cli.views import show_context

    _, project_context = load_context(
        _options(project_dir, profiles_dir, target, schema, select, exclude, source_name), StepPrinter()
    )
    if as_json:
        sys.stdout.write(project_context.model_dump_json(indent=2, by_alias=True) + "\n")
    else:
        show_context(out, project_context)


@app.command()
@with_planner_flags
def plan(
    project_dir: ProjectDir = Path("."),
    profiles_dir: ProfilesDir = None,
    target: Target = None,
    schema: Schemas = None,
    select: Select = None,
    exclude: Exclude = None,
    source_name: SourceName = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the plan JSON here.")] = None,
    output_format: Annotated[
        PlanFormat, typer.Option("--format", help="table, json or mermaid.")
    ] = PlanFormat.table,
    *,
    flags: PlannerFlags,
) -> None:
    """Make an execution plan and show it; `--out` saves it for `cartridge apply`."""
    from cartridge_bridge.api import (
        check_planner,
        choose_planner,
        in_place_diff,
        in_place_of,
        load_context,
        make_plan,
        write_plan,
    )
    from cartridge_bridge.cli.views import show_plan, show_usage
    from cartridge_bridge.review.lineage import mermaid_lineage

    options = flags.apply_to(
        _options(project_dir, profiles_dir, target, schema, select, exclude, source_name)
    )
    check_planner(options)  # an unknown --planner is refused before the parse and the gather
    project, project_context = load_context(options, StepPrinter())
    choice = choose_planner(options, project, StepPrinter())
    execution_plan = make_plan(
        project_context, choice.planner, StepPrinter(), in_place=in_place_of(options, project)
    )
    if choice.usage is not None:
        show_usage(err, choice.usage)  # stderr: stdout may be the plan itself
    if out_file:
        write_plan(execution_plan, out_file)
        err.print(f"[dim]plan written to {escape(shown(str(out_file)))}[/dim]", highlight=False)
    if output_format is PlanFormat.json:
        sys.stdout.write(execution_plan.model_dump_json(indent=2) + "\n")
    elif output_format is PlanFormat.mermaid:
        sys.stdout.write(mermaid_lineage(execution_plan))
    else:
        show_plan(out, execution_plan)
        diff = in_place_diff(execution_plan, project.dbt.project_dir)
        if diff:
            out.print("The existing marts' files, as the plan changes them:", highlight=False)
            out.out(diff, highlight=False, end="")


@app.command()
def apply(
    plan_file: Annotated[Path, typer.Argument(help="A plan written by `cartridge plan --out`.")],
    project_dir: ProjectDir = Path("."),
    profiles_dir: ProfilesDir = None,
    target: Target = None,
    on_conflict: OnConflict = None,
    dry_run: DryRun = False,
    build: Build = None,
    yes: Yes = False,
) -> None:
    """Write a reviewed plan into the project and prove it with dbt."""
    from cartridge_bridge.api import apply_plan
    from cartridge_bridge.planning.plan_file import read_plan_file

    execution_plan = read_plan_file(plan_file)
    options = _options(
        project_dir, profiles_dir, target, on_conflict=on_conflict, dry_run=dry_run, build=build
    )
    _finish(
        apply_plan(
            execution_plan,
            options,
            StepPrinter(),
            confirm=_confirmer(yes),
            plan_label=f"plan file {plan_file}",
            clock=_command_clock(),
        )
    )


@app.command()
@with_planner_flags
def generate(
    project_dir: ProjectDir = Path("."),
    profiles_dir: ProfilesDir = None,
    target: Target = None,
    schema: Schemas = None,
    select: Select = None,
    exclude: Exclude = None,
    source_name: SourceName = None,
    on_conflict: OnConflict = None,
    dry_run: DryRun = False,
    build: Build = None,
    yes: Yes = False,
    repair_rounds: RepairRounds = None,
    *,
    flags: PlannerFlags,
) -> None:
    """Plan and apply in one step."""
    from cartridge_bridge.api import generate as generate_models

    options = flags.apply_to(
        _options(
            project_dir,
            profiles_dir,
            target,
            schema,
            select,
            exclude,
            source_name,
            on_conflict,
            dry_run,
            build,
        ),
        repair_rounds,
    )
    _finish(generate_models(options, StepPrinter(), confirm=_confirmer(yes), clock=_command_clock()))


@app.command()
def undo(
    run_id: Annotated[
        str | None, typer.Argument(help="The run to revert (default: an interrupted run, else the latest).")
    ] = None,
    project_dir: ProjectDir = Path("."),
    profiles_dir: ProfilesDir = None,
    target: Target = None,
    keep_relations: Annotated[
        bool,
        typer.Option("--keep-relations", help="Leave the views and tables the run's build created."),
    ] = False,
) -> None:
    """Revert an apply (or an interrupted run) from its journal, and drop the relations its build created."""
    from cartridge_bridge.cli.views import show_undo
    from cartridge_bridge.undo_api import undo_run

    report = undo_run(project_dir, run_id, profiles_dir, target, keep_relations, StepPrinter())
    show_undo(out, report, keep_relations)


def _confirmer(yes: bool) -> Callable[[list[str]], bool]:
    """Ask before overwriting the user's content, unless --yes or nobody is there to answer."""

    def confirm(overwritten: list[str]) -> bool:
        if yes or not sys.stdin.isatty():
            return True
        for item in overwritten:
            err.print(f"  overwrite {shown(item, limit=None)}", markup=False, highlight=False)
        return typer.confirm(f"Overwrite {len(overwritten)} files?", default=False)

    return confirm


def _finish(report: ApplyReport) -> None:
    from cartridge_bridge.cli.views import show_apply, show_usage

    show_apply(out, report)
    if report.usage is not None:
        show_usage(out, report.usage)


def _version(value: bool) -> None:
    if value:
        out.print(f"cartridge {__version__}")
        raise typer.Exit()


# When the running command started: its report's "Done in" counts from there. `main` (the `cartridge` script)
# leaves the process's start for the callback to take; an invocation without it (in-process) starts at the callback.
_started: list[float] = []
_process_start: list[float] = []


def _command_clock() -> StageClock:
    """The command's clock, started when the command started."""
    from cartridge_bridge.stage_clock import StageClock

    return StageClock(started=_started[-1] if _started else None)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Plan, write and prove the dbt models for new raw warehouse tables."""
    _started[:] = [_process_start.pop() if _process_start else time.perf_counter()]


def _interrupt(number: int, _frame: object) -> None:
    """SIGINT and SIGTERM stop the run as Ctrl-C does, so that what it wrote is rolled back."""
    _interrupted.append(signal.Signals(number).name)
    raise KeyboardInterrupt


_interrupted: list[str] = []


def main() -> None:
    """Entry point: user mistakes and failed work become one line and an exit code, never a traceback."""
    from cartridge_bridge.stage_clock import process_started

    _process_start[:] = [process_started() or time.perf_counter()]
    # dbt's parse and build allocate millions of objects that mostly live on: at Python's default threshold a
    # young collection runs every 700 of them, walking them again and again (a fifth of a full parse's CPU on
    # shopify's 107 models). Every 50,000 keeps the garbage between collections to a few megabytes.
    gc.set_threshold(50_000, 10, 10)
    try:
        _run()
    finally:
        # Python's last garbage collection at exit walks every object dbt and litellm made: seconds on a busy
        # machine, after the report said "Done in". The system frees the memory at once; leave it the objects.
        gc.freeze()


def _run() -> None:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # Not standalone: click's own usage errors are a four-line box; they come here to be one line.
        code = app(standalone_mode=False)
    except click_errors.ClickException as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            error.show()  # `cartridge` alone: the help is the answer
        else:
            _error(_usage_line(error))
        sys.exit(error.exit_code)
    except typer.Abort:  # a confirmation answered with Ctrl-C or Ctrl-D
        _error("aborted; nothing was written")
        sys.exit(1)
    except CartridgeError as error:
        _error(str(error))
        sys.exit(error.exit_code)
    except OSError as error:  # a filesystem error outside the write stage (e.g. --out in a read-only folder)
        where = f"{shown(os.fsdecode(error.filename))}: " if error.filename else ""
        _error(where + (error.strerror or str(error)))
        sys.exit(1)
    if code == 130 and _interrupted:
        how = "Ctrl-C" if _interrupted[0] == "SIGINT" else _interrupted[0]
        _error(f"interrupted by {how}; what this run had written was rolled back")
    sys.exit(code if isinstance(code, int) else 0)


# A message line longer than this is cut: a culprit is already cut where it is named, this is the backstop.
_LINE_LIMIT = 1000


def _error(message: str) -> None:
    """`error: <message>` on stderr, its text never read as markup and its control characters escaped."""
    lines = (shown(line, limit=_LINE_LIMIT) for line in message.split("\n"))
    err.print(f"[bold red]error:[/bold red] {escape(chr(10).join(lines))}", highlight=False)


def _usage_line(error: Any) -> str:
    """A click usage error as one line naming the option or argument, with where to read the usage."""
    lines = error.format_message().replace("Value error, ", "").splitlines()  # pydantic's prefix, via typer
    message = "; ".join(line.strip() for line in lines if line.strip())
    context = getattr(error, "ctx", None)
    if isinstance(error, click_errors.UsageError) and context is not None:
        message = f"{message.rstrip('.')} (see `{context.command_path} --help`)"
    return message
