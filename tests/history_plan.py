"""A hand-written version history and the plan that makes it a type-2 dimension, for every warehouse's test.

Customer 1 changed twice, customer 2 never, customer 3 has two versions starting at the same time (a tie the
later sync wins) before one more change. `ended_at` is a loader's end column: the next version's start, and a
far date for the current version (as loaders write it). The hand answers below are what the models must hold.
"""

from __future__ import annotations

import datetime
from typing import Any

Plan = dict[str, Any]
SCHEMA = "raw_hist"
FAR = "9999-12-31 00:00:00"
# (id, name, plan, updated_at, ended_at, synced_at)
ROWS = [
    (1, "Ann", "free", "2025-01-01 00:00:00", "2025-02-01 00:00:00", "2025-01-01 01:00:00"),
    (1, "Ann", "pro", "2025-02-01 00:00:00", "2025-03-01 00:00:00", "2025-02-01 01:00:00"),
    (1, "Ann B", "pro", "2025-03-01 00:00:00", FAR, "2025-03-01 01:00:00"),
    (2, "Bob", "free", "2025-01-15 00:00:00", FAR, "2025-01-15 01:00:00"),
    (3, "Cy", "free", "2025-01-10 00:00:00", "2025-01-10 00:00:00", "2025-01-10 01:00:00"),
    (3, "Cy", "team", "2025-01-10 00:00:00", "2025-02-20 00:00:00", "2025-01-10 02:00:00"),
    (3, "Cy", "pro", "2025-02-20 00:00:00", FAR, "2025-02-20 01:00:00"),
]
COLUMNS = [
    ("id", "integer"),
    ("name", "varchar(20)"),
    ("plan", "varchar(20)"),
    ("updated_at", "timestamp"),
    ("ended_at", "timestamp"),
    ("synced_at", "timestamp"),
]


def _at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


# Worked out by hand: (customer_id, name, plan, valid_from, valid_to, is_current), by customer and start.
EXPECTED_HISTORY = [
    (1, "Ann", "free", _at("2025-01-01"), _at("2025-02-01"), False),
    (1, "Ann", "pro", _at("2025-02-01"), _at("2025-03-01"), False),
    (1, "Ann B", "pro", _at("2025-03-01"), None, True),
    (2, "Bob", "free", _at("2025-01-15"), None, True),
    (3, "Cy", "team", _at("2025-01-10"), _at("2025-02-20"), False),
    (3, "Cy", "pro", _at("2025-02-20"), None, True),
]
EXPECTED_CURRENT = [(1, "Ann B", "pro"), (2, "Bob", "free"), (3, "Cy", "pro")]
AS_OF = "2025-02-10 00:00:00"
EXPECTED_AS_OF = [(1, "pro"), (2, "free"), (3, "team")]


def as_of_query(relation: str) -> str:
    """Each customer's plan as of AS_OF, read from the type-2 rows as the README says to."""
    at = f"cast('{AS_OF}' as timestamp)"
    return (
        f"select customer_id, plan from {relation} "
        f"where valid_from <= {at} and (valid_to is null or {at} < valid_to) order by customer_id"
    )


def insert_statements(identifier: str = "customer_versions") -> list[str]:
    """The raw table's values as one SQL insert (valid on PostgreSQL, DuckDB and Spark)."""
    values = ", ".join(
        f"({i}, '{n}', '{p}', cast('{u}' as timestamp), cast('{e}' as timestamp), cast('{s}' as timestamp))"
        for i, n, p, u, e, s in ROWS
    )
    return [f"insert into {SCHEMA}.{identifier} values {values}"]


def _column(name: str, description: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "description": description, **more}


def _current_state(*carried: str) -> dict[str, Any]:
    """The current state of `int_customers_history`: its current versions, one per customer."""
    return {
        "kind": "mart",
        "role": "dimension",
        "base_model": "int_customers_history",
        "base_alias": "history",
        "grain": ["customer_id"],
        "filter": "history.is_current",
        "columns": [
            _column(
                "customer_id",
                "The customer.",
                expression="history.customer_id",
                tests=[{"name": "unique"}, {"name": "not_null"}],
            ),
            *(_column(name, f"The current {name}.", expression=f"history.{name}") for name in carried),
        ],
    }


def history_plan(adapter_type: str, project_name: str = "app", timestamp: str = "timestamp") -> Plan:
    """Source, staging keeping every version, two type-2 models (the next start; the loader's end) and the
    current state, each tested; written by hand as a person or an LLM would."""
    staging = "stg_hist__customer_versions"
    folder = "models/staging/hist"
    history = {
        "kind": "history",
        "from_model": staging,
        "entity_key": ["customer_id"],
        "valid_from": "updated_at",
        "tie_breaker": [{"column": "synced_at", "descending": True}],
        "columns": [
            _column("customer_id", "The customer.", expression="customer_id"),
            _column("name", "The customer's name in this version.", expression="name"),
            _column("plan", "The plan in this version.", expression="plan"),
        ],
    }
    overlap = {
        "name": "versions_do_not_overlap",
        "columns": ["customer_id"],
        "valid_from": "valid_from",
        "valid_to": "valid_to",
    }
    grain = {"name": "unique_combination_of_columns", "columns": ["customer_id", "valid_from"]}

    def model(step: int, kind: str, name: str, path: str, spec: dict[str, Any], deps: list[str], **more: Any):
        return {
            "step_id": step,
            "type": kind,
            "name": name,
            "file_path": f"{path}/{name}.sql",
            "properties_path": f"{path}/_models.yml",
            "description": f"The {name} model.",
            "dependencies": deps,
            "spec": spec,
            **more,
        }

    return {
        "plan_version": 3,
        "project_name": project_name,
        "strategy": "greenfield",
        "planner": "hand",
        "adapter_type": adapter_type,
        "actions": [
            {
                "step_id": 1,
                "type": "create_source",
                "name": "hist",
                "file_path": f"{folder}/_hist__sources.yml",
                "description": "The raw history.",
                "spec": {
                    "kind": "source",
                    "source_name": "hist",
                    "schema_name": SCHEMA,
                    "description": "Raw tables.",
                    "tables": [
                        {
                            "name": "customer_versions",
                            "identifier": "customer_versions",
                            "description": "Every version of every customer.",
                            "columns": [_column(name, "") for name, _ in COLUMNS],
                        }
                    ],
                },
            },
            model(
                2,
                "create_staging",
                staging,
                folder,
                {
                    "kind": "staging",
                    "source_name": "hist",
                    "table": "customer_versions",
                    "entity": "customer",
                    "grain": [],
                    "columns": [
                        _column("customer_id", "The customer.", source_column="id"),
                        _column("name", "Name.", source_column="name"),
                        _column("plan", "Plan.", source_column="plan"),
                        _column("updated_at", "Start.", source_column="updated_at", cast_to=timestamp),
                        _column("ended_at", "End.", source_column="ended_at", cast_to=timestamp),
                        _column("synced_at", "Synced.", source_column="synced_at", cast_to=timestamp),
                    ],
                },
                ["hist.customer_versions"],
            ),
            model(
                3,
                "create_intermediate",
                "int_customers_history",
                "models/intermediate",
                history,
                [staging],
                tests=[grain, overlap],
            ),
            model(
                4,
                "create_intermediate",
                "int_customers_history_loader_end",
                "models/intermediate",
                history | {"valid_to": "ended_at"},
                [staging],
                tests=[grain, overlap],
            ),
            model(
                5,
                "create_intermediate",
                "int_customers_current",
                "models/intermediate",
                _current_state("name", "plan"),
                ["int_customers_history"],
            ),
        ],
    }


# Two versions of customer 1 that overlap (the first ends after the second starts), and two of customer 2 that
# start together: the overlap test must fail on each, and pass on customer 3's.
OVERLAPPING_MODEL = """
select 1 as customer_id, cast('2025-01-01' as date) as valid_from, cast('2025-03-01' as date) as valid_to
union all select 1, cast('2025-02-01' as date), cast(null as date)
union all select 2, cast('2025-01-01' as date), cast(null as date)
union all select 2, cast('2025-01-01' as date), cast('2025-02-01' as date)
union all select 3, cast('2025-01-01' as date), cast('2025-02-01' as date)
union all select 3, cast('2025-02-01' as date), cast(null as date)
"""
OVERLAPPING_PROPERTIES = """
version: 2
models:
  - name: overlapping_versions
    data_tests:
      - cartridge.versions_do_not_overlap:
          arguments:
            entity_key: [customer_id]
            valid_from: valid_from
            valid_to: valid_to
"""


def shop_history_actions() -> list[dict[str, Any]]:
    """A history of the unit tests' shop orders per customer and its current state, to append to the shop's
    rules plan: every field of the kind, the loader's end column and the overlap test included."""
    folder = "models/intermediate"
    history_spec = {
        "kind": "history",
        "from_model": "stg_shop__orders",
        "entity_key": ["customer_id"],
        "valid_from": "ordered_at",
        "tie_breaker": [{"column": "order_id", "descending": True}],
        "columns": [
            _column("customer_id", "The customer.", expression="customer_id", tests=[{"name": "not_null"}]),
            _column("status", "The status of the customer's order.", expression="lower(status)"),
        ],
    }
    current = _current_state("status")
    return [
        {
            "step_id": 90,
            "type": "create_intermediate",
            "name": "int_customers_history",
            "file_path": f"{folder}/int_customers_history.sql",
            "properties_path": f"{folder}/_intermediate__models.yml",
            "description": "Every status of each customer's orders.",
            "dependencies": ["stg_shop__orders"],
            "spec": history_spec,
            "tests": [
                {"name": "unique_combination_of_columns", "columns": ["customer_id", "valid_from"]},
                {
                    "name": "versions_do_not_overlap",
                    "columns": ["customer_id"],
                    "valid_from": "valid_from",
                    "valid_to": "valid_to",
                },
            ],
        },
        {
            "step_id": 91,
            "type": "create_intermediate",
            "name": "int_customers_current",
            "file_path": f"{folder}/int_customers_current.sql",
            "properties_path": f"{folder}/_intermediate__models.yml",
            "description": "Each customer's current state.",
            "dependencies": ["int_customers_history"],
            "spec": current,
        },
    ]
