"""Shared fixtures (one embedded PostgreSQL per test session) and the test lanes.

Every test lands in exactly one lane, from where it lives: tests/unit → `unit`, tests/test_code_quality.py →
`quality`, tests/integration → `integration`, except the modules that run a whole flow (and any test marked
`slow`) → `e2e`, tests/spark → `spark` (a real local Spark, last: its JVM alone takes ≈20 s to start). A plain `pytest` runs the lanes cheapest first and stops after the first lane that fails
(`--keep-going` runs the later lanes anyway); `pytest -m unit` is the fast lane.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from cartridge_bridge.demo.local_postgres import LocalPostgres, start_postgres, stop_postgres

LANES = ("unit", "quality", "integration", "e2e", "spark")
TESTS = Path(__file__).resolve().parent
# Whole flows as a user runs them: the demo, generate on each warehouse, plan → apply → undo, brownfield projects.
E2E_MODULES = {
    "test_demo_end_to_end.py",
    "test_generate_postgres.py",
    "test_generate_duckdb.py",
    "test_plan_and_apply_cli.py",
    "test_brownfield_conventions.py",
    "test_llm_generate_duckdb.py",
    "test_llm_cli_end_to_end.py",
    "test_llm_planner_litellm.py",
}
_LANE_KEY = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--keep-going`: run every lane even after one failed."""
    parser.addoption(
        "--keep-going",
        action="store_true",
        help="run the later test lanes (integration, e2e, spark) even when an earlier lane failed",
    )


def lane_of(item: pytest.Item) -> str:
    """The lane a test belongs to, from its folder, its module and its `slow` mark."""
    path = item.path.resolve()
    if path.name == "test_code_quality.py":
        return "quality"
    if TESTS / "unit" in path.parents:
        return "unit"
    if TESTS / "spark" in path.parents:
        return "spark"
    if path.name in E2E_MODULES or item.get_closest_marker("slow") is not None:
        return "e2e"
    return "integration"


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark each test with its lane as it is collected, before `-m` selects by marks."""
    lane = lane_of(item)
    item.stash[_LANE_KEY] = lane
    item.add_marker(lane)


@pytest.hookimpl(trylast=True)  # after pytest's own reordering for fixture scopes, which a stable sort keeps
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the lanes in order: unit, quality, integration, e2e, spark."""
    items.sort(key=lambda item: LANES.index(item.stash[_LANE_KEY]))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Stop the session at the end of a lane that had a failure, before the costlier lanes start."""
    result = yield
    session = item.session
    lane = item.stash.get(_LANE_KEY, None)
    next_lane = nextitem.stash.get(_LANE_KEY, None) if nextitem is not None else None
    if (
        session.testsfailed
        and lane is not None
        and next_lane not in (None, lane)
        and not item.config.getoption("--keep-going")
    ):
        session.shouldfail = f"the {lane} lane failed; later lanes not run (--keep-going runs them)"
    return result


@pytest.fixture(autouse=True)
def _no_model_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CARTRIDGE_MODEL in the developer's shell must not turn the suite's runs into LLM runs."""
    monkeypatch.delenv("CARTRIDGE_MODEL", raising=False)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A real PostgreSQL server, started once for the whole session and stopped at its end."""
    data_dir = tmp_path_factory.mktemp("postgres") / "data"
    server = start_postgres(data_dir)
    try:
        yield server
    finally:
        stop_postgres(data_dir)
