"""What generated SQL looks like on Spark: backtick quoting, Spark's type names, fragments read in sqlglot's `spark`."""

from __future__ import annotations

import pytest

from cartridge_bridge.sql.identifiers import quote
from cartridge_bridge.sql.sql_fragments import cast_type_problem, expression_problem
from cartridge_bridge.sql.sql_types import is_numeric, is_temporal


def test_names_spark_cannot_take_bare_are_backticked() -> None:
    assert quote("customerId", "spark") == "`customerId`"
    assert quote("order", "spark") == "`order`"
    assert quote("say `hi`", "spark") == "`say ``hi```"  # a backtick inside is doubled
    assert quote("customer_id", "spark") == "customer_id"


@pytest.mark.parametrize(
    "data_type", ["tinyint", "smallint", "int", "bigint", "decimal(12,2)", "float", "double"]
)
def test_spark_numbers(data_type: str) -> None:
    assert is_numeric(data_type) and not is_temporal(data_type)
    assert cast_type_problem(data_type, "spark") is None


@pytest.mark.parametrize("data_type", ["date", "timestamp", "timestamp_ntz"])
def test_spark_dates_and_times(data_type: str) -> None:
    assert is_temporal(data_type) and not is_numeric(data_type)
    assert cast_type_problem(data_type, "spark") is None


@pytest.mark.parametrize("data_type", ["string", "boolean", "binary", "varchar(10)"])
def test_other_spark_scalars_cast_plainly(data_type: str) -> None:
    assert not is_numeric(data_type) and not is_temporal(data_type)
    assert cast_type_problem(data_type, "spark") is None


@pytest.mark.parametrize("data_type", ["array<int>", "map<string,string>", "struct<a:int>"])
def test_spark_collections_are_never_cast_nor_summed(data_type: str) -> None:
    assert not is_numeric(data_type) and not is_temporal(data_type)
    assert cast_type_problem(data_type, "spark") is not None


@pytest.mark.parametrize(
    "expression",
    ["`customerId` + 1", "coalesce(o.`Order Date`, date'2024-01-01')", "date_trunc('MONTH', placed_at)"],
)
def test_spark_expressions_parse_in_the_spark_dialect(expression: str) -> None:
    assert expression_problem(expression, "spark") is None


@pytest.mark.parametrize(
    "expression",
    [
        "reflect('java.lang.Runtime', 'getRuntime')",
        "try_reflect('java.lang.System', 'getenv', 'HOME')",
        "java_method('java.lang.Thread', 'sleep', 1000L)",
        "input_file_name()",
    ],
)
def test_spark_functions_that_reach_outside_are_refused(expression: str) -> None:
    problem = expression_problem(expression, "spark")
    assert problem is not None and "reaches outside the model's inputs" in problem
