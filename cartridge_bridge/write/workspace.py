"""Stage rendered files against the project: the conflict policy, the diff, and atomic writes that keep modes."""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cartridge_bridge.errors import ConflictError, PlanError, WriteError
from cartridge_bridge.files.atomic_files import read_exact
from cartridge_bridge.write.journal import inside

if TYPE_CHECKING:  # undo reads FileChange and paths from here: it must not pay for rendering and YAML merges
    from cartridge_bridge.files.yaml_merge import ConflictPolicy
    from cartridge_bridge.render.plan_files import RenderedFile


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


def resolve_inside(project_dir: Path, relative: str) -> Path:
    """The absolute path of a project file, refusing absolute paths, `..` and symlink escapes."""
    return inside(project_dir, relative, "plan path", PlanError)


def stage_changes(project_dir: Path, files: list[RenderedFile], policy: ConflictPolicy) -> list[FileChange]:
    """Compare rendered files with the project on disk and decide each file's change; writes nothing."""
    from cartridge_bridge.files.yaml_merge import merge_properties

    changes = []
    for rendered in files:
        target = resolve_inside(project_dir, rendered.path)
        check_writable(project_dir, target, rendered.path)
        before = read_text(target, rendered.path) if target.is_file() else None
        if rendered.wraps is not None:
            changes.append(_wrap(rendered, before))
        elif rendered.kind == "yaml":
            merged = merge_properties(
                before,
                rendered.path,
                rendered.models,
                rendered.sources,
                policy,
                rendered.semantic_models,
                rendered.metrics,
                rendered.version,
                rendered.indent,
                rendered.extend_models,
            )
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


def _wrap(rendered: RenderedFile, before: str | None) -> FileChange:
    """An in-place edit of an existing model's SQL, refused unless the file is exactly what the plan was made from."""
    from cartridge_bridge.render.plan_files import fill_slot

    if before is None:
        raise PlanError(f"{rendered.path} no longer exists; make the plan again")
    if hashlib.sha256(before.encode("utf-8")).hexdigest() != rendered.wraps:
        raise PlanError(f"{rendered.path} changed since the plan was made; make the plan again")
    return FileChange(rendered.path, "modify", before, fill_slot(rendered.text, before), ["extend in place"])


def unified_diff(changes: list[FileChange]) -> str:
    """A unified diff of every change that writes, as `git diff` would show it (`git apply` takes it)."""
    chunks: list[str] = []
    for change in changes:
        if not change.writes:
            continue
        for line in difflib.unified_diff(
            _patch_lines(change.before or ""),
            _patch_lines(change.after),
            fromfile="/dev/null" if change.before is None else f"a/{change.path}",
            tofile=f"b/{change.path}",
        ):
            chunks.append(line)
            if not line.endswith("\n"):  # the last line of a file without a final newline
                chunks.append("\n\\ No newline at end of file\n")
    return "".join(chunks)


def _patch_lines(text: str) -> list[str]:
    """A file's lines as git counts them: split at `\\n` only (str.splitlines also splits at \\x0c, \\u2028, …)."""
    lines = text.split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


def check_writable(project_dir: Path, target: Path, relative: str) -> None:
    """Refuse, before anything is written, a file whose folder is a file, is read-only or is not ours to write."""
    if target.exists() and not target.is_file():
        raise PlanError(f"{relative} exists in the project and is not a file")
    root = project_dir.resolve()
    for folder in target.parents:
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                raise WriteError(
                    f"cannot write {relative}: {folder.relative_to(root).as_posix()} is a file, not a folder"
                )
            if not _may(folder, os.W_OK | os.X_OK):
                shown = folder.relative_to(root).as_posix() if folder != root else str(root)
                raise WriteError(f"cannot write {relative}: {describe_access(folder, f'the folder {shown}')}")
            break
        if folder == root:
            break
    if target.is_file() and not _may(target, os.W_OK):
        raise WriteError(f"cannot write {relative}: {describe_access(target, 'the file')}")


def _may(path: Path, mode: int) -> bool:
    """Whether this process (by its effective user) may access `path` so; a read-only filesystem says no."""
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)


def describe_access(path: Path, shown: str) -> str:
    """Why we may not write at `path` (shown to the user as `shown`): a read-only filesystem, or no permission."""
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return f"{shown} is on a read-only filesystem" if read_only else f"no permission to write {shown}"


def read_text(path: Path, relative: str) -> str:
    """A project file's text as it is, or one line naming the file when it cannot be read as UTF-8."""
    try:
        return read_exact(path)
    except UnicodeDecodeError:
        raise WriteError(f"cannot merge into {relative}: it is not UTF-8 text") from None
    except OSError as error:
        raise WriteError(f"cannot read {relative}: {error.strerror or error}") from None
