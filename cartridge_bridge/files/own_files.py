"""cartridge's own folder, `.cartridge/`: nothing in it is a link, so no lock, journal or backup ever lands outside.

An attacker with write access to a checkout can plant `.cartridge/lock -> ~/.bashrc`; every open here refuses
to follow a symlink (O_NOFOLLOW, or a check of each part of the path before a rename), and says which one.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from cartridge_bridge.errors import UsageError, WriteError

OWN_DIR = Path(".cartridge")
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# What a run's journal may need on top of its backups: every later save while the old one still exists.
JOURNAL_HEADROOM = 64 * 1024


class LinkRefused(UsageError):
    """A path in `.cartridge/` is a symlink (or a hard link): cartridge will not write through it."""


def refuse_links(project_dir: Path, path: Path) -> Path:
    """`path` itself, once no part of it from `.cartridge` down is a symlink; else LinkRefused naming the part."""
    relative = _relative(project_dir, path)
    if relative.parts[:1] != OWN_DIR.parts:
        raise ValueError(f"{path} is not in {project_dir / OWN_DIR}")
    part = project_dir
    for name in relative.parts:
        part = part / name
        if part.is_symlink():
            raise LinkRefused(
                f"{_relative(project_dir, part).as_posix()} is a symlink; cartridge does not follow links in "
                "its own folder: remove it and run again"
            )
    return path


def _relative(project_dir: Path, path: Path) -> Path:
    """`path` relative to the project, whether or not one of them went through the project folder's own link."""
    try:
        return path.relative_to(project_dir)
    except ValueError:
        return path.relative_to(project_dir.resolve())


def open_own(project_dir: Path, path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open of a file in `.cartridge/` that never follows a link, and refuses a file with other hard links."""
    refuse_links(project_dir, path)
    try:
        descriptor = os.open(path, flags | NOFOLLOW, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:  # made a symlink between the check and the open
            refuse_links(project_dir, path)
        raise
    if os.fstat(descriptor).st_nlink > 1:  # a hard link to a file elsewhere would be written in place
        os.close(descriptor)
        raise LinkRefused(
            f"{_relative(project_dir, path).as_posix()} has other hard links; cartridge will not write "
            f"through it: remove it and run again"
        )
    return descriptor


def read_own(project_dir: Path, path: Path) -> bytes:
    """The bytes of a file in `.cartridge/`, read without following a link."""
    descriptor = open_own(project_dir, path, os.O_RDONLY)
    with os.fdopen(descriptor, "rb") as stream:
        return stream.read()


def make_own_dir(project_dir: Path, path: Path) -> None:
    """Create a folder in `.cartridge/` (and its parents) after checking none of them is a link."""
    refuse_links(project_dir, path)
    path.mkdir(parents=True, exist_ok=True)


def create_once(project_dir: Path, path: Path, text: str) -> None:
    """Create a small file in `.cartridge/` unless it exists; never through a link (O_EXCL does not follow one)."""
    refuse_links(project_dir, path)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o644)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)


def check_space(project_dir: Path, folder: Path, needed: int) -> None:
    """Refuse, before anything is written, a run whose journal and backups would not fit where they go."""
    existing = next(p for p in [folder, *folder.parents] if p.exists())
    free = shutil.disk_usage(existing).free
    if free < needed + JOURNAL_HEADROOM:
        shown = _relative(project_dir, folder).as_posix()
        raise WriteError(
            f"cannot write {shown}: no space left on device for the run's journal and backups "
            f"({(needed + JOURNAL_HEADROOM) // 1024} KB needed, {free // 1024} KB free); nothing was written"
        )
