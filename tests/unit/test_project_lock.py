"""One run per project: the lock names its holder, is released by the kernel on death, and leaves no file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cartridge_bridge.errors import RunInProgress
from cartridge_bridge.write.project_lock import ProjectLock


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "dbt_project.yml").write_text("name: shop\n")
    return tmp_path


def test_a_second_lock_names_the_holder_and_a_released_one_leaves_no_file(project: Path) -> None:
    first = ProjectLock(project)
    first.acquire()
    try:
        with pytest.raises(
            RunInProgress,
            match=rf"another cartridge run is working on this project \(pid {os.getpid()}, started ",
        ):
            ProjectLock(project).acquire()
    finally:
        first.release()
    assert not (project / ".cartridge" / "lock").exists()
    again = ProjectLock(project)
    again.acquire()
    again.release()


def test_a_lock_file_left_by_a_dead_process_is_stale(project: Path) -> None:
    (project / ".cartridge").mkdir()
    (project / ".cartridge" / "lock").write_text('{"pid": 999999, "started_at": "2026-01-01T00:00:00+00:00"}')
    lock = ProjectLock(project)
    lock.acquire()
    try:
        assert lock.stale is not None and lock.stale.pid == 999999
    finally:
        lock.release()
