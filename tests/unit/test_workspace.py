"""Unit tests of cartridge_bridge.write.workspace on a project in tmp_path: staging, apply, rollback and undo."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from support import snapshot_tree

from cartridge_bridge.errors import ConflictError, PlanError, UsageError, WriteError
from cartridge_bridge.render.plan_files import RenderedFile
from cartridge_bridge.write.journal import Journal, load_journal, mark
from cartridge_bridge.write.transaction import apply_changes, rollback
from cartridge_bridge.write.undo import undo
from cartridge_bridge.write.workspace import FileChange, resolve_inside, stage_changes, unified_diff

LEGACY_SQL = "select * from {{ source('legacy', 'payments') }}\n"
MODELS_YML = "# hand-written\nmodels:\n  - name: stg_legacy\n    description: Legacy.\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "dbt_project.yml").write_text("name: shop\n", encoding="utf-8")
    legacy = tmp_path / "models" / "legacy"
    legacy.mkdir(parents=True)
    (legacy / "stg_legacy.sql").write_text(LEGACY_SQL, encoding="utf-8")
    (legacy / "_legacy__models.yml").write_text(MODELS_YML, encoding="utf-8")
    return tmp_path


def sql(path: str, text: str) -> RenderedFile:
    return RenderedFile(path, "sql", text=text)


def yaml(path: str, *names: str, description: str = "Generated.") -> RenderedFile:
    return RenderedFile(path, "yaml", models=[{"name": n, "description": description} for n in names])


NEW_SQL = sql("models/staging/shop/stg_shop__orders.sql", "select 1 as order_id\n")
NEW_YAML = yaml("models/staging/shop/_shop__models.yml", "stg_shop__orders")
ADD_TO_YAML = yaml("models/legacy/_legacy__models.yml", "stg_legacy_v2")
CHANGED_SQL = sql("models/legacy/stg_legacy.sql", "select 2 as payment_id\n")


def applied(project: Path, changes: list[FileChange]) -> Journal:
    """Apply and mark the run applied, as the verify loop does once dbt proved it."""
    journal = apply_changes(project, changes)
    mark(project, journal, "applied")
    return journal


def directories(project: Path) -> set[str]:
    return {
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_dir() and ".cartridge" not in p.relative_to(project).parts
    }


def statuses(changes: list[FileChange]) -> dict[str, str]:
    return {c.path: c.status for c in changes}


def test_stage_changes_statuses(project: Path) -> None:
    same_sql = sql("models/legacy/stg_legacy.sql", LEGACY_SQL)
    same_yaml = yaml("models/legacy/_legacy__models.yml", "stg_legacy", description="Legacy.")
    changes = stage_changes(project, [NEW_SQL, NEW_YAML, ADD_TO_YAML, same_sql], "fail")
    assert statuses(changes) == {
        NEW_SQL.path: "create",
        NEW_YAML.path: "create",
        ADD_TO_YAML.path: "modify",
        same_sql.path: "unchanged",
    }
    assert [c.writes for c in changes] == [True, True, True, False]
    assert stage_changes(project, [same_yaml], "fail")[0].status == "unchanged"
    added = next(c for c in changes if c.path == ADD_TO_YAML.path)
    assert added.before == MODELS_YML
    assert added.after.startswith(MODELS_YML)
    assert added.details == ["add model stg_legacy_v2"]


def test_stage_changes_writes_nothing(project: Path) -> None:
    before = snapshot_tree(project)
    stage_changes(project, [NEW_SQL, NEW_YAML, ADD_TO_YAML, CHANGED_SQL], "overwrite")
    assert snapshot_tree(project) == before
    assert not (project / ".cartridge").exists()


def test_differing_yaml_entry_kept_under_skip(project: Path) -> None:
    edited = yaml("models/legacy/_legacy__models.yml", "stg_legacy", description="Not what you wrote.")
    [change] = stage_changes(project, [edited], "skip")
    assert (change.status, change.after, change.details) == (
        "kept",
        MODELS_YML,
        ["keep your model stg_legacy"],
    )
    assert not change.writes


def test_differing_sql_fails_under_fail(project: Path) -> None:
    with pytest.raises(
        ConflictError, match=r"^models/legacy/stg_legacy\.sql already exists with other content"
    ):
        stage_changes(project, [CHANGED_SQL], "fail")


def test_differing_sql_kept_under_skip(project: Path) -> None:
    [change] = stage_changes(project, [CHANGED_SQL], "skip")
    assert (change.status, change.before, change.after) == ("kept", LEGACY_SQL, LEGACY_SQL)
    assert not change.writes


def test_differing_sql_replaced_under_overwrite(project: Path) -> None:
    [change] = stage_changes(project, [CHANGED_SQL], "overwrite")
    assert (change.status, change.before, change.after) == ("modify", LEGACY_SQL, CHANGED_SQL.text)
    assert change.details == ["overwrite"]


def test_replaces_marks_changes_that_lose_user_content(project: Path) -> None:
    replaced_yaml = yaml("models/legacy/_legacy__models.yml", "stg_legacy", description="Not what you wrote.")
    changes = stage_changes(project, [NEW_SQL, ADD_TO_YAML, CHANGED_SQL], "overwrite")
    changes += stage_changes(project, [replaced_yaml], "overwrite")
    assert [(c.status, c.replaces) for c in changes] == [
        ("create", False),
        ("modify", False),
        ("modify", True),
        ("modify", True),
    ]
    assert changes[-1].details == ["replace model stg_legacy"]


def test_unified_diff(project: Path) -> None:
    (project / "models/legacy/same.sql").write_text("x\n", encoding="utf-8")
    changes = stage_changes(
        project, [NEW_SQL, CHANGED_SQL, sql("models/legacy/same.sql", "x\n")], "overwrite"
    )
    diff = unified_diff(changes)
    assert diff == (
        "--- /dev/null\n"
        "+++ b/models/staging/shop/stg_shop__orders.sql\n"
        "@@ -0,0 +1 @@\n"
        "+select 1 as order_id\n"
        "--- a/models/legacy/stg_legacy.sql\n"
        "+++ b/models/legacy/stg_legacy.sql\n"
        "@@ -1 +1 @@\n"
        "-select * from {{ source('legacy', 'payments') }}\n"
        "+select 2 as payment_id\n"
    )
    assert unified_diff([c for c in changes if not c.writes]) == ""


def test_apply_writes_files_journal_and_backups(project: Path) -> None:
    changes = stage_changes(project, [NEW_SQL, NEW_YAML, ADD_TO_YAML, CHANGED_SQL], "overwrite")
    journal = apply_changes(project, changes)
    for change in changes:
        assert (project / change.path).read_text(encoding="utf-8") == change.after
    run = project / ".cartridge" / "runs" / journal.run_id
    saved = json.loads((run / "journal.json").read_text(encoding="utf-8"))
    assert saved["status"] == "written"  # applied only once dbt proved it
    assert [(f["path"], f["action"]) for f in saved["files"]] == [
        (NEW_SQL.path, "created"),
        (NEW_YAML.path, "created"),
        (ADD_TO_YAML.path, "modified"),
        (CHANGED_SQL.path, "modified"),
    ]
    assert saved["created_dirs"] == ["models/staging", "models/staging/shop"]
    assert (run / "backup" / CHANGED_SQL.path).read_text(encoding="utf-8") == LEGACY_SQL
    assert (run / "backup" / ADD_TO_YAML.path).read_text(encoding="utf-8") == MODELS_YML
    assert [f["backup"] for f in saved["files"]] == [
        None,
        None,
        f"backup/{ADD_TO_YAML.path}",
        f"backup/{CHANGED_SQL.path}",
    ]
    assert (project / ".cartridge" / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert Journal.model_validate(saved) == journal


def test_apply_skips_changes_that_do_not_write(project: Path) -> None:
    changes = stage_changes(project, [CHANGED_SQL, NEW_SQL], "skip")
    journal = apply_changes(project, changes)
    assert [f.path for f in journal.files] == [NEW_SQL.path]
    assert (project / CHANGED_SQL.path).read_text(encoding="utf-8") == LEGACY_SQL


def test_rollback_restores_byte_for_byte_and_removes_created_folders(project: Path) -> None:
    before, folders = snapshot_tree(project), directories(project)
    changes = stage_changes(project, [NEW_SQL, NEW_YAML, ADD_TO_YAML, CHANGED_SQL], "overwrite")
    journal = apply_changes(project, changes)
    assert snapshot_tree(project) != before
    rollback(project, journal)
    assert snapshot_tree(project) == before
    assert directories(project) == folders
    assert load_journal(project, journal.run_id).status == "rolled_back"


def test_rollback_keeps_created_folders_that_hold_other_files(project: Path) -> None:
    journal = apply_changes(project, stage_changes(project, [NEW_SQL], "fail"))
    (project / "models/staging/shop/notes.md").write_text("mine\n", encoding="utf-8")
    rollback(project, journal)
    assert not (project / NEW_SQL.path).exists()
    assert (project / "models/staging/shop/notes.md").read_text(encoding="utf-8") == "mine\n"


def test_undo_reverts_the_latest_applied_run(project: Path) -> None:
    original = snapshot_tree(project)
    first = applied(project, stage_changes(project, [NEW_SQL], "fail"))
    after_first = snapshot_tree(project)
    second = applied(project, stage_changes(project, [ADD_TO_YAML, CHANGED_SQL], "overwrite"))
    assert second.run_id > first.run_id
    undone = undo(project)
    assert undone.run_id == second.run_id
    assert undone.status == "undone"
    assert snapshot_tree(project) == after_first
    assert undo(project).run_id == first.run_id
    assert snapshot_tree(project) == original


def test_undo_refuses_a_file_edited_after_apply(project: Path) -> None:
    journal = applied(project, stage_changes(project, [NEW_SQL, CHANGED_SQL], "overwrite"))
    (project / CHANGED_SQL.path).write_text("select 3 as payment_id\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        undo(project)
    assert str(caught.value).startswith(f"{CHANGED_SQL.path} changed after run {journal.run_id}")
    assert (project / NEW_SQL.path).exists()  # nothing was undone
    assert load_journal(project, journal.run_id).status == "applied"


def test_undo_refuses_a_created_file_deleted_after_apply(project: Path) -> None:
    applied(project, stage_changes(project, [NEW_SQL], "fail"))
    (project / NEW_SQL.path).unlink()
    with pytest.raises(UsageError, match=f"^{re.escape(NEW_SQL.path)} changed after run"):
        undo(project)


def test_undo_twice_is_refused(project: Path) -> None:
    journal = applied(project, stage_changes(project, [NEW_SQL], "fail"))
    undo(project)
    with pytest.raises(UsageError, match="no applied cartridge run to undo"):
        undo(project)
    with pytest.raises(UsageError, match=f"cartridge run {journal.run_id} is already undone"):
        undo(project, journal.run_id)


def test_undo_without_runs_or_of_an_unknown_run(project: Path) -> None:
    with pytest.raises(UsageError, match="no applied cartridge run to undo"):
        undo(project)
    with pytest.raises(UsageError, match="no cartridge run '20200101T000000000000Z'"):
        undo(project, "20200101T000000000000Z")


@pytest.mark.parametrize("relative", ["../outside.sql", "models/../../outside.sql", "models/a/../../../x"])
def test_resolve_inside_refuses_parent_references(project: Path, relative: str) -> None:
    with pytest.raises(PlanError, match="must be relative to the project and stay inside it"):
        resolve_inside(project, relative)


def test_resolve_inside_refuses_absolute_paths(project: Path) -> None:
    with pytest.raises(PlanError, match=r"plan path '/etc/passwd'"):
        resolve_inside(project, "/etc/passwd")
    with pytest.raises(PlanError):
        resolve_inside(project, str(project / "models" / "x.sql"))


def test_resolve_inside_refuses_a_symlink_that_escapes(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (project / "models" / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PlanError, match="leaves the project through a symlink"):
        resolve_inside(project, "models/escape/stg_x.sql")
    with pytest.raises(PlanError, match="leaves the project through a symlink"):
        stage_changes(project, [sql("models/escape/stg_x.sql", "select 1\n")], "fail")
    assert list(outside.iterdir()) == []


def test_resolve_inside_accepts_paths_and_symlinks_within(project: Path) -> None:
    (project / "models" / "alias").symlink_to(project / "models" / "legacy", target_is_directory=True)
    assert resolve_inside(project, "models/alias/x.sql") == project.resolve() / "models/alias/x.sql"
    assert resolve_inside(project, "models/new/x.sql") == project.resolve() / "models/new/x.sql"


def test_failure_mid_apply_restores_the_project(project: Path) -> None:
    before, folders = snapshot_tree(project), directories(project)
    changes = stage_changes(project, [NEW_SQL, CHANGED_SQL], "overwrite")
    changes.append(FileChange("models/../../escape.sql", "create", None, "select 1\n"))
    with pytest.raises(PlanError):
        apply_changes(project, changes)
    assert snapshot_tree(project) == before
    assert directories(project) == folders
    assert not (project / ".cartridge").exists()  # refused before its journal: a bad path is found first
    with pytest.raises(UsageError, match="no applied cartridge run"):
        undo(project)


def test_failure_writing_the_second_file_leaves_the_project_as_before(project: Path) -> None:
    (project / "models" / "staging" / "shop" / "_shop__models.yml").mkdir(parents=True)
    before, folders = snapshot_tree(project), directories(project)
    changes = stage_changes(project, [NEW_SQL, CHANGED_SQL], "overwrite")
    changes.insert(1, FileChange(NEW_YAML.path, "create", None, "models: []\n"))
    with pytest.raises(
        WriteError, match=r"^cannot write models/staging/shop/_shop__models\.yml: Is a directory"
    ):
        apply_changes(project, changes)
    assert snapshot_tree(project) == before
    assert directories(project) == folders


def test_undo_restores_crlf_files_byte_for_byte(project: Path) -> None:
    crlf = project / CHANGED_SQL.path
    crlf.write_bytes(b"select *\r\nfrom {{ source('legacy', 'payments') }}\r\n")
    before = snapshot_tree(project)
    applied(project, stage_changes(project, [CHANGED_SQL], "overwrite"))
    undo(project)
    assert snapshot_tree(project) == before


_ENDINGS = {
    "a final newline": "models:\n  - name: stg_old\n",
    "no final newline": "models:\n  - name: stg_old",
    "CRLF, no final newline": "models:\r\n  - name: stg_old",
    "a form feed and a line separator inside a line": "models:\n  - name: stg_old # a\x0cb\u2028c",
}


@pytest.mark.parametrize("before", _ENDINGS.values(), ids=_ENDINGS.keys())
@pytest.mark.parametrize("after_ending", ["\n", ""], ids=["ends with a newline", "ends without"])
def test_a_dry_run_diff_applies_with_git(tmp_path: Path, before: str, after_ending: str) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "_models.yml").write_bytes(before.encode())
    after = before.rstrip("\n") + "\n  - name: stg_new" + after_ending
    changes = [
        FileChange("models/_models.yml", "modify", before, after),
        FileChange("models/stg_new.sql", "create", None, "select 1 as id" + after_ending),
        FileChange("models/kept.sql", "kept", "select 2", "select 2"),
    ]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    patch = unified_diff(changes)
    checked = subprocess.run(
        ["git", "apply", "-p1", "--check", "-"], cwd=tmp_path, input=patch.encode(), capture_output=True
    )
    assert checked.returncode == 0, checked.stderr.decode() + patch
    subprocess.run(["git", "apply", "-p1", "-"], cwd=tmp_path, input=patch.encode(), check=True)
    assert (tmp_path / "models" / "_models.yml").read_bytes() == after.encode()
    assert (tmp_path / "models" / "stg_new.sql").read_bytes() == ("select 1 as id" + after_ending).encode()
