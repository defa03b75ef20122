"""The verify loop: write, prove, and on failure restore the project and ask a repairer, for a bounded number of rounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from cartridge_bridge.errors import VerificationError
from cartridge_bridge.gather.dbt_runner import BuildSummary
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import Progress
from cartridge_bridge.verify.failures import build_failures
from cartridge_bridge.verify.prove import failure_message
from cartridge_bridge.verify.repair import Repairer, Unrepairable


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


class Prover(Protocol):
    """Proves what was written: parses, then builds; raises VerificationError when the files do not parse."""

    def prove(self, plan: ExecutionPlan) -> BuildSummary | None:
        """The build's summary, or None when the proof stops at parsing."""


@dataclass
class Verified:
    """What the loop settled on: the plan as written, its build, and every change repairers made to it."""

    plan: ExecutionPlan
    build: BuildSummary | None
    written: bool
    repairs: list[str] = field(default_factory=list)


def prove_with_repairs(
    plan: ExecutionPlan,
    writer: Writer,
    prover: Prover,
    repairer: Repairer,
    progress: Progress,
    repair_rounds: int = 1,
) -> Verified:
    """Write and prove the plan, repairing and rebuilding at most `repair_rounds` times; a failure restores the project."""
    repairs: list[str] = []
    rounds_left = repair_rounds
    while True:
        if not writer.write(plan):
            return Verified(plan, None, written=False, repairs=repairs)
        try:
            writer.proving()
            build = prover.prove(plan)
        except BaseException:
            writer.rollback()
            raise
        if build is None or build.success:
            writer.commit()
            return Verified(plan, build, written=True, repairs=repairs)
        writer.rollback()
        failures = build_failures(build)
        if rounds_left <= 0:
            reason = (
                f"still failing after {repair_rounds} repair round{'s' if repair_rounds > 1 else ''}"
                if repair_rounds
                else "repair_rounds is 0"
            )
            raise VerificationError(failure_message(build, [Unrepairable(f, reason) for f in failures]))
        outcome = repairer.repair(plan, failures) if failures else None
        if outcome is None or outcome.plan is None or outcome.unrepairable:
            raise VerificationError(failure_message(build, outcome.unrepairable if outcome else []))
        rounds_left -= 1
        progress.step(f"{outcome.summary or f'{len(outcome.changes)} repairs'}, and rebuild")
        repairs += outcome.changes
        plan = outcome.plan
