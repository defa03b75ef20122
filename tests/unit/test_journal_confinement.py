"""Undo stays inside the project: run ids are names, journals are checked, damaged or foreign ones are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import snapshot_tree

from cartridge_bridge.errors import RunInProgress, UsageError
from cartridge_bridge.render.plan_files import RenderedFile
from cartridge_bridge.write.journal import JournalError, load_journal, mark, unfinished_runs
from cartridge_bridge.write.transaction import apply_changes, recover
from cartridge_bridge.write.undo import undo
from cartridge_bridge.write.workspace import stage_changes

RUN = "20260101T000000000000Z"
NEW_SQL = RenderedFile("models/stg_new.sql", "sql", text="select 1 as id\n")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: shop\n")
    (root / "models" / "mine.sql").write_text("select 2 as id\n")
    return root


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text("do not touch\n")
    return path


def _journal(project: Path, folder_name: str, **fields: object) -> Path:
    folder = project / ".cartridge" / "runs" / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    journal = {"run_id": folder_name, "created_at": "2026-01-01T00:00:00+00:00", "status": "applied"} | fields
    (folder / "journal.json").write_text(json.dumps(journal))
    return folder


@pytest.mark.parametrize(
    "run_id", ["../../../x", "..", "/etc", "20260101T000000000000Z/../../x", "latest", "", "a b"]
)
def test_a_run_id_that_is_not_a_name_is_refused(project: Path, run_id: str) -> None:
    with pytest.raises(UsageError, match="is not a cartridge run id"):
        undo(project, run_id)


def test_a_run_id_that_walks_out_to_a_journal_elsewhere_is_never_read(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "x"
    _journal(elsewhere, RUN, files=[{"path": "models/mine.sql", "action": "created", "sha256_after": "0"}])
    with pytest.raises(UsageError, match="is not a cartridge run id"):
        undo(project, f"../../../x/.cartridge/runs/{RUN}")
    assert (project / "models" / "mine.sql").exists()


@pytest.mark.parametrize("hostile", ["../victim.txt", "models/../../victim.txt", "VICTIM_ABSOLUTE"])
def test_a_journal_entry_outside_the_project_is_refused(project: Path, victim: Path, hostile: str) -> None:
    path = str(victim) if hostile == "VICTIM_ABSOLUTE" else hostile
    entry = {"path": path, "action": "created", "sha256_after": "0"}
    _journal(project, RUN, files=[entry])
    with pytest.raises(JournalError, match="must be relative to the project and stay inside it"):
        undo(project, RUN)
    with pytest.raises(JournalError):
        undo(project)
    assert victim.read_text() == "do not touch\n"


def test_a_journal_entry_through_a_symlink_that_leaves_is_refused(project: Path, victim: Path) -> None:
    (project / "models" / "escape").symlink_to(victim.parent, target_is_directory=True)
    _journal(
        project, RUN, files=[{"path": "models/escape/victim.txt", "action": "created", "sha256_after": "0"}]
    )
    with pytest.raises(JournalError, match="leaves the project through a symlink"):
        undo(project, RUN)
    assert victim.read_text() == "do not touch\n"


def test_a_backup_that_is_not_the_runs_own_is_refused(project: Path, victim: Path) -> None:
    entry = {
        "path": "models/mine.sql",
        "action": "modified",
        "sha256_after": "0",
        "backup": "../../../../victim.txt",
    }
    _journal(project, RUN, files=[entry])
    with pytest.raises(JournalError, match="foreign backup"):
        undo(project, RUN)
    assert (project / "models" / "mine.sql").read_text() == "select 2 as id\n"


def test_a_backup_symlinked_out_of_the_run_folder_is_refused(project: Path, victim: Path) -> None:
    journal = apply_changes(
        project, stage_changes(project, [RenderedFile("models/mine.sql", "sql", text="x\n")], "overwrite")
    )
    backup = project / ".cartridge" / "runs" / journal.run_id / "backup" / "models" / "mine.sql"
    backup.unlink()
    backup.symlink_to(victim)
    with pytest.raises(JournalError, match="leads out of the run folder"):
        undo(project, journal.run_id)
    assert victim.read_text() == "do not touch\n"


def test_a_run_with_a_linked_backup_is_refused_whole_before_any_file_is_touched(
    project: Path, victim: Path
) -> None:
    changes = stage_changes(
        project, [NEW_SQL, RenderedFile("models/mine.sql", "sql", text="x\n")], "overwrite"
    )
    journal = apply_changes(project, changes)
    mark(project, journal, "applied")
    after = snapshot_tree(project)
    backup = project / ".cartridge" / "runs" / journal.run_id / "backup" / "models" / "mine.sql"
    backup.unlink()
    backup.symlink_to(victim)
    with pytest.raises(
        JournalError,
        match=r"backup of models/mine\.sql in .* leads out of the run folder \(it is a link\); refused: undo that",
    ):
        undo(project, journal.run_id)
    assert snapshot_tree(project) == after  # the file the run created is still there: nothing was touched
    assert unfinished_runs(project) == []  # the run is still `applied`, not half undone
    recover(project, lambda message: None)  # so the next command is not stopped by it


def test_a_journal_from_another_run_folder_is_refused(project: Path) -> None:
    _journal(project, RUN, run_id="20250101T000000000000Z")
    with pytest.raises(JournalError, match="belongs to run '20250101T000000000000Z'"):
        undo(project, RUN)


@pytest.mark.parametrize("text", ["{", '{"run_id": 3}', '{"run_id": "x", "status": "exploded"}', ""])
def test_a_damaged_journal_is_refused_with_its_path(project: Path, text: str) -> None:
    folder = project / ".cartridge" / "runs" / RUN
    folder.mkdir(parents=True)
    (folder / "journal.json").write_text(text)
    with pytest.raises(
        JournalError, match=f"journal {folder / 'journal.json'} is damaged; it was not followed"
    ):
        undo(project, RUN)


def test_undo_of_an_interrupted_run_restores_whatever_was_written(project: Path) -> None:
    before = snapshot_tree(project)
    changes = stage_changes(
        project,
        [NEW_SQL, RenderedFile("models/mine.sql", "sql", text="select 3 as id\n")],
        "overwrite",
    )
    journal = apply_changes(project, changes)
    mark(project, journal, "proving")  # the process died while dbt was proving the files
    (project / "models" / "stg_new.sql").unlink()  # as if the kill came before this write
    [interrupted] = unfinished_runs(project)
    assert interrupted.run_id == journal.run_id
    with pytest.raises(RunInProgress, match=f"run `cartridge undo {journal.run_id}` to restore it first"):
        recover(project, lambda message: None)
    assert undo(project).run_id == journal.run_id
    assert snapshot_tree(project) == before
    assert load_journal(project, journal.run_id).status == "undone"


def test_an_interrupted_rollback_is_finished_on_the_next_start(project: Path) -> None:
    before = snapshot_tree(project)
    journal = apply_changes(project, stage_changes(project, [NEW_SQL], "fail"))
    mark(project, journal, "rolling_back")
    heard: list[str] = []
    recover(project, heard.append)
    assert heard == [f"finished rolling back run {journal.run_id}, which was interrupted"]
    assert snapshot_tree(project) == before and unfinished_runs(project) == []


def test_undo_of_an_older_run_waits_for_the_interrupted_one(project: Path) -> None:
    first = apply_changes(project, stage_changes(project, [NEW_SQL], "fail"))
    mark(project, first, "applied")
    second = apply_changes(
        project,
        stage_changes(project, [RenderedFile("models/other.sql", "sql", text="select 4 as id\n")], "fail"),
    )
    with pytest.raises(
        UsageError, match=f"run {second.run_id} was interrupted; run `cartridge undo {second.run_id}` first"
    ):
        undo(project, first.run_id)
