"""The verify loop: write, prove, and on failure restore the project and ask a repairer, for a bounded number of rounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from cartridge_bridge.dbt.runner import BuildSummary
from cartridge_bridge.errors import VerificationError
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import Progress
from cartridge_bridge.stage_clock import StageClock
from cartridge_bridge.verify.failures import build_failures
from cartridge_bridge.verify.prove import failure_message
from cartridge_bridge.verify.repair import Repairer, RepairOutcome, Unrepairable
from cartridge_bridge.verify.rerun import rerun_selection


class Writer(Protocol):
    """Writes a plan's files into the project and can take the last write back (the write stage's face)."""

    def write(self, plan: ExecutionPlan) -> bool:
        """Write the plan's files; False when nothing was written (a dry run, or every file already matches)."""

    def proving(self) -> None:
        """Record that the last write is being proven (a crash from here on is undone from the journal)."""

    def commit(self) -> None:
        """Record that the last write was proven: it stays."""

    def rollback(self) -> None:
        """Restore every file the last write touched, byte for byte."""

    def set_aside(self) -> None:
        """Restore the files like `rollback`, but leave what the build created for the next write's build."""


class Prover(Protocol):
    """Proves what was written: parses, then builds; raises VerificationError when the files do not parse."""

    def prove(self, plan: ExecutionPlan, only: list[str] | None = None) -> BuildSummary | None:
        """The build's summary (of the `only` selection when given), or None when the proof stops at parsing."""


@dataclass
class Verified:
    """What the loop settled on: the plan as written, its build, and every change repairers made to it."""

    plan: ExecutionPlan
    build: BuildSummary | None
    written: bool
    repairs: list[str] = field(default_factory=list)
    model_verdicts: list[str] = field(default_factory=list)  # failing data tests the LLM repairer handled


def prove_with_repairs(
    plan: ExecutionPlan,
    writer: Writer,
    prover: Prover,
    repairer: Repairer,
    progress: Progress,
    repair_rounds: int,
    clock: StageClock | None = None,
) -> Verified:
    """Write and prove the plan, repairing and rebuilding at most `repair_rounds` times; a failure restores the project.

    `clock` counts the writes, and the repairers' own time (a rebuild counts as build, its parse as parse).
    """
    clock = clock or StageClock()
    repairs: list[str] = []
    verdicts: list[str] = []
    last: BuildSummary | None = None  # the build so far, for a repair round to build only what it changed
    only: list[str] | None = None
    done = 0  # repair rounds so far
    while True:
        with clock.stage("write"):
            written = writer.write(plan)
        if not written:
            return Verified(plan, None, written=False, repairs=repairs, model_verdicts=verdicts)
        try:
            writer.proving()
            build = prover.prove(plan, only)
        except BaseException:
            writer.rollback()
            raise
        if build is not None and last is not None:
            build = last.then(build)
        if build is None or build.success:
            with clock.stage("write"):
                writer.commit()
            return Verified(plan, build, written=True, repairs=repairs, model_verdicts=verdicts)
        with clock.stage("write"):
            writer.set_aside()  # the next round builds on this one's relations: none is dropped to be made again
        try:
            with clock.stage("repair"):
                repaired, outcome = _repair(plan, build, repairer, done, repair_rounds)
        except BaseException:
            writer.rollback()  # no next round: what the build created goes too
            raise
        progress.step(f"{outcome.summary or f'{len(outcome.changes)} repairs'}, and rebuild")
        repairs += outcome.changes
        verdicts += outcome.model_verdicts
        last, only, plan = build, rerun_selection(build, plan, repaired), repaired
        done += 1


def _repair(
    plan: ExecutionPlan, build: BuildSummary, repairer: Repairer, done: int, rounds: int
) -> tuple[ExecutionPlan, RepairOutcome]:
    """The repaired plan and the repairer's outcome; a VerificationError when no round is left or it cannot help."""
    failures = build_failures(build)
    if done >= rounds:
        reason = (
            f"still failing after {rounds} repair round{'s' if rounds > 1 else ''}"
            if rounds
            else "repair_rounds is 0"
        )
        raise VerificationError(failure_message(build, [Unrepairable(f, reason) for f in failures]))
    outcome = repairer.repair(plan, failures) if failures else None
    if outcome is None or outcome.plan is None or outcome.unrepairable:
        raise VerificationError(failure_message(build, outcome.unrepairable if outcome else []))
    return outcome.plan, outcome
