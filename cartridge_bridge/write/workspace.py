"""Write rendered files into the project safely: conflict policy, atomic writes, journal, rollback, undo."""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from cartridge_bridge.errors import ConflictError, PlanError, UsageError
from cartridge_bridge.render.plan_files import RenderedFile
from cartridge_bridge.write.yaml_merge import ConflictPolicy, merge_properties

RUNS_DIR = Path(".cartridge") / "runs"


@dataclass
class FileChange:
    """What applying the plan does to one file."""

    path: str  # relative to the project root, POSIX separators
    status: Literal["create", "modify", "unchanged", "kept"]
    before: str | None
    after: str
    details: list[str] = field(default_factory=list)

    @property
    def replaces(self) -> bool:
        """True when applying replaces content the user already had (not only adds to it)."""
        return any(d.startswith(("overwrite", "replace")) for d in self.details)

    @property
    def writes(self) -> bool:
        """True when applying changes the file on disk."""
        return self.status in ("create", "modify")


class JournalEntry(BaseModel):
    """One file an apply created or modified."""

    model_config = ConfigDict(extra="forbid")

    path: str
    action: Literal["created", "modified"]
    sha256_after: str
    backup: str | None = None  # relative to the run folder


class Journal(BaseModel):
    """The record of one apply, enough to undo it."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    created_at: str
    status: Literal["applied", "rolled_back", "undone"] = "applied"
    files: list[JournalEntry] = []
    created_dirs: list[str] = []


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_inside(project_dir: Path, relative: str) -> Path:
    """The absolute path of a project file, refusing absolute paths, `..` and symlink escapes."""
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise PlanError(f"plan path {relative!r} must be relative to the project and stay inside it")
    root = project_dir.resolve()
    resolved = (root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        raise PlanError(f"plan path {relative!r} leaves the project through a symlink")
    return root / candidate


def stage_changes(project_dir: Path, files: list[RenderedFile], policy: ConflictPolicy) -> list[FileChange]:
    """Compare rendered files with the project on disk and decide each file's change; writes nothing."""
    changes = []
    for rendered in files:
        target = resolve_inside(project_dir, rendered.path)
        if target.exists() and not target.is_file():
            raise PlanError(f"{rendered.path} exists in the project and is not a file")
        before = read_exact(target) if target.is_file() else None
        if rendered.kind == "yaml":
            merged = merge_properties(before, rendered.path, rendered.models, rendered.sources, policy)
            status: Literal["create", "modify", "unchanged", "kept"] = (
                "create" if before is None else ("modify" if merged.text != before else "unchanged")
            )
            if status == "unchanged" and merged.kept:
                status = "kept"
            details = [f"add {x}" for x in merged.added] + [f"replace {x}" for x in merged.replaced]
            details += [f"keep your {x}" for x in merged.kept]
            changes.append(FileChange(rendered.path, status, before, merged.text, details))
        elif before is None:
            changes.append(FileChange(rendered.path, "create", None, rendered.text))
        elif before == rendered.text:
            changes.append(FileChange(rendered.path, "unchanged", before, before))
        elif policy == "overwrite":
            changes.append(FileChange(rendered.path, "modify", before, rendered.text, ["overwrite"]))
        elif policy == "skip":
            changes.append(FileChange(rendered.path, "kept", before, before, ["keep your version"]))
        else:
            raise ConflictError(
                f"{rendered.path} already exists with other content; "
                "rerun with --on-conflict skip or --on-conflict overwrite"
            )
    return changes


def unified_diff(changes: list[FileChange]) -> str:
    """A unified diff of every change that writes, as `git diff` would show it."""
    chunks: list[str] = []
    for change in changes:
        if not change.writes:
            continue
        chunks.extend(
            difflib.unified_diff(
                (change.before or "").splitlines(keepends=True),
                change.after.splitlines(keepends=True),
                fromfile="/dev/null" if change.before is None else f"a/{change.path}",
                tofile=f"b/{change.path}",
            )
        )
    return "".join(chunks)


def read_exact(path: Path) -> str:
    """A text file's content with its line endings as they are (no newline translation)."""
    return path.read_bytes().decode("utf-8")


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and os.replace, so a crash never leaves half a file.

    A symlink is written through (the link stays a link) and an existing file keeps its permissions;
    a new file gets the permissions the umask gives any new file.
    """
    path = path.resolve() if path.is_symlink() else path
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def new_run_id() -> str:
    """A sortable id for an apply: UTC time to the microsecond."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def run_dir(project_dir: Path, run_id: str) -> Path:
    """Where the journal and backups of one apply live."""
    return project_dir / RUNS_DIR / run_id


def save_journal(project_dir: Path, journal: Journal) -> None:
    """Persist a journal next to its backups."""
    folder = run_dir(project_dir, journal.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    ignore = project_dir / ".cartridge" / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# cartridge's journals and backups: local only\n*\n", encoding="utf-8")
    write_atomic(folder / "journal.json", journal.model_dump_json(indent=2) + "\n")


def apply_changes(project_dir: Path, changes: list[FileChange]) -> Journal:
    """Write every change, journaling backups first; on any failure restore the project and re-raise."""
    journal = Journal(run_id=new_run_id(), created_at=datetime.now(timezone.utc).isoformat())
    folder = run_dir(project_dir, journal.run_id)
    try:
        for change in changes:
            if not change.writes:
                continue
            target = resolve_inside(project_dir, change.path)
            missing = [p for p in [target.parent, *target.parent.parents] if not p.exists()]
            for directory in reversed(missing):
                directory.mkdir()
                journal.created_dirs.append(directory.relative_to(project_dir).as_posix())
            entry = JournalEntry(
                path=change.path,
                action="created" if change.before is None else "modified",
                sha256_after=_sha256(change.after),
            )
            if change.before is not None:
                entry.backup = f"backup/{change.path}"
                backup = folder / entry.backup
                backup.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(backup, change.before)
            journal.files.append(entry)
            save_journal(project_dir, journal)  # journal before write: a crash leaves a journal to undo from
            write_atomic(target, change.after)
    except BaseException:
        rollback(project_dir, journal)
        raise
    return journal


def rollback(
    project_dir: Path, journal: Journal, status: Literal["rolled_back", "undone"] = "rolled_back"
) -> None:
    """Restore every file the journal touched and remove the folders it created."""
    folder = run_dir(project_dir, journal.run_id)
    for entry in reversed(journal.files):
        target = project_dir / entry.path
        if entry.backup is not None:
            write_atomic(target, read_exact(folder / entry.backup))
        elif target.is_file():
            target.unlink()
    for directory in reversed(journal.created_dirs):
        path = project_dir / directory
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    journal.status = status
    save_journal(project_dir, journal)


def load_journal(project_dir: Path, run_id: str | None) -> Journal:
    """The journal of a run, or of the latest applied run when no id is given."""
    runs = project_dir / RUNS_DIR
    if run_id is None:
        applied = (
            [
                j
                for j in (_read_journal(path) for path in sorted(runs.glob("*/journal.json")))
                if j.status == "applied"
            ]
            if runs.is_dir()
            else []
        )
        if not applied:
            raise UsageError(f"no applied cartridge run to undo in {project_dir}")
        return applied[-1]
    path = runs / run_id / "journal.json"
    if not path.is_file():
        raise UsageError(f"no cartridge run {run_id!r} in {project_dir / RUNS_DIR}")
    return _read_journal(path)


def _read_journal(path: Path) -> Journal:
    try:
        return Journal.model_validate_json(path.read_bytes())
    except ValidationError:
        raise UsageError(f"the journal {path} is damaged; restore it or undo that run by hand") from None


def undo(project_dir: Path, run_id: str | None = None) -> Journal:
    """Revert an applied run, refusing when a file it wrote was edited since."""
    journal = load_journal(project_dir, run_id)
    if journal.status != "applied":
        raise UsageError(f"cartridge run {journal.run_id} is already {journal.status.replace('_', ' ')}")
    for entry in journal.files:
        target = project_dir / entry.path
        current = read_exact(target) if target.is_file() else None
        if current is None or _sha256(current) != entry.sha256_after:
            raise UsageError(
                f"{entry.path} changed after run {journal.run_id}; undo it by hand or restore it first"
            )
    rollback(project_dir, journal, status="undone")
    return journal
