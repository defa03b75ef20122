"""`cartridge demo`: embedded PostgreSQL, a sample shop's raw data, a new dbt project, generated and built."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from cartridge_bridge.api import ApplyReport, ProjectOptions, generate, init_project
from cartridge_bridge.config import CartridgeConfig
from cartridge_bridge.dbt.package_install import InitOptions
from cartridge_bridge.dbt.runner import BuildSummary, DbtProject, FreshnessSummary
from cartridge_bridge.demo.load_raw import LOADED_AT, load_shop, resync_shop
from cartridge_bridge.demo.local_postgres import LocalPostgres, start_postgres, stop_postgres
from cartridge_bridge.demo.shop_data import shop_tables
from cartridge_bridge.errors import UsageError
from cartridge_bridge.files.atomic_files import write_atomic
from cartridge_bridge.files.yaml_merge import dump_yaml
from cartridge_bridge.planners import planner_name
from cartridge_bridge.progress import Progress

PROJECT_NAME = "shop_demo"
RAW_SCHEMA = "raw"
SOURCE_NAME = "shop"
MARKER = Path(".cartridge") / "demo.json"
DATA_DIR = "pgdata"


@dataclass
class DemoReport:
    """What the demo did, for the CLI to show."""

    project_dir: Path
    postgres: LocalPostgres
    loaded_rows: dict[str, int] | None  # None when the raw data was already in place (synced again)
    apply: ApplyReport
    rebuild: BuildSummary | None  # a full build when reloaded data dropped the models' views
    freshness: FreshnessSummary  # `dbt source freshness` after the build
    seconds: float


def _check_directory(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--dir {directory} is a file, not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / MARKER).is_file():
        raise UsageError(
            f"--dir {directory} is not empty and holds no cartridge demo; choose a new directory"
        )


def _project_files(postgres: LocalPostgres) -> dict[str, str]:
    project = {
        "name": PROJECT_NAME,
        "version": "1.0.0",
        "config-version": 2,
        "profile": PROJECT_NAME,
        "model-paths": ["models"],
        "clean-targets": ["target", "dbt_packages"],
        "models": {
            PROJECT_NAME: {
                "staging": {"+materialized": "view"},
                "intermediate": {"+materialized": "view"},
                "marts": {"+materialized": "table"},
            }
        },
    }
    profile = {
        PROJECT_NAME: {
            "target": "dev",
            "outputs": {
                "dev": {
                    "type": "postgres",
                    "host": str(postgres.socket_dir),
                    "port": postgres.port,
                    "user": "postgres",
                    "password": "",
                    "dbname": "postgres",
                    "schema": "analytics",
                    "threads": 4,
                }
            },
        }
    }
    config = {"schemas": [RAW_SCHEMA], "source_name": SOURCE_NAME}
    return {
        "dbt_project.yml": dump_yaml(project),
        "profiles.yml": dump_yaml(profile),
        "cartridge.yml": dump_yaml(config),
        ".gitignore": "target/\ndbt_packages/\nlogs/\npgdata/\n",
        str(MARKER): json.dumps({"demo_version": 1}) + "\n",
    }


def _load_raw_data(postgres: LocalPostgres) -> dict[str, int] | None:
    import psycopg2

    tables = shop_tables()
    expected = {t.name: len(t.rows) for t in tables}
    connection = psycopg2.connect(postgres.dsn)
    try:
        with connection.cursor() as cursor:
            counts = {}
            for name in expected:
                cursor.execute("select to_regclass(%s) is not null", (f'"{RAW_SCHEMA}"."{name}"',))
                if cursor.fetchone()[0]:
                    cursor.execute(f'select count(*) from "{RAW_SCHEMA}"."{name}"')
                    counts[name] = cursor.fetchone()[0]
            # An older demo's tables have no load time: they are loaded again, as this loader writes them.
            cursor.execute(
                "select table_name from information_schema.columns where table_schema = %s and column_name = %s",
                (RAW_SCHEMA, LOADED_AT),
            )
            stamped = {row[0] for row in cursor.fetchall()}
        connection.rollback()
        if counts == expected and stamped >= expected.keys():
            resync_shop(connection, RAW_SCHEMA, tables)
            return None
        return load_shop(connection, RAW_SCHEMA, tables)
    finally:
        connection.close()


def run_demo(
    directory: Path,
    progress: Progress,
    model: str | None = None,
    api_base: str | None = None,
    planner: str | None = None,
) -> DemoReport:
    """Build the whole demo in `directory` (with `planner`, or an LLM when `model` is given); run again, nothing
    changes."""
    started = time.perf_counter()
    directory = directory.expanduser().resolve()
    # The demo's cartridge.yml names no planner: the flags alone choose it, refused before PostgreSQL starts.
    planner_name(ProjectOptions(planner=planner, model=model), CartridgeConfig())
    _check_directory(directory)
    directory.mkdir(parents=True, exist_ok=True)
    progress.step("start PostgreSQL (embedded)")
    postgres = start_postgres(directory / DATA_DIR)
    progress.step(f"load the sample shop into schema {RAW_SCHEMA}")
    loaded = _load_raw_data(postgres)
    for name, text in _project_files(postgres).items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text)
    # The same install as `cartridge init`: a vendored copy, so the demo project works on any machine.
    init_project(directory, progress, InitOptions(deps=None))
    dbt = DbtProject(directory, directory)
    options = ProjectOptions(
        project_dir=directory, profiles_dir=directory, planner=planner, model=model, api_base=api_base
    )
    report = generate(options, progress)
    rebuild = None
    if report.nothing_changed and loaded is not None:
        progress.step("dbt build (the raw data was reloaded)")
        rebuild = dbt.build()
    progress.step("dbt source freshness")
    freshness = dbt.source_freshness()
    return DemoReport(directory, postgres, loaded, report, rebuild, freshness, time.perf_counter() - started)


def stop_demo(directory: Path) -> bool:
    """Stop the demo's PostgreSQL server; False when it was not running."""
    return stop_postgres(directory.expanduser().resolve() / DATA_DIR)
