"""The one module that runs dbt: in-process invocations with their events captured through callbacks."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cartridge_bridge.errors import DbtError, ProjectError, UsageError

# dbt keeps global state per invocation; two invocations in one process must never overlap.
_DBT_LOCK = threading.Lock()
# dbt fires this event each time it loads the project (a full, a partial or a skipped parse), never otherwise.
_LOADING_EVENT = "StateCheckVarsHash"


@dataclass
class Invocation:
    """What one dbt invocation returned and said."""

    success: bool
    result: Any = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)

    def error_text(self, limit: int = 12) -> str:
        """dbt's error lines, joined for a one-line message: enough of them to reach the cause."""
        lines = [line.strip() for message in self.errors for line in message.splitlines() if line.strip()]
        return "; ".join(lines[:limit]) or "dbt reported no error message"


@dataclass(frozen=True)
class Ran:
    """One dbt invocation as its project saw it: the command, and whether dbt parsed the project for it."""

    command: str
    parsed: bool


@dataclass(frozen=True)
class NodeResult:
    """The outcome of one node in a `dbt build`."""

    unique_id: str
    resource_type: str
    name: str
    status: str
    message: str | None  # dbt's whole message, every line of it
    failures: int | None
    # For a generic data test: the model it is attached to, its column and the test's name.
    tested_model: str | None = None
    tested_column: str | None = None
    test_name: str | None = None
    # Its arguments as dbt parsed them (`to: "ref('x')"`, `expression: …`): which of two same-named tests it is.
    test_arguments: dict[str, Any] | None = field(default=None, hash=False)
    # The file that defines the node (a test's is the property file) and the SQL dbt ran, when it got that far.
    file_path: str | None = None
    compiled_code: str | None = None


@dataclass
class BuildSummary:
    """A `dbt build` reduced to what a report needs."""

    success: bool
    nodes: list[NodeResult]
    errors: list[str]
    warnings: list[str]

    def count(self, resource_type: str, status: str | None = None) -> int:
        """How many nodes of a type (and, when given, a status) the build ran."""
        return sum(
            1
            for n in self.nodes
            if n.resource_type == resource_type and (status is None or n.status == status)
        )

    def tests_ran(self) -> tuple[int, int]:
        """The data tests dbt ran (skipped ones are not): those on a column, and those on a whole model."""
        ran = [n for n in self.nodes if n.resource_type == "test" and n.status != "skipped"]
        on_columns = sum(1 for n in ran if n.tested_column)
        return on_columns, len(ran) - on_columns

    @property
    def failed(self) -> list[NodeResult]:
        """Nodes that errored or whose tests failed."""
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]

    def then(self, later: BuildSummary) -> BuildSummary:
        """This build as a later build of some of its nodes left it: their new results in place, its verdict."""
        rerun = {n.unique_id: n for n in later.nodes}
        kept = {n.unique_id for n in self.nodes}
        # A rebuilt model's tests all ran again: one of them missing from the later build was removed or renamed
        # (a relationships test pointed at another parent), so its earlier failure is gone with it.
        rebuilt = {n.name for n in later.nodes if n.resource_type == "model"}
        nodes = [
            rerun.get(n.unique_id, n)
            for n in self.nodes
            if n.unique_id in rerun or n.resource_type != "test" or n.tested_model not in rebuilt
        ] + [n for n in later.nodes if n.unique_id not in kept]
        warnings = self.warnings + [w for w in later.warnings if w not in self.warnings]
        return BuildSummary(success=later.success, nodes=nodes, errors=later.errors, warnings=warnings)


@dataclass(frozen=True)
class FreshnessCheck:
    """One source table's `dbt source freshness` result."""

    source: str  # `<source>.<table>`, as dbt names it
    status: str  # pass, warn, error, or runtime error (the query failed)
    age_seconds: float | None  # how old its newest load is; None when the check could not run
    message: str | None  # dbt's message for a check that could not run


@dataclass
class FreshnessSummary:
    """A `dbt source freshness` run: each checked table's result, and dbt's verdict (a warning passes)."""

    success: bool
    checks: list[FreshnessCheck]
    errors: list[str]

    @property
    def stale(self) -> list[FreshnessCheck]:
        """The tables that warned, failed or could not be checked."""
        return [c for c in self.checks if c.status != "pass"]


def _arguments(node: Any) -> dict[str, Any] | None:
    """A generic test's arguments without `model` (dbt's own Jinja for the tested relation)."""
    kwargs = getattr(getattr(node, "test_metadata", None), "kwargs", None)
    return {k: v for k, v in kwargs.items() if k != "model"} if isinstance(kwargs, dict) else None


class DbtProject:
    """A dbt project on disk, driven through dbt's programmatic runner."""

    def __init__(self, project_dir: Path, profiles_dir: Path | None = None, target: str | None = None):
        self.project_dir = project_dir.resolve()
        self.profiles_dir = profiles_dir.resolve() if profiles_dir else None
        self.target = target
        # dbt's own parsed manifest from our last parse: run-operation reuses it (≈0.04 s instead of ≈0.8 s).
        self._parsed: Any = None
        self.history: list[Ran] = []  # every invocation, in order: what a report of dbt's cost counts

    @property
    def manifest_path(self) -> Path:
        """Where `dbt parse` leaves the manifest (the default target path)."""
        return self.project_dir / "target" / "manifest.json"

    def invoke(
        self, command: list[str], reuse_manifest: bool = False, on_event: Callable[[str], None] | None = None
    ) -> Invocation:
        """Run one dbt command in this process and collect its events; `on_event` hears each event's name."""
        from dbt import deprecations
        from dbt.cli.main import dbtRunner

        _name_flag_sources_cheaply()
        captured = Invocation(success=False)
        parsed = False

        def collect(event: Any) -> None:
            nonlocal parsed
            info = event.info
            if on_event is not None:
                on_event(info.name)
            if info.name == _LOADING_EVENT:
                parsed = True
            elif info.name == "PrintEvent":
                captured.printed.append(event.data.msg)
            elif info.level == "error":
                captured.errors.append(info.msg)
            elif info.level == "warn":
                captured.warnings.append(info.msg)

        # Telemetry is the user's choice for their own dbt runs, not something cartridge opts them into.
        args = [*command, "--project-dir", str(self.project_dir), "--no-send-anonymous-usage-stats"]
        if command[0] not in ("deps", "clean"):
            if self.profiles_dir:
                args += ["--profiles-dir", str(self.profiles_dir)]
            if self.target:
                args += ["--target", self.target]
        with _DBT_LOCK:
            manifest = self._parsed if reuse_manifest else None
            # dbt keeps the deprecations it met in a process-wide table and summarises all of them after every
            # invocation: without a reset, one project's deprecation is reported again by every later run.
            deprecations.reset_deprecations()
            outcome = dbtRunner(manifest=manifest, callbacks=[collect]).invoke(["--log-level", "none", *args])
        self.history.append(Ran(command[0], parsed))
        if isinstance(outcome.exception, KeyboardInterrupt):
            raise outcome.exception  # dbt hands Ctrl-C (and SIGTERM) back as a result: it must stop us too
        captured.success = outcome.success
        captured.result = outcome.result
        if outcome.exception is not None:
            captured.errors.append(str(outcome.exception))
        return captured

    def deps(self) -> None:
        """Install the packages listed in packages.yml."""
        run = self.invoke(["deps"])
        if not run.success:
            raise DbtError(f"dbt deps failed in {self.project_dir}: {run.error_text()}")

    def parse(self, on_event: Callable[[str], None] | None = None, write_json: bool = True) -> Invocation:
        """Parse the project and write target/manifest.json (unless not `write_json`), failing with dbt's own message."""
        run = self.invoke(["parse"] if write_json else ["parse", "--no-write-json"], on_event=on_event)
        if not run.success:
            self._parsed = None
            # dbt says only "'utf-8' codec can't decode byte 0xe9", and a traceback: name the file instead.
            culprit = not_utf8_file(self.project_dir) if "codec can't decode" in run.error_text() else None
            why = f"{culprit} is not UTF-8 text" if culprit else run.error_text()
            raise ProjectError(f"dbt parse failed in {self.project_dir}: {why}")
        self._parsed = run.result
        return run

    def ensure_parsed(self) -> None:
        """Parse the project unless this object has parsed it already, so that run-operations reuse it."""
        if self._parsed is None:
            self.parse()

    def run_operation(self, macro: str, args: dict[str, Any]) -> str:
        """Run a macro and return what it printed (the macro's return value is discarded by dbt)."""
        run = self.invoke(["run-operation", macro, "--args", json.dumps(args)], reuse_manifest=True)
        if not run.success:
            for line in (line.strip() for error in run.errors for line in error.splitlines()):
                # The package's own argument checks name the culprit: that is the user's input, exit 2.
                if line.startswith(f"{macro}: "):
                    raise UsageError(line)
            raise DbtError(f"dbt run-operation {macro} failed: {run.error_text()}")
        return "\n".join(run.printed)

    def relations_of(self, models: list[str]) -> list[dict[str, str]]:
        """Where the last parse puts each of these models in the warehouse: model, database, schema, identifier."""
        nodes = getattr(self._parsed, "nodes", {}) or {}
        wanted = set(models)
        return [
            {
                "model": node.name,
                "database": node.database or "",
                "schema": node.schema,
                "identifier": node.alias or node.name,
            }
            for node in nodes.values()
            if str(node.resource_type) == "model"
            and node.name in wanted
            and node.package_name == self._name()
        ]

    def _name(self) -> str:
        metadata = getattr(self._parsed, "metadata", None)
        return str(getattr(metadata, "project_name", "") or "")

    def existing_relations(self, relations: list[dict[str, str]], drop: bool = False) -> list[dict[str, str]]:
        """Which of the relations exist in the warehouse (through the package's `_relations` macro); `drop` drops them."""
        if not relations:
            return []
        wanted = [{k: r[k] for k in ("database", "schema", "identifier")} for r in relations]
        printed = self.run_operation("cartridge._relations", {"relations": wanted, "drop": drop})
        found = json.loads(printed.strip().splitlines()[-1])["relations"] if printed.strip() else []
        keys = {(f["schema"].lower(), f["identifier"].lower()) for f in found}
        return [r for r in relations if (r["schema"].lower(), r["identifier"].lower()) in keys]

    def build(
        self,
        select: list[str] | None = None,
        on_event: Callable[[str], None] | None = None,
        reuse_manifest: bool = False,
        full_refresh: bool = False,
    ) -> BuildSummary:
        """Run `dbt build`, optionally on a selection, and summarise every node's result.

        `reuse_manifest` builds from the last parse instead of parsing again: only when no file changed since.
        `full_refresh` rebuilds incremental models whole.
        """
        command = ["build"]
        if select:
            command += ["--select", *select]
        if full_refresh:
            command.append("--full-refresh")
        run = self.invoke(
            command, reuse_manifest=reuse_manifest and self._parsed is not None, on_event=on_event
        )
        nodes: list[NodeResult] = []
        results = getattr(run.result, "results", None) or []
        for item in results:
            node = item.node
            nodes.append(
                NodeResult(
                    unique_id=node.unique_id,
                    resource_type=str(node.resource_type),
                    name=node.name,
                    status=str(item.status),
                    message=item.message,
                    failures=item.failures,
                    tested_model=(getattr(node, "attached_node", None) or "").rsplit(".", 1)[-1] or None,
                    tested_column=getattr(node, "column_name", None),
                    test_name=getattr(getattr(node, "test_metadata", None), "name", None),
                    test_arguments=_arguments(node),
                    file_path=getattr(node, "original_file_path", None),
                    compiled_code=self._compiled_code(node),
                )
            )
        return BuildSummary(success=run.success, nodes=nodes, errors=run.errors, warnings=run.warnings)

    def source_freshness(self) -> FreshnessSummary:
        """Run `dbt source freshness` on every source table that checks it, and summarise each result."""
        run = self.invoke(["source", "freshness"])
        checks = [
            FreshnessCheck(
                source=f"{item.node.source_name}.{item.node.name}",
                status=str(item.status),
                # A table dbt could not check has no age, only a message (PartialSourceFreshnessResult).
                age_seconds=getattr(item, "age", None),
                message=item.message,
            )
            for item in getattr(run.result, "results", None) or []
        ]
        return FreshnessSummary(success=run.success, checks=checks, errors=run.errors)

    def _compiled_code(self, node: Any) -> str | None:
        """The SQL dbt compiled for a node: from the result itself, else from its file under target/."""
        code = getattr(node, "compiled_code", None)
        if code:
            return str(code)
        compiled_path = getattr(node, "compiled_path", None)
        if not compiled_path:
            return None
        path = self.project_dir / compiled_path
        try:
            return path.read_text(encoding="utf-8") if path.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None


# The files dbt reads as text; its own folders and hidden ones (.git, .venv) are not the project's source.
_SOURCE_SUFFIXES = {".yml", ".yaml", ".sql", ".md", ".csv", ".py", ".jinja", ".j2"}
_NOT_SOURCE = {"target", "logs", "dbt_packages", "dbt_modules"}


def not_utf8_file(project_dir: Path) -> str | None:
    """The first file of the project dbt reads as text that is not UTF-8, relative to the project."""
    for folder, folders, files in os.walk(project_dir):
        folders[:] = sorted(f for f in folders if f not in _NOT_SOURCE and not f.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix not in _SOURCE_SUFFIXES:
                continue
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                return path.relative_to(project_dir).as_posix()
            except OSError:
                continue
    return None


def _calling_module() -> str:
    """The first module up the stack that is not dbt's behaviour-flag module, as dbt's own lookup finds it."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name != "dbt_common.behavior_flags":
            return str(name)
        frame = frame.f_back  # type: ignore[assignment]
    return "Unknown"


def _name_flag_sources_cheaply() -> None:
    """Replace dbt-common's lookup of the module behind each behaviour flag with a walk up the frames.

    Every adapter dbt registers (one per invocation) names the source of each of its behaviour flags with
    `inspect.stack()`, which reads the source lines of every frame and, for each frame whose file is no module
    (Jinja's compiled macros), scans all of `sys.modules`. With litellm imported (3,000 modules) and a deep stack,
    that made each invocation seconds slower (profiled: the test suite's dbt runs in one process after the LLM
    tests ran up to 7x slower). The name only labels a behaviour-change event; the walk finds the same module.
    """
    from dbt_common.behavior_flags import BehaviorFlagRendered

    BehaviorFlagRendered._default_source = staticmethod(_calling_module)  # type: ignore[method-assign]


def nests_test_arguments_by_default() -> bool:
    """Whether the installed dbt reads generic-test arguments under `arguments:` unless a project opts out."""
    from dbt.contracts.project import ProjectFlags

    return bool(getattr(ProjectFlags(), "require_generic_test_arguments_property", False))
