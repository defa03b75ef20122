"""One cartridge run per project at a time: an exclusive lock on `.cartridge/lock`, released by the kernel on death."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cartridge_bridge.errors import RunInProgress, WriteError
from cartridge_bridge.files.own_files import OWN_DIR, open_own, refuse_links

LOCK_FILE = OWN_DIR / "lock"


@dataclass
class Holder:
    """Who holds (or held) a project's lock: what the lock file says."""

    pid: int | None
    started_at: str
    command: str

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The holder a lock file names, or None when it is empty or unreadable."""
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data["started_at"]), str(data.get("command", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        """`pid 123, started 2026-01-01T10:00:00+00:00 (cartridge generate …)`."""
        return f"pid {self.pid}, started {self.started_at}" + (f" ({self.command})" if self.command else "")


class ProjectLock:
    """An exclusive, non-blocking lock on a project, held from acquire() to release().

    The lock is a `flock` on `.cartridge/lock`, so a process that dies (even by SIGKILL) releases it; the
    file names the holder (pid, start time, command) for the message a second run shows. A lock file
    found unlocked but naming a holder was left by a dead process: it is cleared and `stale` says whose.
    """

    def __init__(self, project_dir: Path):
        self.project_dir = project_dir
        self.path = project_dir / LOCK_FILE
        self._descriptor: int | None = None
        self._made_folder = False  # .cartridge/ did not exist: remove it again if the run left nothing in it
        self.stale: Holder | None = None

    def acquire(self) -> None:
        """Take the lock, or raise RunInProgress naming the run that holds it."""
        import fcntl

        refuse_links(self.project_dir, self.path)  # a linked .cartridge or lock would take writes elsewhere
        try:
            self._made_folder = not self.path.parent.exists()
            self.path.parent.mkdir(exist_ok=True)
        except OSError as error:
            raise WriteError(f"cannot create {self.path.parent}: {error.strerror or error}") from None
        while True:
            try:
                descriptor = open_own(self.project_dir, self.path, os.O_RDWR | os.O_CREAT)
            except FileNotFoundError:  # the last run removed an empty .cartridge/ just now
                self.path.parent.mkdir(exist_ok=True)
                continue
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = Holder.parse(_read(descriptor))
                os.close(descriptor)
                who = holder.describe() if holder else "a process that is still starting"
                raise RunInProgress(
                    f"another cartridge run is working on this project ({who}); wait for it to finish"
                ) from None
            # The file may have been removed by its last holder between our open and our lock: start over.
            try:
                same = os.fstat(descriptor).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(descriptor)
        self.stale = Holder.parse(_read(descriptor))
        me = {
            "pid": os.getpid(),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["cartridge", *sys.argv[1:3]]) if sys.argv else "",
            "host": socket.gethostname(),
        }
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json.dumps(me) + "\n").encode("utf-8"), 0)
        os.fsync(descriptor)
        self._descriptor = descriptor

    def release(self) -> None:
        """Remove the lock file while still holding it, then let go."""
        if self._descriptor is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._descriptor)
        self._descriptor = None
        if self._made_folder:
            with contextlib.suppress(OSError):  # the run left journals (or another run began): it stays
                self.path.parent.rmdir()


def _read(descriptor: int) -> str:
    return os.pread(descriptor, 4096, 0).decode("utf-8", errors="replace")


_HELD: dict[Path, tuple[ProjectLock, int]] = {}
_GUARD = threading.Lock()


def hold(project_dir: Path) -> ProjectLock | None:
    """Take the project's lock for this process, or count one more holder when this process has it already.

    Returns the lock when it was newly taken (its `stale` tells whether a dead run's lock was cleared).
    """
    key = project_dir.resolve()
    with _GUARD:
        if key in _HELD:
            lock, count = _HELD[key]
            _HELD[key] = (lock, count + 1)
            return None
        lock = ProjectLock(key)
        lock.acquire()
        _HELD[key] = (lock, 1)
        return lock


def let_go(project_dir: Path) -> None:
    """Drop one hold on the project's lock; the last one releases it."""
    key = project_dir.resolve()
    with _GUARD:
        lock, count = _HELD[key]
        if count > 1:
            _HELD[key] = (lock, count - 1)
            return
        del _HELD[key]
        lock.release()
