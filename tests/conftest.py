"""Shared fixtures (one embedded PostgreSQL per test session, so per xdist worker) and the test lanes.

Every test lands in exactly one lane, from where it lives: tests/unit → `unit`, tests/test_code_quality.py →
`quality`, tests/integration → `integration`, tests/e2e (whole flows as a user runs them) and any test marked
`slow` → `e2e`, tests/spark → `spark` (a real local Spark, last: its JVM alone takes ≈20 s to start). A plain
`pytest` runs the lanes cheapest first and leaves out the lanes after the first lane that fails, on every
worker (`--keep-going` runs them anyway); `pytest -m unit` is the fast lane. A whole-suite run goes to one
pytest-xdist worker per core, keeping the Spark lane and each module that shares a fixture on one worker; there
the Spark lane, the longest group, is sent first to one worker so that it runs beside the other lanes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cartridge_bridge.demo.local_postgres import LocalPostgres, start_postgres, stop_postgres

LANES = ("unit", "quality", "integration", "e2e", "spark")
TESTS = Path(__file__).resolve().parent
_LANE_KEY = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--keep-going`: run every lane even after one failed."""
    parser.addoption(
        "--keep-going",
        action="store_true",
        help="run the later test lanes (integration, e2e, spark) even when an earlier lane failed",
    )


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per core (four at most) for a whole-suite run, none for a run that names paths.

    Starting a worker costs seconds: worth it for the whole suite (what .ci/run runs, or `pytest -m e2e`),
    not for the few files a developer names while working.
    """
    if config.args_source is not pytest.Config.ArgsSource.TESTPATHS:
        return 0
    return min(os.cpu_count() or 1, 4)


def lane_of(item: pytest.Item) -> str:
    """The lane a test belongs to, from its folder, its module and its `slow` mark."""
    path = item.path.resolve()
    if path.name == "test_code_quality.py":
        return "quality"
    if TESTS / "unit" in path.parents:
        return "unit"
    if TESTS / "spark" in path.parents:
        return "spark"
    if TESTS / "e2e" in path.parents or item.get_closest_marker("slow") is not None:
        return "e2e"
    return "integration"


def _work_group(item: pytest.Item) -> str | None:
    """The tests a worker must run together: the Spark lane (one JVM), a module sharing a fixture."""
    if lane_of(item) == "spark":
        return "spark"
    fixtures = getattr(item, "_fixtureinfo", None)
    definitions = fixtures.name2fixturedefs.values() if fixtures is not None else ()
    if any(chain and chain[-1].scope == "module" for chain in definitions):
        # Split across two workers, a module's costly fixture (a seeded warehouse, a demo run) runs twice.
        return item.path.name
    return None


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark each test with its lane as it is collected, before `-m` selects by marks."""
    lane = lane_of(item)
    item.stash[_LANE_KEY] = lane
    item.add_marker(lane)


@pytest.hookimpl(trylast=True)  # after pytest's own reordering for fixture scopes, which a stable sort keeps
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the lanes in order: unit, quality, integration, e2e, spark; note the work groups for xdist."""
    items.sort(key=lambda item: LANES.index(item.stash[_LANE_KEY]))
    if hasattr(config, "workerinput"):
        groups = {item.nodeid: group for item in items if (group := _work_group(item)) is not None}
        written = _run_notes(config) / f"groups-{config.workerinput['workerid']}.json"  # type: ignore[attr-defined]
        written.write_text(json.dumps(groups), encoding="utf-8")


def _run_notes(config: pytest.Config) -> Path:
    """A folder this run's xdist workers and controller share: lanes that failed or were left out, work groups."""
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]  # pytest's own, as xdist uses it
    shared = base.parent if hasattr(config, "workerinput") else base  # a worker's basetemp is a sub-folder
    notes = shared / "run-notes"
    notes.mkdir(exist_ok=True)
    return notes


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` with the groups of `_work_group`, read from what the workers collected.

    xdist's own loadgroup renames node ids, which pytest 9 no longer lets it do; its scheduling by scope is kept.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        groups: dict[str, str] | None = None
        spark_first = True

        def _assign_work_unit(self, node: Any) -> None:
            # The Spark lane is one group on one worker and the longest: sent first, it runs beside the other
            # lanes instead of alone after them (on its worker it then runs before them; the lane gate still
            # leaves out its remaining tests once an earlier lane fails anywhere).
            if self.spark_first:
                self.spark_first = False
                if "spark" in self.workqueue and len(self.nodes) > 1:
                    self.workqueue.move_to_end("spark", last=False)
            super()._assign_work_unit(node)

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # first asked once every worker has collected
                self.groups = {}
                for written in sorted(_run_notes(config).glob("groups-*.json")):
                    self.groups.update(json.loads(written.read_text(encoding="utf-8")))
            return self.groups.get(nodeid, nodeid)

    return GroupScheduling(config, log)


def _failed_lanes(config: pytest.Config) -> set[str]:
    return {p.name.removeprefix("failed-") for p in _run_notes(config).glob("failed-*")}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Leave out a test whose lane comes after a lane that had a failure, on any worker (--keep-going runs it)."""
    lane = item.stash.get(_LANE_KEY, None)
    if lane is None or item.config.getoption("--keep-going"):
        return None
    if any(LANES.index(failed) < LANES.index(lane) for failed in _failed_lanes(item.config)):
        (_run_notes(item.config) / f"left-out-{lane}").touch()
        return True  # handled: not run, no report
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    """Note the lane of a test that failed (in any phase), for the gate above and the summary."""
    report = yield
    lane = item.stash.get(_LANE_KEY, None)
    if lane is not None and getattr(report, "failed", False):
        (_run_notes(item.config) / f"failed-{lane}").touch()
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Say which lane stopped the run when later lanes were left out."""
    if hasattr(config, "workerinput") or not any(_run_notes(config).glob("left-out-*")):
        return
    failed = min(_failed_lanes(config), key=LANES.index)
    terminalreporter.write_line(
        f"the {failed} lane failed; later lanes not run (--keep-going runs them)", red=True
    )


@pytest.fixture(autouse=True)
def _no_model_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CARTRIDGE_MODEL in the developer's shell must not turn the suite's runs into LLM runs."""
    monkeypatch.delenv("CARTRIDGE_MODEL", raising=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    """A real PostgreSQL server, started once for the whole session and stopped at its end.

    Its data lives outside pytest's base temp: another pytest run on the machine prunes old `pytest-N` folders
    (it keeps three), and a live server's data removed under it refuses every connection after.
    """
    folder = Path(tempfile.mkdtemp(prefix="cartridge-test-pg-"))
    data_dir = folder / "data"
    server = start_postgres(data_dir)
    try:
        yield server
    finally:
        stop_postgres(data_dir)
        shutil.rmtree(folder, ignore_errors=True)
