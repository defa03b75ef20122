"""The one way cartridge replaces a file (a temporary file beside it, then os.replace), and reads one exactly.

A crash at any instant leaves either the old bytes or the new ones, never half a file. The user's
files keep their permission bits, owner and group; cartridge's own records (journal, backups) are
also fsynced, file and folder, because the next step of a run may change the project on their word.
"""

from __future__ import annotations

import glob
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileMode:
    """A file's permission bits, owner and group."""

    mode: int
    uid: int
    gid: int

    @classmethod
    def of(cls, path: Path) -> FileMode:
        """The mode, owner and group of the file at `path` (following a symlink)."""
        info = path.stat()
        return cls(stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)

    def chown(self, path: Path) -> None:
        """Give `path` this owner and group when it differs and we may (root may; others only their own)."""
        info = path.stat()
        if (info.st_uid, info.st_gid) == (self.uid, self.gid):
            return
        try:
            os.chown(path, self.uid, self.gid)
        except PermissionError:
            if os.geteuid() == 0:
                raise


def write_atomic(
    path: Path,
    data: str | bytes,
    keep: FileMode | None = None,
    pause: Callable[[], None] | None = None,
    *,
    durable: bool = False,
    new_file_mode: int | None = None,
) -> None:
    """Write `data` (text is written as UTF-8, line endings untouched) so a crash never leaves half a file.

    A symlink is written through (the link stays a link); an existing file keeps its permission bits,
    owner and group (or takes `keep`'s); a new file gets `new_file_mode`, else what the umask gives any
    new file. `durable` fsyncs the file and its folder before returning. `pause` runs once the
    temporary file exists (the fault-injection tests stop the process there).
    """
    path = path.resolve() if path.is_symlink() else path
    if keep is None and path.exists():
        keep = FileMode.of(path)
    if keep is not None:
        mode = keep.mode
    elif new_file_mode is not None:
        mode = new_file_mode
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if pause is not None:
            pause()
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        if keep is not None:
            keep.chown(Path(temporary))
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(path)  # a failed write (ENOSPC, EIO) names no file: the message must
        raise
    if durable:
        _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable; a filesystem that cannot fsync a folder is left as it is."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def stray_temporary_files(path: Path) -> list[Path]:
    """Temporary files write_atomic left next to `path` when its process was killed mid-write."""
    target = path.resolve() if path.is_symlink() else path
    folder = target.parent
    if not folder.is_dir():
        return []
    return [
        p for p in folder.glob(f".{glob.escape(target.name)}.*.tmp") if p.is_file() and not p.is_symlink()
    ]


def read_exact(path: Path) -> str:
    """A text file's content with its line endings as they are (no newline translation)."""
    return path.read_bytes().decode("utf-8")
