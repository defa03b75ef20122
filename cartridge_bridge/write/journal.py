"""The write-ahead journal of one apply: its states, where it lives, and the checks that keep it inside the project."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from cartridge_bridge.errors import UsageError
from cartridge_bridge.files.atomic_files import write_atomic
from cartridge_bridge.files.faults import fault_point
from cartridge_bridge.files.own_files import OWN_DIR, create_once, make_own_dir, read_own, refuse_links

RUNS_DIR = OWN_DIR / "runs"
# A run id is a name made by new_run_id, never a path: UTC time to the microsecond.
RUN_ID = re.compile(r"\d{8}T\d{12}Z")

Status = Literal[
    "planned", "writing", "written", "proving", "applied", "rolling_back", "rolled_back", "undoing", "undone"
]
# A run left in one of these states was interrupted: its process died before it finished or rolled back.
UNFINISHED: tuple[Status, ...] = ("planned", "writing", "written", "proving", "rolling_back", "undoing")


class JournalError(UsageError):
    """A journal that is damaged, foreign or points outside the project; it is refused, never followed."""


class JournalEntry(BaseModel):
    """One file an apply creates or modifies, recorded before the file is touched."""

    model_config = ConfigDict(extra="forbid")

    path: str
    action: Literal["created", "modified"]
    sha256_after: str
    sha256_before: str | None = None  # modified files: what undo must find if the write never happened
    backup: str | None = None  # relative to the run folder: always backup/<path>
    mode: int | None = None  # the modified file's permission bits, owner and group, restored by undo
    uid: int | None = None
    gid: int | None = None


class Relation(BaseModel):
    """A relation a plan's model builds, and whether it existed in the warehouse before the run."""

    model_config = ConfigDict(extra="forbid")

    model: str
    database: str | None = None
    schema_name: str
    identifier: str
    existed: bool
    dropped: bool = False  # recorded as soon as it is dropped (or found gone), so an interrupted undo resumes

    @property
    def label(self) -> str:
        """The relation as `schema.identifier`."""
        return f"{self.schema_name}.{self.identifier}"


class Journal(BaseModel):
    """The record of one apply, written before its first change: enough to undo it from any point."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    created_at: str
    status: Status = "planned"
    pid: int | None = None
    files: list[JournalEntry] = []
    created_dirs: list[str] = []
    relations: list[Relation] = []  # recorded before the build: the plan's models and whether each existed
    note: str | None = None  # why the run ended as it did, e.g. "interrupted by SIGTERM"
    seal: str | None = None  # SHA-256 of all the above, saved with it: a journal edited by hand is refused

    @property
    def unfinished(self) -> bool:
        """True while the run neither reached `applied` nor was rolled back or undone."""
        return self.status in UNFINISHED


def sha256(data: bytes) -> str:
    """The hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def new_run_id() -> str:
    """A sortable id for an apply: UTC time to the microsecond."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def check_run_id(run_id: str) -> str:
    """The run id itself, or a UsageError when it is not a name cartridge makes (a path, `..`, anything else)."""
    if not RUN_ID.fullmatch(run_id):
        raise UsageError(f"{run_id!r} is not a cartridge run id (they look like 20261129T044530897413Z)")
    return run_id


def inside(project_dir: Path, relative: str, what: str, error: type[UsageError] = UsageError) -> Path:
    """The path of `relative` under the project, refusing absolute paths, `..` and symlinks that lead out."""
    candidate = Path(relative)
    if not relative or candidate.is_absolute() or ".." in candidate.parts or "\\" in relative:
        raise error(f"{what} {relative!r} must be relative to the project and stay inside it")
    root = project_dir.resolve()
    resolved = (root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        raise error(f"{what} {relative!r} leaves the project through a symlink")
    return root / candidate


def run_dir(project_dir: Path, run_id: str) -> Path:
    """Where the journal and backups of one apply live; the id must be a run id and the folder inside."""
    return inside(project_dir, (RUNS_DIR / check_run_id(run_id)).as_posix(), "the run folder", JournalError)


def write_durably(project_dir: Path, path: Path, data: bytes) -> None:
    """Write a cartridge-owned file (journal, backup) atomically and fsynced, creating its folder; never via a link."""
    make_own_dir(project_dir, path.parent)
    refuse_links(project_dir, path)
    write_atomic(path, data, durable=True, pause=lambda: fault_point("record"))


def seal_of(journal: Journal) -> str:
    """The integrity seal of a journal: the SHA-256 of every field but the seal itself."""
    return sha256(journal.model_dump_json(exclude={"seal"}).encode("utf-8"))


def save_journal(project_dir: Path, journal: Journal) -> None:
    """Persist a journal, sealed, next to its backups, durably: the next step may change the project."""
    folder = run_dir(project_dir, journal.run_id)
    make_own_dir(project_dir, folder)
    create_once(
        project_dir,
        project_dir / OWN_DIR / ".gitignore",
        "# cartridge's journals and backups: local only\n*\n",
    )
    journal.seal = seal_of(journal)
    write_durably(
        project_dir, folder / "journal.json", (journal.model_dump_json(indent=2) + "\n").encode("utf-8")
    )


def mark(project_dir: Path, journal: Journal, status: Status, note: str | None = None) -> None:
    """Move a run to its next state and persist it before going on."""
    journal.status = status
    if note is not None:
        journal.note = note
    save_journal(project_dir, journal)


def read_journal(project_dir: Path, run_id: str) -> Journal:
    """A run's journal, checked whole before anything follows it: its folder, seal, paths and backups."""
    folder = run_dir(project_dir, run_id)
    path = folder / "journal.json"
    if not path.is_file() and not path.is_symlink():
        raise UsageError(f"no cartridge run {run_id!r} in {project_dir / RUNS_DIR}")
    way_out = f"undo that run by hand, then remove {folder}"
    try:
        journal = Journal.model_validate_json(read_own(project_dir, path))
    except (ValidationError, ValueError):
        raise JournalError(
            f"the journal {path} is damaged; it was not followed: restore it or {way_out}"
        ) from None
    if journal.run_id != run_id:
        raise JournalError(f"the journal {path} belongs to run {journal.run_id!r}, not {run_id!r}; refused")
    _check_paths(project_dir, journal, path)
    if journal.seal != seal_of(journal):
        raise JournalError(
            f"the journal {path} was changed outside cartridge (its integrity seal does not match); "
            f"it was not followed: {way_out}"
        )
    _check_backups(project_dir, journal, folder, way_out)
    return journal


def _check_paths(project_dir: Path, journal: Journal, path: Path) -> None:
    """Refuse a journal whose files, backups or folders lie outside the project (or outside its run folder)."""
    for entry in journal.files:
        inside(project_dir, entry.path, f"the journal {path} names a file", JournalError)
        expected = None if entry.action == "created" else f"backup/{entry.path}"
        if entry.backup != expected:
            raise JournalError(f"the journal {path} has a foreign backup {entry.backup!r}; refused")
        if entry.action == "modified" and entry.sha256_before is None and journal.status != "applied":
            raise JournalError(f"the journal {path} has no record of {entry.path} before the run; refused")
    for directory in journal.created_dirs:
        inside(project_dir, directory, f"the journal {path} names a folder", JournalError)


def _check_backups(project_dir: Path, journal: Journal, folder: Path, way_out: str) -> None:
    """Refuse a run whose backups are missing, links, or not the bytes the journal says the files had.

    A run still `planned` wrote its journal before its backups and touched no file yet: it needs none.
    """
    if journal.status == "planned":
        return
    for entry in journal.files:
        if entry.backup is None or entry.sha256_before is None:
            continue
        problem = None
        try:
            data = read_own(project_dir, folder / entry.backup)
        except UsageError:
            problem = "leads out of the run folder (it is a link)"
        except OSError as error:
            problem = f"cannot be read ({error.strerror})"
        else:
            if sha256(data) != entry.sha256_before:
                problem = "is not the file as it was before the run"
        if problem is not None:
            raise JournalError(f"the backup of {entry.path} in {folder} {problem}; refused: {way_out}")


def sweep_interrupted_writes(project_dir: Path) -> None:
    """Remove what a journal or backup write killed mid-way left in the run folders (its temporary files)."""
    for run_id in run_ids(project_dir, with_journal=False):
        folder = project_dir / RUNS_DIR / run_id
        if folder.is_symlink():
            continue
        for stray in folder.rglob(".*.tmp"):  # rglob does not walk into linked folders
            if stray.is_file() and not stray.is_symlink():
                stray.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()  # killed before its first journal was saved: the run never began


def run_ids(project_dir: Path, with_journal: bool = True) -> list[str]:
    """The ids of every run folder in the project, oldest first; folders that are not run ids are ignored."""
    runs = project_dir / RUNS_DIR
    refuse_links(project_dir, runs)
    if not runs.is_dir():
        return []
    return sorted(
        p.name
        for p in runs.iterdir()
        if RUN_ID.fullmatch(p.name)
        and (not with_journal or (p / "journal.json").exists() or (p / "journal.json").is_symlink())
    )


def unfinished_runs(project_dir: Path) -> list[Journal]:
    """Every run that was interrupted before it was applied or rolled back, oldest first."""
    found = []
    for run_id in run_ids(project_dir):
        path = project_dir / RUNS_DIR / run_id / "journal.json"
        try:
            status = json.loads(read_own(project_dir, path)).get("status")
        except (OSError, ValueError, AttributeError, UsageError):
            status = None
        if status in UNFINISHED or status is None:
            found.append(read_journal(project_dir, run_id))  # a damaged one is refused with its path
    return found


def load_journal(project_dir: Path, run_id: str | None) -> Journal:
    """The journal of a run; without an id, of the interrupted run if there is one, else of the latest applied run."""
    if run_id is not None:
        return read_journal(project_dir, check_run_id(run_id))
    interrupted = unfinished_runs(project_dir)
    if interrupted:
        return interrupted[-1]
    for candidate in reversed(run_ids(project_dir)):
        journal = read_journal(project_dir, candidate)
        if journal.status == "applied":
            return journal
    raise UsageError(f"no applied cartridge run to undo in {project_dir}")
