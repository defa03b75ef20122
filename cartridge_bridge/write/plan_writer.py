"""Write a plan into the project, once per verify round: render, stage, confirm overwrites, journal, roll back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cartridge_bridge.errors import CartridgeError
from cartridge_bridge.files.yaml_merge import ConflictPolicy
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import Progress
from cartridge_bridge.render.plan_files import render_plan
from cartridge_bridge.write.journal import Journal, Relation, mark, save_journal
from cartridge_bridge.write.transaction import Warehouse, apply_changes, rollback
from cartridge_bridge.write.undo import drop_created_relations
from cartridge_bridge.write.workspace import FileChange, stage_changes


@dataclass
class PlanWriter:
    """Writes a plan's files under the conflict policy and keeps the last write's changes and journal."""

    project_dir: Path
    policy: ConflictPolicy
    progress: Progress
    dry_run: bool = False
    # Asked once, with the files whose existing content would be replaced; False stops before any write.
    confirm: Callable[[list[str]], bool] | None = None
    # Where the build creates relations; with it, a rollback drops those the build created.
    warehouse: Warehouse | None = None
    changes: list[FileChange] = field(default_factory=list, init=False)
    journal: Journal | None = field(default=None, init=False)
    left_in_warehouse: list[Relation] = field(default_factory=list, init=False)
    _confirmed: bool = field(default=False, init=False, repr=False)
    # The journal of a round set aside for a repair: its files restored, its relations left for the next round.
    _set_aside: Journal | None = field(default=None, init=False, repr=False)

    def write(self, plan: ExecutionPlan) -> bool:
        """Write the plan's files; False when nothing was written (a dry run, or every file already matches)."""
        try:
            written = self._write(plan)
        except BaseException:
            self.rollback()  # a round set aside for this one is not coming back: drop what its build made
            raise
        if not written:
            self.rollback()
        return written

    def _write(self, plan: ExecutionPlan) -> bool:
        self.progress.step(f"render {len(plan.actions)} planned actions")
        self.changes = stage_changes(self.project_dir, render_plan(plan), self.policy)
        self.journal = None
        if self.dry_run or not any(c.writes for c in self.changes):
            return False
        overwritten = [
            f"{c.path} ({', '.join(c.details)})" for c in self.changes if c.status == "modify" and c.replaces
        ]
        if overwritten and self.confirm is not None and not self._confirmed:
            if not self.confirm(overwritten):
                raise CartridgeError("nothing was written: the overwrite was not confirmed")
            self._confirmed = True
        self.progress.step(f"write {sum(c.writes for c in self.changes)} files")
        carried = self._set_aside.relations if self._set_aside is not None else []
        self.journal = apply_changes(self.project_dir, self.changes, carried)
        self._set_aside = None  # the new run's journal holds the relations from here on
        return True

    def proving(self) -> None:
        """Record that dbt is proving the last write (a crash from here on is undone from the journal)."""
        if self.journal is not None:
            mark(self.project_dir, self.journal, "proving")

    def commit(self) -> None:
        """Mark the last write applied: dbt proved it."""
        if self.journal is not None:
            mark(self.project_dir, self.journal, "applied")

    def before_build(self, models: list[str]) -> None:
        """Record in the journal, before dbt builds, where each model's relation goes and whether it exists."""
        if self.journal is not None and self.warehouse is not None:
            # An earlier round's record stands: its relations exist now because that round built them.
            known = {r.model: r for r in self.journal.relations}
            new = (
                self.warehouse.locate([m for m in models if m not in known])
                if set(models) - set(known)
                else []
            )
            self.journal.relations = [*known.values(), *new]
            save_journal(self.project_dir, self.journal)

    def set_aside(self) -> None:
        """Restore every file the last write touched, but leave its relations for the next round (or a rollback)."""
        if self.journal is None:
            return
        rollback(
            self.project_dir, self.journal, note="set aside for a repair round, which builds on its relations"
        )
        self._set_aside, self.journal = self.journal, None

    def rollback(self, note: str | None = None) -> None:
        """Restore every file the last write touched, byte for byte, and drop the relations its build created."""
        journal = self.journal or self._set_aside
        if journal is None:
            return
        if self.journal is not None:
            rollback(self.project_dir, self.journal, note=note)
        self._set_aside = None
        if self.warehouse is not None and journal.relations:
            _, self.left_in_warehouse = drop_created_relations(self.project_dir, journal, self.warehouse)
            if self.left_in_warehouse:
                left = ", ".join(r.label for r in self.left_in_warehouse)
                self.progress.step(f"could not drop what the build created; still in the warehouse: {left}")


def already_written(project_dir: Path, plan: ExecutionPlan) -> bool:
    """True when every file the plan writes is in the project with exactly this content (applying it is a no-op)."""
    try:
        changes = stage_changes(project_dir, render_plan(plan), "fail")
    except (CartridgeError, ValueError):
        return False
    return bool(changes) and not any(change.writes for change in changes)
