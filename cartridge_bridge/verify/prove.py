"""Prove written files with dbt: parse (every ref and source resolves), then build the new models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cartridge_bridge.dbt.runner import BuildSummary, DbtProject
from cartridge_bridge.errors import ProjectError, VerificationError
from cartridge_bridge.files.faults import fault_point
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import Progress
from cartridge_bridge.stage_clock import StageClock
from cartridge_bridge.verify.failures import build_failures
from cartridge_bridge.verify.repair import Unrepairable

# How many of the other failed nodes an error message names before it only counts them.
_NAMED = 5


def prove(
    dbt: DbtProject,
    plan: ExecutionPlan,
    build: bool,
    progress: Progress,
    before_build: Callable[[list[str]], None] | None = None,
    only: list[str] | None = None,
    clock: StageClock | None = None,
) -> BuildSummary | None:
    """Parse the project, then (when asked) build the plan's models and their tests, or the `only` selection.

    `before_build` hears the plan's models, once the parse has placed them in the warehouse.
    """
    clock = clock or StageClock()
    progress.step("dbt parse (checks every ref and source)")
    try:
        with clock.stage("parse"):
            # A build writes target/manifest.json when it ends, from this very manifest: writing it here too
            # would cost a tenth of the parse (2.5 s of a 43-table connector's) for a file overwritten minutes later.
            dbt.parse(on_event=lambda _: fault_point("parse"), write_json=not build)
    except ProjectError as error:
        raise VerificationError(f"the generated files do not parse, so nothing was kept: {error}") from None
    if not build:
        return None
    models = [a.name for a in plan.models()]
    with clock.stage("build"):
        if before_build is not None:
            before_build(models)
        if only is not None:
            progress.step(f"dbt build on the {len(only)} nodes the repair changed or the failure skipped")
        else:
            progress.step(f"dbt build on {len(models)} new models and their tests")
        # The parse above saw the files as they are; parsing them again inside the build would cost as much.
        # An incremental model is proven whole: a repair round's rewritten SQL must not be appended to the rows
        # its first round built (nor to those of an earlier run), which would leave a table half of each.
        incremental = any(a.config.materialized == "incremental" for a in plan.models())
        return dbt.build(
            select=only or models, on_event=_after_first_node, reuse_manifest=True, full_refresh=incremental
        )


def _after_first_node(event: str) -> None:
    if event == "NodeFinished":
        fault_point("build")


@dataclass
class DbtProver:
    """Proves a plan's written files with this project's dbt: parse, then build unless `build` is off."""

    dbt: DbtProject
    build: bool
    progress: Progress
    before_build: Callable[[list[str]], None] | None = None
    clock: StageClock | None = None  # where the parse and build seconds are counted
    # Checks on the built data (the magnitude check): a VerificationError from one fails the run like a test.
    check: Callable[[ExecutionPlan], None] | None = None

    def prove(self, plan: ExecutionPlan, only: list[str] | None = None) -> BuildSummary | None:
        """The build's summary (of `only` when given), None when only parsed; a VerificationError when it does not
        parse, or a check of the built data fails."""
        build = prove(self.dbt, plan, self.build, self.progress, self.before_build, only, self.clock)
        if build is not None and build.success and self.check is not None:
            self.check(plan)
        return build


def failure_message(build: BuildSummary, unhandled: list[Unrepairable]) -> str:
    """One sentence: the first unhandled node with its file, dbt's cause and why it stayed, then the others."""
    failures = build_failures(build)
    if not failures:
        lines = [line.strip() for error in build.errors for line in error.splitlines() if line.strip()]
        return f"dbt build failed and the project was restored: {'; '.join(lines[:12]) or 'no message'}"
    reasons = {u.failure.unique_id: u.reason for u in unhandled}
    # The failures nobody could handle come first: they are why the project was restored.
    ordered = sorted(failures, key=lambda f: f.unique_id not in reasons)
    first, others = ordered[0], [f.name for f in ordered[1:]]
    reason = f" ({reasons[first.unique_id]})" if first.unique_id in reasons else ""
    more = ""
    if others:
        named = ", ".join(others[:_NAMED]) + (", …" if len(others) > _NAMED else "")
        more = f"; and {len(others)} more: {named}"
    return f"dbt build failed on {first.where}: {first.cause}{reason}{more}; the project was restored"
