"""One run per project: the lock names its holder, is released by the kernel on death, and leaves no file."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from cartridge_bridge.api import undo_run
from cartridge_bridge.errors import RunInProgress, UsageError
from cartridge_bridge.files.own_files import LinkRefused
from cartridge_bridge.render.plan_files import RenderedFile
from cartridge_bridge.write.project_lock import ProjectLock
from cartridge_bridge.write.transaction import apply_changes
from cartridge_bridge.write.workspace import stage_changes


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


@pytest.fixture
def victim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outside") / "victim.txt"
    path.write_text("do not touch\n")
    return path


@pytest.mark.parametrize("planted", ["symlink", "hard link"])
def test_a_lock_file_linked_out_of_the_project_is_refused_and_its_target_left_alone(
    project: Path, victim: Path, planted: str
) -> None:
    (project / ".cartridge").mkdir()
    lock = project / ".cartridge" / "lock"
    lock.symlink_to(victim) if planted == "symlink" else lock.hardlink_to(victim)
    shown = "is a symlink" if planted == "symlink" else "has other hard links"
    with pytest.raises(
        LinkRefused, match=rf"^\.cartridge/lock {shown}; cartridge .*: remove it and run again$"
    ):
        ProjectLock(project).acquire()
    assert victim.read_text() == "do not touch\n"


def test_a_cartridge_folder_linked_out_of_the_project_is_refused(project: Path, victim: Path) -> None:
    (project / ".cartridge").symlink_to(victim.parent, target_is_directory=True)
    with pytest.raises(LinkRefused, match=r"^\.cartridge is a symlink"):
        ProjectLock(project).acquire()
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]


def test_a_journal_never_writes_its_gitignore_through_a_link(project: Path, victim: Path) -> None:
    (project / ".cartridge").mkdir()
    planted = victim.parent / "made_by_cartridge"
    (project / ".cartridge" / ".gitignore").symlink_to(planted)  # dangling: `exists()` says False
    changes = stage_changes(project, [RenderedFile("models/new.sql", "sql", text="select 1\n")], "fail")
    with pytest.raises(LinkRefused, match=r"^\.cartridge/\.gitignore is a symlink"):
        apply_changes(project, changes)
    assert not planted.exists() and not (project / "models" / "new.sql").exists()


def test_undo_tells_about_the_stale_lock_it_cleared(project: Path) -> None:
    (project / ".cartridge").mkdir()
    (project / ".cartridge" / "lock").write_text('{"pid": 999999, "started_at": "2026-01-01T00:00:00+00:00"}')
    heard: list[str] = []
    with pytest.raises(UsageError, match="no applied cartridge run to undo"):
        undo_run(project, None, progress=SimpleNamespace(step=heard.append))
    assert heard == [
        "cleared a stale lock left by a run that is gone (pid 999999, started 2026-01-01T00:00:00+00:00)"
    ]
