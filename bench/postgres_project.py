"""What the PostgreSQL benchmarks share: a profiles.yml for the embedded server, a new project with cartridge."""

from __future__ import annotations

from pathlib import Path

from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.demo.local_postgres import LocalPostgres

ROOT = Path(__file__).resolve().parent.parent
PROFILE = "bench"


def profiles_yml(server: LocalPostgres, schema: str, threads: int = 1) -> str:
    """A dbt-postgres profile `bench` on the embedded server's socket, writing to `schema`."""
    return (
        f"{PROFILE}:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n"
        f"      host: {server.socket_dir}\n      port: {server.port}\n      user: postgres\n      password: ''\n"
        f"      dbname: postgres\n      schema: {schema}\n      threads: {threads}\n"
    )


def new_project(
    directory: Path, name: str, server: LocalPostgres, threads: int = 1, extra: str = ""
) -> DbtProject:
    """A dbt project `name` on the server (schema analytics) with the cartridge package of this checkout installed."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dbt_project.yml").write_text(
        f"name: {name}\nversion: '1.0'\nconfig-version: 2\nprofile: {PROFILE}\n{extra}"
    )
    (directory / "packages.yml").write_text(f"packages:\n  - local: {ROOT}\n")
    (directory / "profiles.yml").write_text(profiles_yml(server, "analytics", threads))
    project = DbtProject(directory, directory)
    project.deps()
    return project
