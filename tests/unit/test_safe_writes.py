"""Writes that keep what the user had: symlinks, permissions, flow lists, journals."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import shop_project, snapshot_tree

from cartridge_bridge.api import undo_run
from cartridge_bridge.errors import UsageError
from cartridge_bridge.files.atomic_files import write_atomic
from cartridge_bridge.files.yaml_merge import merge_properties
from cartridge_bridge.render.plan_files import RenderedFile
from cartridge_bridge.write.journal import load_journal
from cartridge_bridge.write.transaction import apply_changes, rollback
from cartridge_bridge.write.workspace import stage_changes

MODEL = {"name": "stg_new", "description": "New."}


def test_write_atomic_keeps_permissions_and_writes_through_symlinks(tmp_path: Path) -> None:
    shared = tmp_path / "shared.yml"
    shared.write_text("models: []\n")
    shared.chmod(0o640)
    link = tmp_path / "link.yml"
    link.symlink_to(shared)
    write_atomic(link, "models:\n  - name: a\n")
    assert link.is_symlink()
    assert shared.read_text() == "models:\n  - name: a\n"
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640


def test_new_files_get_the_umasks_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new.sql", "select 1\n")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.sql").stat().st_mode) == 0o644


def test_one_writer_serves_text_bytes_durable_records_and_private_files(tmp_path: Path) -> None:
    crlf = tmp_path / "crlf.yml"
    write_atomic(crlf, "a: 1\r\nb: 2\r\n")  # text keeps its line endings
    assert crlf.read_bytes() == b"a: 1\r\nb: 2\r\n"
    record = tmp_path / "runs" / "journal.json"
    record.parent.mkdir()
    write_atomic(record, b"{}\n", durable=True)
    assert record.read_bytes() == b"{}\n"
    private = tmp_path / "answer.json"
    write_atomic(private, "{}", new_file_mode=0o600)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    private.chmod(0o640)  # an existing file keeps its own mode, whatever a new one would get
    write_atomic(private, "{ }", new_file_mode=0o600)
    assert stat.S_IMODE(private.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_apply_and_rollback_leave_a_symlinked_properties_file_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    target = tmp_path / "shared" / "_models.yml"
    target.write_text("models:\n  - name: stg_old\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "_models.yml").symlink_to(Path("..") / "shared" / "_models.yml")
    changes = stage_changes(tmp_path, [RenderedFile("models/_models.yml", "yaml", models=[MODEL])], "fail")
    journal = apply_changes(tmp_path, changes)
    assert "stg_new" in target.read_text()
    rollback(tmp_path, journal)
    assert (tmp_path / "models" / "_models.yml").is_symlink()
    assert target.read_text() == "models:\n  - name: stg_old\n"


@pytest.mark.parametrize("existing", ["models: []\n", "models: [{name: a}]\n"])
def test_adding_to_a_flow_list_gives_valid_yaml(existing: str) -> None:
    from ruamel.yaml import YAML

    text = merge_properties(existing, "m.yml", [MODEL], [], "fail").text
    names = [m["name"] for m in YAML(typ="safe").load(text)["models"]]
    assert names[-1] == "stg_new"


def test_models_that_is_not_a_list_is_named() -> None:
    with pytest.raises(UsageError, match="`models` should be a list"):
        merge_properties("models:\n  a: 1\n", "m.yml", [MODEL], [], "fail")


def test_a_damaged_journal_is_named_not_a_traceback(tmp_path: Path) -> None:
    run = tmp_path / ".cartridge" / "runs" / "20260101T000000000000Z"
    run.mkdir(parents=True)
    (run / "journal.json").write_text('{"run_id": 3}')
    (tmp_path / ".cartridge" / "runs" / "stray-folder").mkdir()
    with pytest.raises(UsageError, match=r"journal .* is damaged"):
        load_journal(tmp_path, None)


def test_a_kill_while_a_journal_is_written_leaves_no_temporary_file_past_the_next_command(
    tmp_path: Path,
) -> None:
    project = shop_project(tmp_path)
    before = snapshot_tree(project)
    apply_in_a_process = (
        "import sys; from pathlib import Path\n"
        "from cartridge_bridge.render.plan_files import RenderedFile\n"
        "from cartridge_bridge.write.transaction import apply_changes\n"
        "from cartridge_bridge.write.workspace import stage_changes\n"
        "project = Path(sys.argv[1])\n"
        "apply_changes(project, stage_changes(project, [RenderedFile('models/a.sql', 'sql', text='select 1')], 'fail'))\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", apply_in_a_process, str(project)],
        env={**os.environ, "CARTRIDGE_FAULT_POINT": "record"},
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [left] = (project / ".cartridge" / "runs").rglob("*.tmp")  # the journal's temporary file, half written
    assert left.name.startswith(".journal.json.")
    with pytest.raises(UsageError, match="no applied cartridge run to undo"):
        undo_run(project, None)  # the next command, whichever it is, sweeps it away under the lock
    assert list((project / ".cartridge").rglob("*.tmp")) == []
    assert snapshot_tree(project) == before
