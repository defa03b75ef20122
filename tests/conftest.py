"""Shared fixtures: one embedded PostgreSQL per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cartridge_bridge.demo.local_postgres import LocalPostgres, start_postgres, stop_postgres


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A real PostgreSQL server, started once for the whole session and stopped at its end."""
    data_dir = tmp_path_factory.mktemp("postgres") / "data"
    server = start_postgres(data_dir)
    try:
        yield server
    finally:
        stop_postgres(data_dir)
