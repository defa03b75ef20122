"""The `cartridge.gather` macro against real warehouses, through the `integration_tests/` dbt project.

Each adapter gets one copy of that project per module (dbt writes target/ and dbt_packages/ into it),
seeded and built once; every test then runs the macro on it. Set CARTRIDGE_UPDATE_EXPECTED=1 to
rewrite `integration_tests/expected/` from what the macro prints now, then review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support import REPO_ROOT, duckdb_output, postgres_output

from cartridge_bridge.dbt_runner import DbtProject
from cartridge_bridge.errors import ProjectError
from cartridge_bridge.facts import parse_facts

INTEGRATION_PROJECT = REPO_ROOT / "integration_tests"
EXPECTED_DIR = INTEGRATION_PROJECT / "expected"
SCHEMA_FILE = REPO_ROOT / "schemas" / "gather.v1.schema.json"
PROFILE = "cartridge_integration_tests"
RAW_SCHEMAS = ["raw_it", "raw_it_keyed", "Raw Mixed"]
# The same database name on both adapters (a PostgreSQL database of our own, the DuckDB file's stem),
# so the expected documents hold it verbatim and nothing needs normalising between runs.
DATABASE = "cartridge_it"
UPDATE_EXPECTED = os.environ.get("CARTRIDGE_UPDATE_EXPECTED") == "1"


@dataclass(frozen=True)
class SeededProject:
    """A private copy of integration_tests/, seeded and built on one adapter."""

    adapter: str
    directory: Path
    dbt: DbtProject
    build_warnings: list[str]

    def gather(self, **args: Any) -> dict[str, Any]:
        """Run the macro in-process and parse the one document it printed."""
        document: dict[str, Any] = json.loads(self.dbt.run_operation("cartridge.gather", args))
        return document


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")  # JSON is YAML


def _copy_project(directory: Path) -> Path:
    ignored = shutil.ignore_patterns("target", "dbt_packages", "logs", "package-lock.yml", "profiles.yml")
    shutil.copytree(INTEGRATION_PROJECT, directory, ignore=ignored)
    # `local: ../` means the repository root only from inside the checkout; the copy names it outright.
    _write_yaml(directory / "packages.yml", {"packages": [{"local": str(REPO_ROOT)}]})
    return directory


def _fresh_postgres_database(dsn: str, name: str) -> None:
    import psycopg2

    connection = psycopg2.connect(dsn)
    connection.autocommit = True  # CREATE DATABASE refuses to run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'drop database if exists "{name}" with (force)')
            cursor.execute(f'create database "{name}"')
    finally:
        connection.close()


@pytest.fixture(scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres), "duckdb"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SeededProject:
    adapter: str = request.param
    root = tmp_path_factory.mktemp(f"gather_{adapter}")
    directory = _copy_project(root / "integration_tests")
    if adapter == "postgres":
        server = request.getfixturevalue("pg_server")
        _fresh_postgres_database(server.dsn, DATABASE)
        output = {**postgres_output(server, "it_default"), "dbname": DATABASE}
    else:
        # dbt-duckdb keeps its file open (and locked) after an in-process invocation by default;
        # closing it lets the CLI test open the same file from a second process.
        output = {**duckdb_output(root / f"{DATABASE}.duckdb"), "keep_open": False}
    profiles = {PROFILE: {"target": adapter, "outputs": {adapter: output}}}
    _write_yaml(directory / "profiles.yml", profiles)
    dbt = DbtProject(directory, profiles_dir=directory)
    dbt.deps()
    build = dbt.invoke(["build"])
    assert build.success, build.error_text()
    return SeededProject(adapter, directory, dbt, build.warnings)


@pytest.fixture(scope="module")
def gather_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _expected(adapter: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (EXPECTED_DIR / f"gather_{adapter}.json").read_text(encoding="utf-8")
    )
    return document


def _identifiers(document: dict[str, Any]) -> list[str]:
    return [f"{r['schema']}.{r['identifier']}" for r in document["relations"]]


def _assert_awkward_identifiers_exact(document: dict[str, Any]) -> None:
    """The spot checks that keep a wrong expected document from being blessed."""
    relations = {r["identifier"]: r for r in document["relations"]}
    assert _identifiers(document) == [
        "raw_it.MixedCase",
        "raw_it.customers",
        "raw_it.order",
        "raw_it.orders",
        "raw_it_keyed.customer_order_totals",
        "raw_it_keyed.dim_customers",
        "raw_it_keyed.fct_order_lines",
        "Raw Mixed.events",
    ]
    assert [c["name"] for c in relations["MixedCase"]["columns"]] == [
        "id",
        "1st_value",
        "naïve",
        "prix_€",
        "CamelCase",
    ]
    assert [c["name"] for c in relations["order"]["columns"]] == ["select", "user", "Order Date"]
    assert relations["order"]["columns"][0]["comment"] == "A reserved word; it's quoted everywhere"
    assert relations["customers"]["comment"] == "Customers, one row per person — the shop's own list"
    assert relations["fct_order_lines"]["primary_key"] == ["order_id", "Line No"]
    assert relations["fct_order_lines"]["foreign_keys"] == [
        {
            "columns": ["customer_id"],
            "ref_schema": "raw_it_keyed",
            "ref_identifier": "dim_customers",
            "ref_columns": ["customer_id"],
        }
    ]
    assert relations["customer_order_totals"]["type"] == "view"


def test_gather_prints_the_expected_document(seeded: SeededProject, gather_schema: dict[str, Any]) -> None:
    document = seeded.gather(schemas=RAW_SCHEMAS)

    jsonschema.validate(document, gather_schema, cls=jsonschema.Draft202012Validator)
    parse_facts(json.dumps(document))  # the bridge reads what the macro prints
    _assert_awkward_identifiers_exact(document)
    path = EXPECTED_DIR / f"gather_{seeded.adapter}.json"
    if UPDATE_EXPECTED:
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert document == _expected(seeded.adapter)


def test_portable_path_agrees_with_the_catalog_path(seeded: SeededProject) -> None:
    printed = seeded.dbt.run_operation("gather_schema_portably", {"schema": "raw_it_keyed"})
    portable = json.loads(printed)
    catalog = [r for r in _expected(seeded.adapter)["relations"] if r["schema"] == "raw_it_keyed"]

    # information_schema has no comments and no keys; on PostgreSQL it also drops type modifiers
    # (`character varying` for `character varying(100)`), so types are only compared on DuckDB.
    def without_catalog_extras(relation: dict[str, Any], keep_types: bool) -> dict[str, Any]:
        columns = [
            {**c, "comment": None, "data_type": c["data_type"] if keep_types else None}
            for c in relation["columns"]
        ]
        return {**relation, "comment": None, "primary_key": [], "foreign_keys": [], "columns": columns}

    keep_types = seeded.adapter == "duckdb"
    assert [without_catalog_extras(r, keep_types) for r in portable] == [
        without_catalog_extras(r, keep_types) for r in catalog
    ]


@pytest.mark.parametrize(
    ("select", "exclude", "expected"),
    [
        (
            ["*order*"],
            ["fct_*"],
            ["raw_it.order", "raw_it.orders", "raw_it_keyed.customer_order_totals"],
        ),
        (["MixedCase", "ord?r"], None, ["raw_it.MixedCase", "raw_it.order"]),
        (None, ["*_*", "*s"], ["raw_it.MixedCase", "raw_it.order"]),
        (["order"], ["order"], []),
    ],
    ids=["select-and-exclude", "exact-and-one-char", "exclude-only", "all-excluded"],
)
def test_select_and_exclude_globs(
    seeded: SeededProject, select: list[str] | None, exclude: list[str] | None, expected: list[str]
) -> None:
    # A schema named twice is gathered once.
    document = seeded.gather(schemas=[*RAW_SCHEMAS, "raw_it"], select=select, exclude=exclude)

    assert _identifiers(document) == expected
    assert document["schemas"] == RAW_SCHEMAS


def _assert_fails_naming(seeded: SeededProject, args: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(ProjectError) as failure:
        seeded.dbt.run_operation("cartridge.gather", args)
    message = str(failure.value)
    assert "cartridge.gather: argument" in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        ({"schemas": ["no_such_schema"]}, ["'schemas'", '"no_such_schema"', "does not exist"]),
        ({"schemas": ["raw mixed"]}, ["'schemas'", '"raw mixed"', "does not exist"]),
        ({"schemas": ['it\'s "odd"']}, ["'schemas'", '"it\'s \\"odd\\""', "does not exist"]),
        (
            {"schemas": RAW_SCHEMAS, "select": ["orders", "mixedcase"]},
            ["'select'", '"mixedcase"', "matches no relation"],
        ),
    ],
    ids=["missing-schema", "schema-in-wrong-case", "schema-name-needing-escapes", "select-matches-nothing"],
)
def test_names_the_warehouse_lacks_fail_naming_argument_and_value(
    seeded: SeededProject, args: dict[str, Any], fragments: list[str]
) -> None:
    _assert_fails_naming(seeded, args, fragments)


# These fail in Jinja before any SQL runs, so one adapter is enough.
@pytest.mark.parametrize("seeded", ["duckdb"], indirect=True)
@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        ({"schemas": [1]}, ["'schemas'", "[1]"]),
        ({"schemas": {}}, ["'schemas'", "{}"]),
        ({"schemas": []}, ["'schemas'", "[]"]),
        ({"schemas": RAW_SCHEMAS, "exclude": [""]}, ["'exclude'", '[""]']),
        ({}, ["'schemas'", "is required"]),
    ],
    ids=[
        "schemas-not-names",
        "schemas-a-mapping",
        "schemas-empty",
        "exclude-empty-name",
        "schemas-not-given",
    ],
)
def test_malformed_arguments_fail_naming_argument_and_value(
    seeded: SeededProject, args: dict[str, Any], fragments: list[str]
) -> None:
    _assert_fails_naming(seeded, args, fragments)


def test_macro_arguments_are_typed_and_valid(seeded: SeededProject) -> None:
    manifest = json.loads((seeded.directory / "target" / "manifest.json").read_text(encoding="utf-8"))
    arguments = manifest["macros"]["macro.cartridge.gather"]["arguments"]

    assert [(a["name"], a["type"]) for a in arguments] == [
        ("schemas", "list[string]"),
        ("select", "optional[list[string]]"),
        ("exclude", "optional[list[string]]"),
    ]
    assert all(a["description"] for a in arguments)
    # validate_macro_args reports a mismatch between _macros.yml and the macro as a warning.
    assert not [w for w in seeded.build_warnings if "macro" in w.lower()]


# A second dbt process costs seconds and stdout hygiene is dbt's, not the adapter's: one adapter is enough.
@pytest.mark.parametrize("seeded", ["duckdb"], indirect=True)
def test_cli_prints_exactly_one_json_document(seeded: SeededProject, gather_schema: dict[str, Any]) -> None:
    dbt_executable = Path(sys.executable).parent / "dbt"
    environment = {**os.environ, "DBT_PROFILES_DIR": str(seeded.directory), "DO_NOT_TRACK": "1"}
    completed = subprocess.run(
        [
            str(dbt_executable),
            "--quiet",
            "run-operation",
            "cartridge.gather",
            "--args",
            "{schemas: [raw_it]}",
        ],
        cwd=seeded.directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.endswith("\n") and completed.stdout.count("\n") == 1, completed.stdout
    document = json.loads(completed.stdout)
    jsonschema.validate(document, gather_schema, cls=jsonschema.Draft202012Validator)
    expected = _expected(seeded.adapter)
    assert document["relations"] == [r for r in expected["relations"] if r["schema"] == "raw_it"]


@pytest.mark.parametrize(
    "where",
    [(), ("relations", 6), ("relations", 6, "columns", 1), ("relations", 6, "foreign_keys", 0)],
    ids=["document", "relation", "column", "foreign-key"],
)
def test_schema_refuses_extra_keys(gather_schema: dict[str, Any], where: tuple[str | int, ...]) -> None:
    document = _expected("duckdb")
    jsonschema.validate(document, gather_schema)
    target: Any = document
    for step in where:
        target = target[step]
    target["unexpected"] = 1

    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        jsonschema.validate(document, gather_schema)
