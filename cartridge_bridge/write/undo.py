"""Undo a run: only what its sealed journal records, each step recorded as it is done, so a killed undo resumes."""

from __future__ import annotations

from pathlib import Path

from cartridge_bridge.errors import UsageError, WriteError
from cartridge_bridge.files.faults import fault_point
from cartridge_bridge.write.journal import (
    Journal,
    Relation,
    load_journal,
    mark,
    save_journal,
    unfinished_runs,
)
from cartridge_bridge.write.transaction import (
    Warehouse,
    check_restorable,
    describe_os_error,
    restore_files,
)


def created_relations(journal: Journal) -> list[Relation]:
    """The relations the run's build may have created and undo has not dropped yet."""
    return [relation for relation in journal.relations if not relation.existed and not relation.dropped]


def drop_created_relations(
    project_dir: Path, journal: Journal, warehouse: Warehouse
) -> tuple[list[Relation], list[Relation]]:
    """Drop what the run's build created, recording each drop in the journal as it happens: dropped, remaining."""

    def gone(relation: Relation) -> None:
        relation.dropped = True
        save_journal(project_dir, journal)
        fault_point("dropped")

    dropped, remaining = warehouse.drop(created_relations(journal), gone)
    if remaining:
        left = ", ".join(r.label for r in remaining)
        journal.note = f"{journal.note + '; ' if journal.note else ''}left in the warehouse: {left}"
        save_journal(project_dir, journal)
    return dropped, remaining


def undo(project_dir: Path, run_id: str | None = None) -> Journal:
    """Revert a run's files, applied or interrupted at any point; its relations stay recorded for a later undo."""
    return undo_with_relations(project_dir, run_id, None)[0]


def undo_with_relations(
    project_dir: Path, run_id: str | None, warehouse: Warehouse | None
) -> tuple[Journal, list[Relation], list[Relation]]:
    """Revert a run and drop the relations its build created: the journal, what was dropped, what remains.

    The journal is checked whole (seal, paths, backups) and every file compared before anything changes.
    It says `undoing` until the last drop is recorded, so an undo killed mid-way is finished by the next one;
    a run already undone whose relations could not all be dropped takes another undo for them.
    """
    journal = load_journal(project_dir, run_id)
    pending = created_relations(journal) if warehouse is not None else []
    if journal.status == "rolled_back" or (journal.status == "undone" and not pending):
        raise UsageError(f"cartridge run {journal.run_id} is already {journal.status.replace('_', ' ')}")
    if journal.status != "undone":
        _refuse_while_another_is_interrupted(project_dir, journal)
        check_restorable(project_dir, journal)
        try:
            restore_files(project_dir, journal, doing="undoing")
        except OSError as error:
            raise WriteError(f"{describe_os_error(error, project_dir)}; run `cartridge undo` again") from None
    dropped: list[Relation] = []
    remaining: list[Relation] = []
    if warehouse is not None and pending:
        dropped, remaining = drop_created_relations(project_dir, journal, warehouse)
    mark(project_dir, journal, "undone")
    return journal, dropped, remaining


def _refuse_while_another_is_interrupted(project_dir: Path, journal: Journal) -> None:
    if journal.unfinished:
        return
    pending = [j.run_id for j in unfinished_runs(project_dir) if j.run_id != journal.run_id]
    if pending:
        raise UsageError(
            f"cartridge run {pending[-1]} was interrupted; run `cartridge undo {pending[-1]}` first"
        )
