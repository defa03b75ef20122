"""A real `cartridge generate` killed at each step of an apply, two runs at once, and undo after both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from support import duckdb_output, snapshot_tree, write_project

from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.files.faults import FAULT_POINTS

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
# The user's own model and property file: generate merges its marts into the latter (a modified file).
LEGACY = {
    "models/marts/legacy_users.sql": "select 1 as legacy_user_id\n",
    "models/marts/_marts__models.yml": (
        "# mine: keep this comment\nmodels:\n  - name: legacy_users\n    description: Hand written.\n"
    ),
}


def _cartridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cartridge"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _project(tmp_path: Path) -> Path:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_app")
        connection.execute("create table raw_app.users (id integer primary key, email varchar)")
        connection.execute("create table raw_app.sessions (id integer primary key, user_id integer)")
        connection.execute("insert into raw_app.users values (1, 'a@x.test'), (2, 'b@x.test')")
        connection.execute("insert into raw_app.sessions values (1, 1), (2, 1), (3, 2)")
    output = duckdb_output(database, "analytics") | {"keep_open": False}
    project = write_project(tmp_path / "app", "app", output, models=LEGACY)
    (project / "models/marts/_marts__models.yml").chmod(0o640)
    DbtProject(project).deps()
    return project


def _relations(tmp_path: Path) -> list[str]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "select table_name from information_schema.tables where table_schema = 'analytics'"
        ).fetchall()
    return sorted(row[0] for row in rows)


def _leftovers(project: Path) -> list[str]:
    """Temporary files anywhere in the project (cartridge's own folder aside)."""
    return [
        p.relative_to(project).as_posix()
        for p in project.rglob("*.tmp")
        if ".cartridge" not in p.relative_to(project).parts
    ]


def _folders(project: Path) -> set[str]:
    skipped = {"target", "logs", "dbt_packages", ".cartridge"}
    return {
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_dir() and not set(p.relative_to(project).parts) & skipped
    }


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_a_run_killed_at_any_step_is_reported_then_undone_byte_for_byte(tmp_path: Path, point: str) -> None:
    project = _project(tmp_path)
    where = ["--project-dir", str(project), "--profiles-dir", str(project), "--schema", "raw_app"]
    before, folders = snapshot_tree(project), _folders(project)
    mode = (project / "models/marts/_marts__models.yml").stat().st_mode

    killed = _cartridge("generate", *where, env={"CARTRIDGE_FAULT_POINT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    [run] = [p.name for p in (project / ".cartridge" / "runs").iterdir()]
    journal = json.loads((project / ".cartridge" / "runs" / run / "journal.json").read_text())
    assert journal["status"] == {"journal": "writing", "write": "writing", "written": "written"}.get(
        point, "proving"
    )
    if point == "write":
        assert [Path(p).name.startswith(".") for p in _leftovers(project)] == [True]  # the 0-byte temporary

    again = _cartridge("generate", *where)
    assert again.returncode == 2, again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    [line] = [line for line in again.stderr.splitlines() if line.startswith("error:")]
    assert f"cartridge run {run} was interrupted" in line and f"`cartridge undo {run}`" in line

    undone = _cartridge("undo", "--project-dir", str(project), "--profiles-dir", str(project))
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert f"Run {run} undone" in undone.stdout
    assert snapshot_tree(project) == before
    assert _relations(tmp_path) == []  # what the build had created is dropped
    if point == "build":
        assert "Dropped what its build created: analytics.stg_app__" in undone.stdout
    assert _folders(project) == folders and _leftovers(project) == []
    assert (project / "models/marts/_marts__models.yml").stat().st_mode == mode

    if point == "build":  # once undone, the project takes a generate as if nothing had happened
        done = _cartridge("generate", *where)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "dbt build passed" in done.stdout


def test_a_second_run_exits_at_once_naming_the_first(tmp_path: Path) -> None:
    project = _project(tmp_path)
    where = ["--project-dir", str(project), "--profiles-dir", str(project), "--schema", "raw_app"]
    before = snapshot_tree(project)
    # The first run stops itself (SIGSTOP) as soon as it holds the lock and has written its first file.
    first = subprocess.Popen(
        [str(BIN / "cartridge"), "generate", *where],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CARTRIDGE_FAULT_POINT": "written", "CARTRIDGE_FAULT_SIGNAL": "SIGSTOP"},
    )
    try:
        deadline = time.monotonic() + 120
        while not _stopped(first.pid):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        started = time.monotonic()
        second = _cartridge("generate", *where)
        assert time.monotonic() - started < 30  # at once, never waiting for the first
        assert second.returncode == 2, second.stdout + second.stderr
        [line] = [line for line in second.stderr.splitlines() if line.startswith("error:")]
        assert f"another cartridge run is working on this project (pid {first.pid}, started " in line
        undo = _cartridge("undo", "--project-dir", str(project))
        assert undo.returncode == 2 and f"pid {first.pid}" in undo.stderr  # undo waits its turn too
        os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=300)
        assert first.returncode == 0, out + err
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert not (project / ".cartridge" / "lock").exists()
    undone = _cartridge("undo", "--project-dir", str(project))
    assert undone.returncode == 0, undone.stderr
    assert snapshot_tree(project) == before


def _stopped(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] == "T"


def test_a_stale_lock_from_a_dead_process_is_cleared(tmp_path: Path) -> None:
    project = _project(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    (project / ".cartridge").mkdir()
    lock = {"pid": gone.pid, "started_at": "2026-01-01T00:00:00+00:00", "command": "cartridge generate"}
    (project / ".cartridge" / "lock").write_text(json.dumps(lock))
    result = _cartridge(
        "plan", "--project-dir", str(project), "--profiles-dir", str(project), "--schema", "raw_app"
    )
    assert result.returncode == 0, result.stderr
    assert (
        f"cleared a stale lock left by a run that is gone (pid {gone.pid}, started 2026-01-01"
        in result.stderr
    )
    assert not (project / ".cartridge" / "lock").exists()


def test_sigterm_during_the_build_rolls_back_and_says_so(tmp_path: Path) -> None:
    project = _project(tmp_path)
    where = ["--project-dir", str(project), "--profiles-dir", str(project), "--schema", "raw_app"]
    before = snapshot_tree(project)
    env = {"CARTRIDGE_FAULT_POINT": "build", "CARTRIDGE_FAULT_SIGNAL": "SIGTERM"}
    result = _cartridge("generate", *where, env=env)
    assert result.returncode == 130, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "error: interrupted by SIGTERM; what this run had written was rolled back" in result.stderr
    assert snapshot_tree(project) == before and _leftovers(project) == []
    [run] = list((project / ".cartridge" / "runs").iterdir())
    assert json.loads((run / "journal.json").read_text())["status"] == "rolled_back"
    again = _cartridge("generate", *where)
    assert again.returncode == 0, again.stdout + again.stderr


def test_an_undo_killed_between_two_drops_is_finished_by_the_next_undo(tmp_path: Path) -> None:
    project = _project(tmp_path)
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    before = snapshot_tree(project)
    done = _cartridge("generate", *where, "--schema", "raw_app")
    assert done.returncode == 0, done.stdout + done.stderr
    built = _relations(tmp_path)

    killed = _cartridge("undo", *where, env={"CARTRIDGE_FAULT_POINT": "dropped"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    [run] = list((project / ".cartridge" / "runs").iterdir())
    journal = json.loads((run / "journal.json").read_text())
    assert journal["status"] == "undoing"  # not `undone`: the drops were not all done
    assert [r["dropped"] for r in journal["relations"]].count(True) == 1
    assert len(_relations(tmp_path)) == len(built) - 1
    blocked = _cartridge("generate", *where, "--schema", "raw_app")
    assert blocked.returncode == 2 and f"`cartridge undo {run.name}`" in blocked.stderr

    undone = _cartridge("undo", *where)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert f"Run {run.name} undone" in undone.stdout
    assert _relations(tmp_path) == [] and snapshot_tree(project) == before
    assert json.loads((run / "journal.json").read_text())["status"] == "undone"
