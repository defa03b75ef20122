"""The `cartridge.gather` macro on a local Spark: raw tables with awkward names, compared to an expected document.

Spark has no information_schema; gather reads it through `show tables` and `describe table extended`
(macros/gather/_describe_relations.sql). The raw tables mirror `integration_tests/seeds/` as far as Spark
allows (it keeps database and table names in lower case), plus the types only Spark has (arrays, maps,
timestamp_ntz) and a column name holding a backtick, Spark's quote mark. A small dbt project over them has a
built view, a model left unbuilt and sources, for the graph. Set CARTRIDGE_UPDATE_EXPECTED=1 to rewrite
`integration_tests/expected/gather_spark.json`, then review the diff.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support import REPO_ROOT, spark_output, write_project

from cartridge_bridge.api import ProjectOptions, gather_facts, open_project
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.facts import parse_facts
from cartridge_bridge.progress import SilentProgress

EXPECTED = REPO_ROOT / "integration_tests" / "expected" / "gather_spark.json"
SCHEMA_FILE = REPO_ROOT / "schemas" / "gather.v1.schema.json"
UPDATE_EXPECTED = os.environ.get("CARTRIDGE_UPDATE_EXPECTED") == "1"
RAW_SCHEMAS = ["raw_it", "Raw_Events"]  # Spark keeps the second as raw_events

RAW_TABLES = [
    "create database raw_it",
    "create database raw_events",
    "create table raw_it.`MixedCase` (id int, `1st_value` int comment 'Starts with a digit', `naïve` boolean,"
    " `prix_€` double comment 'Price in euros (€)', `CamelCase` string) using parquet"
    " comment 'A table Spark names in lower case'",
    "insert into raw_it.`MixedCase` values (1, 10, true, 9.99, 'Upper'), (2, 20, false, 19.5, 'lower'),"
    " (3, null, true, null, 'Upper')",
    "create table raw_it.customers (id int comment 'Customer id, unique but not declared as a key', name string,"
    " country string) using parquet comment 'Customers, one row per person — the shop\\'s own list'",
    "insert into raw_it.customers values (1, 'Ada Lovelace', 'GB'), (2, 'José Álvarez', 'ES'),"
    " (3, 'Zoë O\\'Neil', null)",
    "create table raw_it.`order` (`select` int comment 'A reserved word; it\\'s quoted everywhere', `user` string,"
    " `Order Date` date comment 'A name with a space') using parquet comment 'A table named with a reserved word'",
    "insert into raw_it.`order` values (1, 'alice', date'2024-01-05'), (2, 'bob', date'2024-01-06'),"
    " (3, 'alice', null), (4, null, date'2024-02-29'), (5, 'alice', date'2024-01-05')",
    "create table raw_it.orders (id int, customer_id int, ordered_on date, amount decimal(10,2)) using parquet",
    "insert into raw_it.orders values (10, 1, date'2024-01-05', 12.50), (11, 1, date'2024-02-11', 7.25),"
    " (12, 2, date'2024-02-12', 100.00), (13, 3, date'2024-03-01', 3.10)",
    "create view raw_it.customer_totals comment 'Spent per customer' as"
    " select customer_id, sum(amount) as spent from raw_it.orders group by customer_id",
    "create table raw_it.odd_values (numbers array<int>, attrs map<string, string>, ratio double, code string,"
    " flag boolean, moment timestamp_ntz, `say ``hi```  string) using parquet",
    "insert into raw_it.odd_values values"
    " (array(1, 2), map('a', '1'), double('NaN'), '005', true, timestamp_ntz'2024-01-05 10:00:00', null),"
    " (null, null, double('-Infinity'), '005', null, null, null)",
    "create table raw_events.events (id int, `Kind` string, happened_at timestamp) using parquet",
    "insert into raw_events.events values (1, 'signup', timestamp'2024-01-05 10:00:00'),"
    " (2, 'login', timestamp'2024-01-06 11:30:00')",
]
MODELS = {
    "models/spent_per_country.sql": (
        "select c.country, sum(o.amount) as spent\n"
        "from {{ source('raw', 'customers') }} as c join {{ source('raw', 'orders') }} as o on o.customer_id = c.id\n"
        "group by c.country\n"
    ),
    "models/not_built.sql": "select 1 as id\n",
    "models/_sources.yml": (
        "sources:\n"
        "  - name: raw\n    schema: raw_it\n    tables:\n"
        "      - name: customers\n      - name: orders\n"
        "      - name: mixed_case\n        identifier: MixedCase\n"
        "      - name: never_loaded\n"
    ),
}
MODELS_CONFIG = "models:\n  cartridge_spark_it:\n    +materialized: view\n"


@dataclass(frozen=True)
class SparkProject:
    """A dbt project over the raw Spark tables, with one model built and its manifest parsed."""

    directory: Path
    dbt: DbtProject

    def gather(self, **args: Any) -> dict[str, Any]:
        """Run the macro in-process and parse the one document it printed."""
        document: dict[str, Any] = json.loads(self.dbt.run_operation("cartridge.gather", args))
        return document


@pytest.fixture(scope="module")
def project(spark: Any, spark_home: Path, tmp_path_factory: pytest.TempPathFactory) -> SparkProject:
    for statement in RAW_TABLES:
        spark.sql(statement)
    directory = write_project(
        tmp_path_factory.mktemp("gather_spark") / "it",
        "cartridge_spark_it",
        spark_output(spark_home, "it_models"),
        models=MODELS,
        extra_project_yaml=MODELS_CONFIG,
    )
    dbt = DbtProject(directory, directory)
    dbt.deps()
    run = dbt.invoke(["run", "--select", "spent_per_country"])
    assert run.success, run.error_text()
    dbt.parse()  # the run-operations below reuse this manifest
    return SparkProject(directory, dbt)


def _relations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["identifier"]: r for r in document["relations"]}


def _columns(document: dict[str, Any], identifier: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in _relations(document)[identifier]["columns"]}


def _assert_names_types_and_comments(document: dict[str, Any]) -> None:
    assert document["adapter_type"] == "spark"
    assert document["database"] is None  # Spark's schemas are its databases
    assert [(r["schema"], r["identifier"], r["type"]) for r in document["relations"]] == [
        ("raw_it", "customer_totals", "view"),
        ("raw_it", "customers", "table"),
        ("raw_it", "mixedcase", "table"),  # Spark keeps table names in lower case
        ("raw_it", "odd_values", "table"),
        ("raw_it", "order", "table"),
        ("raw_it", "orders", "table"),
        ("raw_events", "events", "table"),
    ]
    mixed = _columns(document, "mixedcase")
    assert list(mixed) == ["id", "1st_value", "naïve", "prix_€", "CamelCase"]  # columns keep their case
    assert [c["data_type"] for c in mixed.values()] == ["int", "int", "boolean", "double", "string"]
    assert mixed["prix_€"]["comment"] == "Price in euros (€)"
    order = _columns(document, "order")
    assert list(order) == ["select", "user", "Order Date"]
    assert order["select"]["comment"] == "A reserved word; it's quoted everywhere"
    assert _columns(document, "orders")["amount"]["data_type"] == "decimal(10,2)"
    odd = _columns(document, "odd_values")
    assert [c["data_type"] for c in odd.values()] == [
        "array<int>",
        "map<string,string>",
        "double",
        "string",
        "boolean",
        "timestamp_ntz",
        "string",
    ]
    assert list(odd)[-1] == "say `hi`"
    relations = _relations(document)
    assert relations["customers"]["comment"] == "Customers, one row per person — the shop's own list"
    assert relations["customer_totals"]["comment"] == "Spent per customer"
    assert all(r["primary_key"] == [] and r["foreign_keys"] == [] for r in document["relations"])


def _top(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"value": value, "count": count} for value, count in pairs]


def _assert_profile(document: dict[str, Any]) -> None:
    """Statistics worked out by hand, the same as on PostgreSQL and DuckDB where the tables agree."""
    assert {r["identifier"]: r["profile"]["row_count"] for r in document["relations"]} == {
        "customer_totals": 3,
        "customers": 3,
        "mixedcase": 3,
        "odd_values": 2,
        "order": 5,
        "orders": 4,
        "events": 2,
    }
    order = {name: c["profile"] for name, c in _columns(document, "order").items()}
    assert order["select"] == {"null_count": 0, "distinct_count": 5, "min": 1, "max": 5, "top_values": None}
    assert order["user"]["top_values"] == _top(("alice", 3), ("bob", 1))
    assert (order["Order Date"]["min"], order["Order Date"]["max"]) == ("2024-01-05", "2024-02-29")
    mixed = {name: c["profile"] for name, c in _columns(document, "mixedcase").items()}
    price = mixed["prix_€"]
    assert [price[k] for k in ("null_count", "distinct_count", "min", "max", "top_values")] == [
        1,
        2,
        9.99,
        19.5,
        None,
    ]
    assert mixed["CamelCase"]["top_values"] == _top(("Upper", 2), ("lower", 1))
    assert _columns(document, "events")["happened_at"]["profile"]["min"] == "2024-01-05T10:00:00"
    assert _columns(document, "orders")["amount"]["profile"]["max"] == 100
    odd = {name: c["profile"] for name, c in _columns(document, "odd_values").items()}
    nulls_only = {"null_count": 1, "distinct_count": None, "min": None, "max": None, "top_values": None}
    assert odd["numbers"] == odd["attrs"] == nulls_only  # collections: only their nulls are counted
    assert (odd["ratio"]["min"], odd["ratio"]["max"]) == ("-Infinity", "NaN")
    assert odd["code"]["top_values"] == _top(("005", 2))
    assert odd["moment"]["min"] == "2024-01-05T10:00:00"
    assert odd["say `hi`"] == {
        "null_count": 2,
        "distinct_count": 0,
        "min": None,
        "max": None,
        "top_values": [],
    }


def _assert_graph(document: dict[str, Any]) -> None:
    nodes = {n["unique_id"].replace(".cartridge_spark_it.", ".", 1): n for n in document["graph"]["nodes"]}
    assert {key: node["exists"] for key, node in nodes.items()} == {
        "model.not_built": False,
        "model.spent_per_country": True,
        "source.raw.customers": True,
        "source.raw.mixed_case": True,  # MixedCase in the project, mixedcase in Spark: the same table
        "source.raw.never_loaded": False,
        "source.raw.orders": True,
    }
    built = nodes["model.spent_per_country"]
    assert (built["schema"], built["type"]) == ("it_models", "view")
    assert built["columns"] == [
        {"name": "country", "data_type": "string", "position": 1},
        {"name": "spent", "data_type": "decimal(20,2)", "position": 2},
    ]
    assert nodes["source.raw.mixed_case"]["columns"] == [
        {"name": c["name"], "data_type": c["data_type"], "position": c["position"]}
        for c in _relations(document)["mixedcase"]["columns"]
    ]


def test_gather_prints_the_expected_document(project: SparkProject) -> None:
    document = project.gather(schemas=RAW_SCHEMAS, profile=True)

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    validator.validate(document)
    parse_facts(json.dumps(document))  # the bridge reads what the macro prints
    _assert_names_types_and_comments(document)
    _assert_profile(document)
    _assert_graph(document)
    if UPDATE_EXPECTED:
        EXPECTED.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert document == json.loads(EXPECTED.read_text(encoding="utf-8"))


def test_sampling_and_globs_work_on_spark(project: SparkProject) -> None:
    document = project.gather(
        schemas=["raw_it"], select=["ord*"], exclude=["orders"], profile=True, profile_sample=2, graph=False
    )

    [order] = document["relations"]
    assert order["identifier"] == "order"
    assert order["profile"] == {"row_count": 2}
    assert order["columns"][0]["profile"]["null_count"] == 0


def test_a_missing_schema_fails_naming_it(project: SparkProject) -> None:
    with pytest.raises(UsageError) as failure:
        project.dbt.run_operation("cartridge.gather", {"schemas": ["no_such_schema"]})

    message = str(failure.value)
    assert message.startswith("cartridge.gather: argument 'schemas'")
    assert '"no_such_schema"' in message and "does not exist" in message


def test_distinct_combinations_count_on_spark(project: SparkProject) -> None:
    relations = [
        {"schema": "raw_it", "identifier": "order", "combinations": [["select"], ["user", "Order Date"]]}
    ]

    printed = project.dbt.run_operation("cartridge.distinct_combinations", {"relations": relations})

    assert json.loads(printed) == [
        {"schema": "raw_it", "identifier": "order", "counts": [[["select"], 5], [["user", "Order Date"], 4]]}
    ]


def test_the_bridge_gathers_facts_through_its_api(project: SparkProject) -> None:
    options = ProjectOptions(project_dir=project.directory, profiles_dir=project.directory)
    opened = open_project(options, SilentProgress())

    facts = gather_facts(opened, ["raw_it"], [], [], profile=True)

    assert [r.identifier for r in facts.relations] == [
        "customer_totals",
        "customers",
        "mixedcase",
        "odd_values",
        "order",
        "orders",
    ]
    assert {r.schema_ for r in facts.relations} == {"raw_it"}
