"""Apply staged changes as one journaled run, and take a run back: on failure, after an interruption, or by undo."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, Protocol

from cartridge_bridge.errors import RunInProgress, UsageError, WriteError
from cartridge_bridge.files.atomic_files import FileMode, stray_temporary_files, write_atomic
from cartridge_bridge.files.faults import fault_point
from cartridge_bridge.files.own_files import check_space, read_own
from cartridge_bridge.write.journal import (
    Journal,
    JournalEntry,
    JournalError,
    Relation,
    Status,
    inside,
    mark,
    new_run_id,
    run_dir,
    sha256,
    unfinished_runs,
    write_durably,
)
from cartridge_bridge.write.signals import signals_held
from cartridge_bridge.write.workspace import FileChange, resolve_inside

_DOING = {
    "planned": "preparing its writes",
    "writing": "writing files",
    "written": "about to prove its files",
    "proving": "proving its files with dbt",
    "rolling_back": "rolling back",
    "undoing": "being undone",
}


class Warehouse(Protocol):
    """Where a run's build creates relations: found before the build, dropped when the run is taken back."""

    def locate(self, models: list[str]) -> list[Relation]:
        """Each model's relation, and whether it exists already."""

    def drop(
        self, relations: list[Relation], gone: Callable[[Relation], None]
    ) -> tuple[list[Relation], list[Relation]]:
        """Drop those of the relations that exist, never with what depends on them; `gone` hears each as it goes.

        Returns what was dropped, and what remains.
        """


def apply_changes(
    project_dir: Path, changes: list[FileChange], relations: list[Relation] | None = None
) -> Journal:
    """Write every change as one run: journal and backups first, then the files; any failure restores the project.

    `relations` are what an earlier round of the same apply built and left for this one: recorded from the start.

    The journal is saved `planned` with every file, folder and backup before the first byte of the project
    changes, `writing` while files are replaced and `written` once all are; a caller proves the files and
    marks the run `applied` (or rolls it back).
    """
    journal = Journal(
        run_id=new_run_id(),
        created_at=datetime.now(timezone.utc).isoformat(),
        pid=os.getpid(),
        relations=[r.model_copy() for r in relations or []],
    )
    writes = [change for change in changes if change.writes]
    targets = _plan_run(project_dir, journal, writes)  # refuses (a bad path, no space) before any write
    try:
        _save_intent(project_dir, journal, writes)
        mark(project_dir, journal, "writing")
        fault_point("journal")
        for directory in journal.created_dirs:
            (project_dir / directory).mkdir(exist_ok=True)
        stop_at = min(1, len(writes) - 1)  # the fault test stops inside the second file's write
        for index, (change, target) in enumerate(zip(writes, targets, strict=True)):
            pause = (lambda: fault_point("write")) if index == stop_at else None
            write_atomic(target, change.after, pause=pause)
        mark(project_dir, journal, "written")
        fault_point("written")
    except BaseException as error:
        rollback(project_dir, journal, note=_why(error))
        if isinstance(error, OSError):
            raise WriteError(f"{describe_os_error(error, project_dir)}; nothing was kept") from None
        raise
    return journal


def _plan_run(project_dir: Path, journal: Journal, writes: list[FileChange]) -> list[Path]:
    """The run's intent (files, folders, backups) in its journal, checked to fit where it goes; nothing written."""
    targets = []
    for change in writes:
        target = resolve_inside(project_dir, change.path)
        targets.append(target)
        missing = [p for p in [target.parent, *target.parent.parents] if not p.exists()]
        for directory in reversed(missing):
            relative = directory.relative_to(project_dir).as_posix()
            if relative not in journal.created_dirs:
                journal.created_dirs.append(relative)
        entry = JournalEntry(
            path=change.path,
            action="created" if change.before is None else "modified",
            sha256_after=sha256(change.after.encode("utf-8")),
        )
        if change.before is not None:
            keep = FileMode.of(target)
            entry.sha256_before = sha256(change.before.encode("utf-8"))
            entry.backup = f"backup/{change.path}"
            entry.mode, entry.uid, entry.gid = keep.mode, keep.uid, keep.gid
        journal.files.append(entry)
    backups = sum(len(change.before.encode("utf-8")) for change in writes if change.before is not None)
    check_space(
        project_dir, run_dir(project_dir, journal.run_id), backups + 2 * len(journal.model_dump_json())
    )
    return targets


def _save_intent(project_dir: Path, journal: Journal, writes: list[FileChange]) -> None:
    """Save the journal and every backup, durably, before anything in the project changes."""
    mark(project_dir, journal, "planned")
    folder = run_dir(project_dir, journal.run_id)
    for change, entry in zip(writes, journal.files, strict=True):
        if entry.backup is not None and change.before is not None:
            write_durably(project_dir, folder / entry.backup, change.before.encode("utf-8"))


def _why(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return f"failed: {type(error).__name__}"


def describe_os_error(error: OSError, project_dir: Path) -> str:
    """One line naming the path and the problem of a filesystem error, e.g. `cannot write models/x.sql: …`."""
    where = error.filename2 or error.filename  # os.replace names the file it replaces second
    if where is not None:
        path = Path(os.fsdecode(where))
        try:
            where = path.resolve().relative_to(project_dir.resolve()).as_posix()
        except ValueError:
            where = str(path)
        if Path(str(where)).name.startswith(".") and str(where).endswith(".tmp"):
            where = Path(str(where)).parent.as_posix()  # the temporary file's folder is what the user knows
    return f"cannot write {where or 'a file'}: {error.strerror or error}"


def rollback(
    project_dir: Path,
    journal: Journal,
    status: Literal["rolled_back", "undone"] = "rolled_back",
    note: str | None = None,
) -> None:
    """Restore every file the journal touched, byte for byte with its mode and owner, and remove its folders.

    SIGINT and SIGTERM wait until it is done; if the process dies anyway, the journal says `rolling_back`
    and the next command finishes the job.
    """
    restore_files(project_dir, journal)
    _record(project_dir, journal, status, note)


def restore_files(project_dir: Path, journal: Journal, doing: Status = "rolling_back") -> None:
    """Put back every file and folder of the run, the journal saying `doing` meanwhile (it is left so)."""
    with signals_held():
        _record(project_dir, journal, doing)
        folder = run_dir(project_dir, journal.run_id)
        for entry in reversed(journal.files):
            _restore(project_dir, folder, entry)
        for directory in reversed(journal.created_dirs):
            path = inside(project_dir, directory, "a folder of the run", JournalError)
            if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                path.rmdir()


def _record(project_dir: Path, journal: Journal, status: Status, note: str | None = None) -> None:
    """Save the run's state; a full disk must not stop the project's own files from being put back."""
    # On failure the journal keeps its last state: the next command sees an interrupted run and finishes it.
    with contextlib.suppress(OSError):
        mark(project_dir, journal, status, note)


def _restore(project_dir: Path, folder: Path, entry: JournalEntry) -> None:
    """Put one file back as it was before the run, and remove what a killed write left next to it."""
    target = inside(project_dir, entry.path, "a file of the run", JournalError)
    for stray in stray_temporary_files(target):
        stray.unlink(missing_ok=True)
    current = _current_sha(target)
    if entry.action == "created":
        if current is not None:
            target.unlink()
        return
    keep = FileMode(entry.mode, entry.uid, entry.gid) if entry.mode is not None else None  # type: ignore[arg-type]
    if current != entry.sha256_before or current is None:
        write_atomic(target, _backup(project_dir, folder, entry).decode("utf-8"), keep=keep)
    elif keep is not None:
        resolved = target.resolve()
        if FileMode.of(resolved) != keep:
            os.chmod(resolved, keep.mode)
            keep.chown(resolved)


def _backup(project_dir: Path, folder: Path, entry: JournalEntry) -> bytes:
    """The bytes a modified file had before the run, read only from inside the run's own folder, never via a link."""
    return read_own(project_dir, folder / str(entry.backup))


def _current_sha(target: Path) -> str | None:
    if target.is_symlink() and not target.exists():
        return "dangling symlink"
    return sha256(target.read_bytes()) if target.is_file() else None


def check_restorable(project_dir: Path, journal: Journal) -> None:
    """Refuse, before touching anything, a run whose files were edited since (or are neither before nor after)."""
    for entry in journal.files:
        target = inside(project_dir, entry.path, "a file of the run", JournalError)
        current = _current_sha(target)
        allowed: set[str | None] = {entry.sha256_after}
        if journal.status == "planned":  # it wrote nothing yet: every file must be as it was
            allowed = {entry.sha256_before}
        elif journal.unfinished:  # an interrupted run may have stopped before this file was written
            allowed.add(entry.sha256_before)
        if current not in allowed:
            raise UsageError(
                f"{entry.path} changed after run {journal.run_id}; undo it by hand or restore it first"
            )


def recover(project_dir: Path, announce: Callable[[str], None]) -> None:
    """Deal with an interrupted run before anything else: finish one that wrote nothing or was rolling back,
    and otherwise stop with one line telling the user to run `cartridge undo`."""
    for journal in unfinished_runs(project_dir):
        if journal.status in ("planned", "rolling_back"):
            check_restorable(project_dir, journal)
            rollback(
                project_dir, journal, note=f"rolled back after an interruption while {_DOING[journal.status]}"
            )
            announce(f"finished rolling back run {journal.run_id}, which was interrupted")
            continue
        raise RunInProgress(
            f"cartridge run {journal.run_id} was interrupted while {_DOING[journal.status]} and left the "
            f"project half changed; run `cartridge undo {journal.run_id}` to restore it first"
        )
