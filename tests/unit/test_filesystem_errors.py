"""Filesystem trouble is one line naming the path and the problem, after a full rollback; owners and modes stay."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import snapshot_tree

from cartridge_bridge.errors import UsageError, WriteError
from cartridge_bridge.render.plan_files import RenderedFile
from cartridge_bridge.write.journal import mark
from cartridge_bridge.write.transaction import apply_changes, rollback
from cartridge_bridge.write.undo import undo
from cartridge_bridge.write.workspace import FileChange, stage_changes

NOBODY = 65534
SQL = RenderedFile("models/staging/shop/stg_shop__orders.sql", "sql", text="select 1 as order_id\n")
YAML = RenderedFile("models/_models.yml", "yaml", models=[{"name": "stg_new", "description": "New."}])
MINE = "# mine\nmodels:\n  - name: stg_old\n    description: Old.\n"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (to drop to another user, or chown)")


@pytest.fixture
def project() -> Iterator[Path]:
    """A project in a folder any user may enter (the tests drop to another user to meet permission errors)."""
    base = Path(tempfile.mkdtemp())
    base.chmod(0o755)
    (base / "models").mkdir()
    (base / "dbt_project.yml").write_text("name: shop\n")
    (base / "models" / "_models.yml").write_text(MINE)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def as_nobody() -> Iterator[None]:
    """Act as an unprivileged user for a while (root itself may write anywhere)."""
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_a_models_subfolder_that_is_a_file_is_refused_before_anything_is_written(project: Path) -> None:
    (project / "models" / "staging").write_text("not a folder\n")
    before = snapshot_tree(project)
    with pytest.raises(WriteError) as caught:
        stage_changes(project, [YAML, SQL], "fail")
    assert str(caught.value) == (
        "cannot write models/staging/shop/stg_shop__orders.sql: models/staging is a file, not a folder"
    )
    assert snapshot_tree(project) == before


@as_root
def test_a_read_only_models_folder_is_refused_before_anything_is_written(project: Path) -> None:
    for folder in (project, project / "models"):
        folder.chmod(0o755)
    (project / "models").chmod(0o555)
    before = snapshot_tree(project)
    with as_nobody(), pytest.raises(WriteError) as caught:
        stage_changes(project, [SQL], "fail")
    assert str(caught.value) == (
        "cannot write models/staging/shop/stg_shop__orders.sql: no permission to write the folder models"
    )
    assert snapshot_tree(project) == before


@as_root
def test_a_permission_error_in_the_middle_of_the_writes_restores_everything(project: Path) -> None:
    (project / "models" / "locked").mkdir()
    project.chmod(0o777)
    (project / "models").chmod(0o777)
    (project / "models" / "_models.yml").chmod(0o666)
    changes = stage_changes(project, [YAML], "fail")
    changes.append(FileChange("models/locked/stg_x.sql", "create", None, "select 1\n"))
    (project / "models" / "locked").chmod(0o555)  # after staging: the failure comes from the write itself
    before = snapshot_tree(project)
    with as_nobody(), pytest.raises(WriteError) as caught:
        apply_changes(project, changes)
    assert str(caught.value) == "cannot write models/locked: Permission denied; nothing was kept"
    assert snapshot_tree(project) == before


def test_a_file_that_is_not_utf8_is_named(project: Path) -> None:
    (project / "models" / "_models.yml").write_bytes(b"models: []\n# caf\xe9\n")
    with pytest.raises(WriteError, match=r"^cannot merge into models/_models\.yml: it is not UTF-8 text$"):
        stage_changes(project, [YAML], "fail")


def _mount_tmpfs(folder: Path, options: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[None]:
    """A real filesystem of `size` mounted on `folder` (a tmpfs) for the duration of the block."""
    folder.mkdir(exist_ok=True)
    if not _mount_tmpfs(folder, f"size={size}"):
        pytest.skip("cannot mount a small filesystem here")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _fill(folder: Path, leave: int = 0) -> None:
    """Fill the filesystem under `folder`, leaving about `leave` bytes free."""
    with open(folder / "filler", "wb", buffering=0) as stream:
        try:
            while shutil.disk_usage(folder).free > leave:
                stream.write(b"\0" * 1024)
        except OSError:  # full
            pass


def test_a_full_disk_under_cartridge_refuses_the_apply_before_anything_is_written(project: Path) -> None:
    before = snapshot_tree(project)
    with small_disk(project / ".cartridge", "64k"):
        _fill(project / ".cartridge", leave=8192)  # room for a journal, not for its later saves and backups
        with pytest.raises(WriteError) as caught:
            apply_changes(project, stage_changes(project, [SQL, YAML], "fail"))
        assert [p.name for p in (project / ".cartridge").iterdir()] == ["filler"]
    assert re.fullmatch(
        r"cannot write \.cartridge/runs/\d{8}T\d{12}Z: no space left on device for the run's journal and "
        r"backups \(\d+ KB needed, \d+ KB free\); nothing was written",
        str(caught.value),
    ), caught.value
    assert snapshot_tree(project) == before


def test_a_disk_that_fills_up_during_a_run_still_gets_the_project_back(project: Path) -> None:
    before = snapshot_tree(project)
    with small_disk(project / ".cartridge", "256k"):
        journal = apply_changes(project, stage_changes(project, [SQL, YAML], "fail"))
        _fill(project / ".cartridge")  # the journal's next save (the build's relations) finds no room
        rollback(project, journal)
        assert snapshot_tree(project) == before
        assert not (project / "models" / "staging").exists()
    assert snapshot_tree(project) == before


def test_a_read_only_filesystem_is_named(project: Path) -> None:
    folder = project / "models" / "staging"
    folder.mkdir()
    if not _mount_tmpfs(folder, "ro,size=1m"):
        pytest.skip("cannot mount a read-only filesystem here")
    try:
        with pytest.raises(WriteError) as caught:
            stage_changes(project, [SQL], "fail")
    finally:
        subprocess.run(["umount", str(folder)], check=True)
    assert str(caught.value) == (
        "cannot write models/staging/shop/stg_shop__orders.sql: the folder models/staging is on a read-only filesystem"
    )


@as_root
def test_a_modified_file_keeps_its_owner_and_mode_through_apply_and_undo(project: Path) -> None:
    properties = project / "models" / "_models.yml"
    os.chown(properties, 1234, 5678)
    properties.chmod(0o640)
    before = snapshot_tree(project)
    journal = apply_changes(project, stage_changes(project, [YAML], "fail"))
    mark(project, journal, "applied")
    info = properties.stat()
    assert "stg_new" in properties.read_text()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 5678, 0o640)
    undo(project)
    info = properties.stat()
    assert snapshot_tree(project) == before
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 5678, 0o640)


def test_undo_puts_back_a_mode_changed_since_the_run(project: Path) -> None:
    properties = project / "models" / "_models.yml"
    properties.chmod(0o600)
    journal = apply_changes(project, stage_changes(project, [YAML], "fail"))
    mark(project, journal, "proving")  # interrupted before dbt proved it
    properties.write_text(MINE)  # as if the kill came before this write…
    properties.chmod(0o644)  # …and someone opened up its mode
    undo(project)
    assert stat.S_IMODE(properties.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "existing",
    [
        MINE + "...\n",
        "---\n" + MINE + "...\n# after the end\n",
        "%YAML 1.1\n---\n" + MINE,
        MINE.replace("\n", "\r\n") + "...\r\n",
    ],
)
def test_a_properties_file_with_document_markers_is_merged_keeping_them(project: Path, existing: str) -> None:
    import yaml as pyyaml  # what dbt reads YAML with

    (project / "models" / "_models.yml").write_bytes(existing.encode())
    [change] = stage_changes(project, [YAML], "fail")
    assert change.status == "modify"
    assert change.after.startswith(existing.split("...")[0].rstrip("\r\n"))
    if "..." in existing:
        assert change.after.endswith(existing[existing.index("...") :])
    assert [m["name"] for m in pyyaml.safe_load(change.after)["models"]] == ["stg_old", "stg_new"]


@pytest.mark.parametrize("existing", [MINE + "---\nmodels: []\n", MINE + "...\n---\nmodels: []\n"])
def test_a_properties_file_with_several_documents_is_refused_before_anything_is_written(
    project: Path, existing: str
) -> None:
    (project / "models" / "_models.yml").write_text(existing)
    with pytest.raises(UsageError, match=r"models/_models\.yml holds several YAML documents"):
        stage_changes(project, [YAML], "fail")


def test_a_flow_style_properties_file_is_merged_into_valid_yaml(project: Path) -> None:
    import yaml as pyyaml

    (project / "models" / "_models.yml").write_text("{models: [{name: stg_old, description: Old.}]}\n")
    [change] = stage_changes(project, [YAML], "fail")
    assert pyyaml.safe_load(change.after) == {
        "models": [{"name": "stg_old", "description": "Old."}, {"name": "stg_new", "description": "New."}]
    }


def _mount_full(folder: Path) -> bool:
    """A tiny tmpfs at `folder`, filled up: the next write there fails with ENOSPC."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)]).returncode != 0:
        return False
    with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
        while True:
            filler.write(b"x" * 4096)
            filler.flush()
    return True


def test_a_full_disk_names_the_file_and_restores_everything(project: Path) -> None:
    folder = project / "models" / "staging"
    folder.mkdir()
    if not _mount_full(folder):
        pytest.skip("cannot mount a tmpfs here")
    before = snapshot_tree(project)
    try:
        with pytest.raises(WriteError) as caught:
            apply_changes(project, stage_changes(project, [YAML, SQL], "fail"))
        after = snapshot_tree(project)
    finally:
        subprocess.run(["umount", str(folder)], check=True)
    assert str(caught.value) == (
        "cannot write models/staging/shop/stg_shop__orders.sql: No space left on device; nothing was kept"
    )
    assert after == before
