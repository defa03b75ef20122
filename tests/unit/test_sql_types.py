"""Unit tests of cartridge_bridge.sql.sql_types (type classification) and identifiers.quote (quoting per adapter)."""

from __future__ import annotations

import pytest

from cartridge_bridge.sql.identifiers import quote
from cartridge_bridge.sql.sql_types import is_numeric, is_temporal


@pytest.mark.parametrize("adapter", ["postgres", "duckdb", "snowflake", "redshift"])
def test_double_quote_adapters(adapter: str) -> None:
    assert quote("order", adapter) == '"order"'
    assert quote("createdAt", adapter) == '"createdAt"'
    assert quote('say "hi"', adapter) == '"say ""hi"""'


@pytest.mark.parametrize("adapter", ["bigquery", "databricks", "spark"])
def test_backtick_adapters(adapter: str) -> None:
    assert quote("order", adapter) == "`order`"
    assert quote("createdAt", adapter) == "`createdAt`"
    if adapter == "bigquery":  # a backslash escapes inside BigQuery's backticks
        assert quote("odd`name", adapter) == "`odd\\`name`"
        assert quote("back\\slash", adapter) == "`back\\\\slash`"
    else:
        assert quote("odd`name", adapter) == "`odd``name`"


@pytest.mark.parametrize(
    ("adapter", "name", "quoted"),
    [
        ("postgres", "{{ run_query('x') }}", "{{ '\"{{ run_query(\\'x\\') }}\"' }}"),
        ("duckdb", "a{%b", "{{ '\"a{%b\"' }}"),
        ("spark", "{#c", "{{ '`{#c`' }}"),
    ],
)
def test_quoted_names_with_jinja_are_a_literal_of_themselves(adapter: str, name: str, quoted: str) -> None:
    assert quote(name, adapter) == quoted


@pytest.mark.parametrize("adapter", ["postgres", "duckdb", "bigquery"])
def test_plain_identifiers_stay_bare(adapter: str) -> None:
    assert quote("customer_id", adapter) == "customer_id"


@pytest.mark.parametrize(
    "data_type",
    [
        "int4",
        "int",
        "integer",
        "bigint",
        "smallint",
        "hugeint",
        "INT64",
        "numeric",
        "numeric(10,2)",
        "DECIMAL(10,2)",
        "NUMBER(38,0)",
        "double precision",
        "float8",
        "FLOAT64",
        "real",
        "money",
        "  integer  ",
    ],
)
def test_numeric_types(data_type: str) -> None:
    assert is_numeric(data_type)
    assert not is_temporal(data_type)


@pytest.mark.parametrize(
    "data_type",
    [
        "date",
        "DATE",
        "timestamp",
        "timestamp with time zone",
        "timestamp without time zone",
        "timestamptz",
        "TIMESTAMP(6)",
        "timestamp_ntz",
        "datetime",
    ],
)
def test_temporal_types(data_type: str) -> None:
    assert is_temporal(data_type)
    assert not is_numeric(data_type)


@pytest.mark.parametrize(
    "data_type",
    [
        "interval",
        "interval day to second",
        "text",
        "varchar(255)",
        "boolean",
        "json",
        "uuid",
        "bytea",
        "time",
    ],
)
def test_other_types_are_neither(data_type: str) -> None:
    assert not is_numeric(data_type)
    assert not is_temporal(data_type)


@pytest.mark.parametrize("data_type", ["internal", "intarray", "daterange", "date_trunc", "pointer"])
def test_prefixes_of_other_words_do_not_count(data_type: str) -> None:
    assert not is_numeric(data_type)
    assert not is_temporal(data_type)


@pytest.mark.parametrize("data_type", ["ubigint", "usmallint", "utinyint"])
def test_unsigned_duckdb_integers_are_numeric(data_type: str) -> None:
    assert is_numeric(data_type)


@pytest.mark.parametrize("data_type", ["integer[]", "numeric(10,2)[]"])
def test_arrays_of_numbers_are_not_numeric(data_type: str) -> None:
    assert not is_numeric(data_type)
