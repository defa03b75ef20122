"""The `cartridge.gather` macro against real warehouses, through the `integration_tests/` dbt project.

Each adapter gets one copy of that project per module (dbt writes target/ and dbt_packages/ into it),
seeded, built (all but the model `not_built`, left out by the project's default selector) and parsed
once; every test then runs the macro on it, reusing the parsed manifest. The expected documents are
what `gather` prints with `profile: true` on the three raw schemas. Set CARTRIDGE_UPDATE_EXPECTED=1 to
rewrite `integration_tests/expected/` from what the macro prints now, then review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support import REPO_ROOT, duckdb_output, postgres_output

from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.facts import parse_facts

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
    dbt.parse()  # every run-operation below reuses this manifest: ≈0.05 s each instead of ≈0.8 s
    return SeededProject(adapter, directory, dbt, build.warnings)


@pytest.fixture(scope="module")
def gather_schema() -> jsonschema.Draft202012Validator:
    """The document's JSON Schema, checked once (jsonschema.validate would check it on every call)."""
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _expected(adapter: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (EXPECTED_DIR / f"gather_{adapter}.json").read_text(encoding="utf-8")
    )
    return document


def _identifiers(document: dict[str, Any]) -> list[str]:
    return [f"{r['schema']}.{r['identifier']}" for r in document["relations"]]


def _without(document: Any, key: str) -> Any:
    """The document with every `key` dropped, at any depth."""
    if isinstance(document, dict):
        return {k: _without(v, key) for k, v in document.items() if k != key}
    if isinstance(document, list):
        return [_without(item, key) for item in document]
    return document


def _relation(document: dict[str, Any], identifier: str) -> dict[str, Any]:
    [relation] = [r for r in document["relations"] if r["identifier"] == identifier]
    return relation


def _column_profiles(document: dict[str, Any], identifier: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c["profile"] for c in _relation(document, identifier)["columns"]}


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
        "raw_it_keyed.odd_values",
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
    assert relations["odd_values"]["columns"][-1]["name"] == 'say "hi"'
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


def _top(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"value": value, "count": count} for value, count in pairs]


def _assert_profile_exact(document: dict[str, Any]) -> None:
    """Statistics worked out by hand from the seeds and odd_values.sql, identical on every adapter."""
    assert document["profile"] == {"sample_limit": None, "top_values_limit": 20}
    assert {r["identifier"]: r["profile"]["row_count"] for r in document["relations"]} == {
        "MixedCase": 3,
        "customers": 3,
        "order": 5,
        "orders": 4,
        "customer_order_totals": 3,
        "dim_customers": 3,
        "fct_order_lines": 4,
        "odd_values": 2,
        "events": 2,
    }
    order = _column_profiles(document, "order")
    assert order["select"] == {"null_count": 0, "distinct_count": 5, "min": 1, "max": 5, "top_values": None}
    assert order["user"] == {
        "null_count": 1,
        "distinct_count": 2,
        "min": None,
        "max": None,
        "top_values": _top(("alice", 3), ("bob", 1)),
    }
    assert order["Order Date"] == {
        "null_count": 1,
        "distinct_count": 3,
        "min": "2024-01-05",
        "max": "2024-02-29",
        "top_values": None,
    }
    mixed = _column_profiles(document, "MixedCase")
    assert mixed["prix_€"] == {
        "null_count": 1,
        "distinct_count": 2,
        "min": 9.99,
        "max": 19.5,
        "top_values": None,
    }
    assert mixed["1st_value"] == {
        "null_count": 1,
        "distinct_count": 2,
        "min": 10,
        "max": 20,
        "top_values": None,
    }
    assert mixed["naïve"] == {
        "null_count": 0,
        "distinct_count": 2,
        "min": None,
        "max": None,
        "top_values": None,
    }
    assert mixed["CamelCase"]["top_values"] == _top(("Upper", 2), ("lower", 1))  # by count, not by case
    customers = _column_profiles(document, "customers")
    assert customers["country"]["top_values"] == _top(("ES", 1), ("GB", 1))  # the null is counted apart
    assert customers["country"]["null_count"] == 1
    assert _column_profiles(document, "events")["happened_at"]["min"] == "2024-01-05T10:00:00"
    assert _column_profiles(document, "orders")["amount"]["max"] == 100
    odd = _column_profiles(document, "odd_values")
    # json and arrays have no portable equality: only their nulls are counted.
    assert odd["doc"] == {
        "null_count": 1,
        "distinct_count": None,
        "min": None,
        "max": None,
        "top_values": None,
    }
    assert odd["numbers"] == odd["doc"]
    assert (odd["ratio"]["min"], odd["ratio"]["max"]) == ("-Infinity", "NaN")  # JSON has no such numbers
    assert odd["code"]["top_values"] == _top(("005", 2))  # text that looks like a number stays text
    assert odd["flag"] == {"null_count": 1, "distinct_count": 1, "min": None, "max": None, "top_values": None}
    assert odd['say "hi"'] == {
        "null_count": 2,
        "distinct_count": 0,
        "min": None,
        "max": None,
        "top_values": [],
    }


def _assert_graph_exact(document: dict[str, Any], adapter: str) -> None:
    graph = document["graph"]
    assert graph["project_name"] == PROFILE
    nodes = {n["unique_id"].replace(f".{PROFILE}.", ".", 1): n for n in graph["nodes"]}
    assert [n["unique_id"] for n in graph["nodes"]] == sorted(n["unique_id"] for n in graph["nodes"])
    assert {key: node["exists"] for key, node in nodes.items()} == {
        "model.customer_order_totals": True,
        "model.dim_customers": True,
        "model.fct_order_lines": True,
        "model.not_built": False,  # enabled, but left out of `dbt build` by the default selector
        "model.odd_values": True,
        "seed.MixedCase": True,
        "seed.customers": True,
        "seed.events": True,
        "seed.order": True,
        "seed.orders": True,
        "snapshot.customers_snapshot": True,
        "source.raw.mixed_case": True,
        "source.raw.never_loaded": False,
        "source.raw.order": True,
        "source.raw_mixed.events": True,
        # dbt quotes RAW_IT.CUSTOMERS on PostgreSQL, which holds no such relation; DuckDB ignores case.
        "source.shouting.CUSTOMERS": adapter == "duckdb",
        "source.shouting_unquoted.CUSTOMERS": True,  # unquoted, PostgreSQL folds it to raw_it.customers
    }
    not_built = nodes["model.not_built"]
    assert (not_built["schema"], not_built["identifier"], not_built["type"], not_built["columns"]) == (
        "raw_it_keyed",
        "not_built",
        None,
        [],
    )
    fct = nodes["model.fct_order_lines"]
    assert fct["type"] == "table"
    assert [c["name"] for c in fct["columns"]] == ["order_id", "Line No", "customer_id", "amount"]
    assert fct["columns"] == [
        {"name": c["name"], "data_type": c["data_type"], "position": c["position"]}
        for c in _relation(document, "fct_order_lines")["columns"]
    ]
    assert nodes["model.customer_order_totals"]["type"] == "view"
    mixed_case = nodes["source.raw.mixed_case"]
    assert (mixed_case["source_name"], mixed_case["name"], mixed_case["identifier"]) == (
        "raw",
        "mixed_case",
        "MixedCase",
    )
    assert [c["name"] for c in mixed_case["columns"]] == ["id", "1st_value", "naïve", "prix_€", "CamelCase"]
    assert nodes["seed.events"]["schema"] == "Raw Mixed"
    assert nodes["snapshot.customers_snapshot"]["schema"] == "snapshots_it"
    assert "dbt_valid_to" in [c["name"] for c in nodes["snapshot.customers_snapshot"]["columns"]]


def test_gather_prints_the_expected_document(
    seeded: SeededProject, gather_schema: jsonschema.Draft202012Validator
) -> None:
    document = seeded.gather(schemas=RAW_SCHEMAS, profile=True)

    gather_schema.validate(document)
    parse_facts(json.dumps(document))  # the bridge reads what the macro prints
    _assert_awkward_identifiers_exact(document)
    _assert_profile_exact(document)
    _assert_graph_exact(document, seeded.adapter)
    path = EXPECTED_DIR / f"gather_{seeded.adapter}.json"
    if UPDATE_EXPECTED:
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert document == _expected(seeded.adapter)


def test_without_profile_the_document_has_no_profile_key(seeded: SeededProject) -> None:
    expected = _expected(seeded.adapter)

    document = seeded.gather(schemas=RAW_SCHEMAS)

    assert document == _without(expected, "profile")
    assert _without(document, "profile") == document
    # The bridge drops the same keys on its side before anything leaves the machine.
    assert parse_facts(json.dumps(document)) == parse_facts(json.dumps(expected)).without_profile()


def test_graph_false_leaves_the_graph_out(seeded: SeededProject) -> None:
    document = seeded.gather(schemas=RAW_SCHEMAS, profile=True, graph=False)

    assert document == {k: v for k, v in _expected(seeded.adapter).items() if k != "graph"}


def test_profile_sample_reads_only_the_first_rows(
    seeded: SeededProject, gather_schema: jsonschema.Draft202012Validator
) -> None:
    whole = _expected(seeded.adapter)

    document = seeded.gather(schemas=RAW_SCHEMAS, profile=True, profile_sample=2, graph=False)

    gather_schema.validate(document)
    assert document["profile"] == {"sample_limit": 2, "top_values_limit": 20}
    for relation in document["relations"]:
        rows = relation["profile"]["row_count"]
        assert rows == min(2, _relation(whole, relation["identifier"])["profile"]["row_count"])
        for column in relation["columns"]:
            profile = column["profile"]
            assert profile["null_count"] <= rows
            assert (
                profile["distinct_count"] is None or profile["distinct_count"] <= rows - profile["null_count"]
            )
            if profile["top_values"] is not None:
                assert profile["null_count"] + sum(v["count"] for v in profile["top_values"]) == rows
    # A freshly loaded small table is read in insertion order on both adapters: rows 1 and 2 of order.csv.
    order = _column_profiles(document, "order")
    assert (order["select"]["min"], order["select"]["max"]) == (1, 2)
    assert order["user"]["top_values"] == _top(("alice", 1), ("bob", 1))
    # The portable path (top values from a second statement) reads the same first rows.
    printed = seeded.dbt.run_operation(
        "profile_schema_portably", {"schemas": RAW_SCHEMAS, "profile_sample": 2}
    )
    assert json.loads(printed) == document["relations"]
    # A limit above every table's size profiles every row.
    larger = seeded.gather(schemas=RAW_SCHEMAS, profile=True, profile_sample=1000, graph=False)
    assert larger["relations"] == whole["relations"]


def test_top_values_limit_bounds_which_columns_list_their_values(seeded: SeededProject) -> None:
    one = seeded.gather(schemas=["raw_it_keyed"], select=["odd_values"], profile=True, top_values_limit=1)
    none = seeded.gather(schemas=["raw_it_keyed"], select=["odd_values"], profile=True, top_values_limit=0)

    assert one["profile"] == {"sample_limit": None, "top_values_limit": 1}
    assert _column_profiles(one, "odd_values")["code"]["top_values"] == _top(("005", 2))  # one distinct value
    assert _column_profiles(one, "odd_values")['say "hi"']["top_values"] == []  # none at all
    assert [c["profile"]["top_values"] for c in _relation(none, "odd_values")["columns"]] == [None] * 7
    assert _column_profiles(none, "odd_values")["code"]["distinct_count"] == 1


def test_portable_profile_agrees_with_the_adapter_profile(seeded: SeededProject) -> None:
    printed = seeded.dbt.run_operation("profile_schema_portably", {"schemas": RAW_SCHEMAS})

    assert json.loads(printed) == _expected(seeded.adapter)["relations"]


def test_portable_catalog_agrees_with_the_graph(seeded: SeededProject) -> None:
    nodes = [n for n in _expected(seeded.adapter)["graph"]["nodes"] if n["resource_type"] != "source"]

    for schema in ["raw_it_keyed", "Raw Mixed"]:
        printed = seeded.dbt.run_operation("catalog_schema_portably", {"schema": schema})
        portable = {r["identifier"]: (r["type"], r["columns"]) for r in json.loads(printed)}
        built = {
            n["identifier"]: (n["type"], n["columns"]) for n in nodes if n["schema"] == schema and n["exists"]
        }
        assert portable == built


def test_portable_path_agrees_with_the_catalog_path(seeded: SeededProject) -> None:
    printed = seeded.dbt.run_operation("gather_schema_portably", {"schema": "raw_it_keyed"})
    portable = json.loads(printed)
    expected = _without(_expected(seeded.adapter), "profile")
    catalog = [r for r in expected["relations"] if r["schema"] == "raw_it_keyed"]

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
    with pytest.raises(UsageError) as failure:
        seeded.dbt.run_operation("cartridge.gather", args)
    message = str(failure.value)
    assert message.startswith("cartridge.gather: argument")  # just the package's sentence, one line
    assert "\n" not in message
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
        ({"schemas": RAW_SCHEMAS, "profile": "true"}, ["'profile'", "true or false", '"true"']),
        ({"schemas": RAW_SCHEMAS, "graph": None}, ["'graph'", "got null"]),
        (
            {"schemas": RAW_SCHEMAS, "profile": True, "profile_sample": 0},
            ["'profile_sample'", "at least 1", "got 0"],
        ),
        ({"schemas": RAW_SCHEMAS, "profile": True, "profile_sample": 2.5}, ["'profile_sample'", "got 2.5"]),
        ({"schemas": RAW_SCHEMAS, "profile": True, "profile_sample": True}, ["'profile_sample'", "got true"]),
        ({"schemas": RAW_SCHEMAS, "profile": True, "top_values_limit": -1}, ["'top_values_limit'", "got -1"]),
        (
            {"schemas": RAW_SCHEMAS, "profile_sample": 10},
            ["'profile_sample'", "only applies with profile: true"],
        ),
    ],
    ids=[
        "schemas-not-names",
        "schemas-a-mapping",
        "schemas-empty",
        "exclude-empty-name",
        "schemas-not-given",
        "profile-a-string",
        "graph-null",
        "sample-zero",
        "sample-fractional",
        "sample-a-boolean",
        "top-values-limit-negative",
        "sample-without-profile",
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
        ("profile", "bool"),
        ("profile_sample", "optional[int]"),
        ("top_values_limit", "optional[int]"),
        ("graph", "bool"),
    ]
    assert all(a["description"] for a in arguments)
    # validate_macro_args reports a mismatch between _macros.yml and the macro as a warning.
    assert not [w for w in seeded.build_warnings if "macro" in w.lower()]


# A second dbt process costs seconds and stdout hygiene is dbt's, not the adapter's: one adapter is enough.
@pytest.mark.parametrize("seeded", ["duckdb"], indirect=True)
def test_cli_prints_exactly_one_json_document(
    seeded: SeededProject, gather_schema: jsonschema.Draft202012Validator
) -> None:
    dbt_executable = Path(sys.executable).parent / "dbt"
    environment = {**os.environ, "DBT_PROFILES_DIR": str(seeded.directory), "DO_NOT_TRACK": "1"}
    completed = subprocess.run(
        [
            str(dbt_executable),
            "--quiet",
            "run-operation",
            "cartridge.gather",
            "--args",
            "{schemas: [raw_it], profile: true}",
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
    gather_schema.validate(document)
    expected = _expected(seeded.adapter)
    assert document["relations"] == [r for r in expected["relations"] if r["schema"] == "raw_it"]


@pytest.mark.parametrize(
    "where",
    [
        (),
        ("relations", 6),
        ("relations", 6, "columns", 1),
        ("relations", 6, "foreign_keys", 0),
        ("profile",),
        ("relations", 6, "profile"),
        ("relations", 6, "columns", 1, "profile"),
        ("relations", 2, "columns", 1, "profile", "top_values", 0),
        ("graph",),
        ("graph", "nodes", 0),
        ("graph", "nodes", 0, "columns", 0),
    ],
    ids=[
        "document",
        "relation",
        "column",
        "foreign-key",
        "profile-settings",
        "relation-profile",
        "column-profile",
        "top-value",
        "graph",
        "node",
        "node-column",
    ],
)
def test_schema_refuses_extra_keys(
    gather_schema: jsonschema.Draft202012Validator, where: tuple[str | int, ...]
) -> None:
    document = _expected("duckdb")
    gather_schema.validate(document)
    target: Any = document
    for step in where:
        target = target[step]
    target["unexpected"] = 1

    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        gather_schema.validate(document)


def _unprofile_one_column(document: dict[str, Any]) -> None:
    del document["relations"][0]["columns"][0]["profile"]


def _profile_without_settings(document: dict[str, Any]) -> None:
    del document["profile"]
    for relation in document["relations"][1:]:
        del relation["profile"]
        for column in relation["columns"]:
            del column["profile"]


def _missing_node_with_columns(document: dict[str, Any]) -> None:
    node = next(n for n in document["graph"]["nodes"] if not n["exists"])
    node["columns"] = [{"name": "id", "data_type": "integer", "position": 1}]


def _existing_node_without_type(document: dict[str, Any]) -> None:
    next(n for n in document["graph"]["nodes"] if n["exists"])["type"] = None


def _model_with_source_name(document: dict[str, Any]) -> None:
    next(n for n in document["graph"]["nodes"] if n["resource_type"] == "model")["source_name"] = "raw"


@pytest.mark.parametrize(
    "break_it",
    [
        _unprofile_one_column,
        _profile_without_settings,
        _missing_node_with_columns,
        _existing_node_without_type,
        _model_with_source_name,
    ],
)
def test_schema_and_bridge_refuse_inconsistent_documents(
    gather_schema: jsonschema.Draft202012Validator, break_it: Callable[[dict[str, Any]], None]
) -> None:
    document = _expected("duckdb")
    break_it(document)

    with pytest.raises(jsonschema.ValidationError):
        gather_schema.validate(document)
    with pytest.raises(UsageError, match="malformed"):
        parse_facts(json.dumps(document))
