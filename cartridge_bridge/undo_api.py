"""The Python API of `undo`, apart from api.py: undoing a run imports no planner, renderer or YAML library, and dbt
only when the run's build left relations to drop."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.progress import Progress
from cartridge_bridge.verify.relations import WarehouseRelations
from cartridge_bridge.write.journal import Journal, Relation
from cartridge_bridge.write.run_guard import exclusive_run
from cartridge_bridge.write.undo import created_relations, undo_with_relations


@dataclass
class UndoReport:
    """What undo did: the run, the relations its build had created that were dropped, and those that remain."""

    journal: Journal
    dropped: list[Relation] = field(default_factory=list)
    remaining: list[Relation] = field(default_factory=list)


@exclusive_run(recover_first=False)
def undo_run(
    project_dir: Path,
    run_id: str | None,
    profiles_dir: Path | None = None,
    target: str | None = None,
    keep_relations: bool = False,
    progress: Progress | None = None,
) -> UndoReport:
    """Revert a run from its journal, and (unless `keep_relations`) drop the relations its build created.

    `progress` hears what happened before the undo itself (a stale lock cleared).
    """
    project_dir = project_dir.resolve()
    warehouse = None if keep_relations else WarehouseRelations(DbtProject(project_dir, profiles_dir, target))
    journal, dropped, remaining = undo_with_relations(project_dir, run_id, warehouse)
    if keep_relations:
        remaining = created_relations(journal)
    return UndoReport(journal, dropped, remaining)
