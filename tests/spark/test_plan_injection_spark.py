"""Issue 15's Spark-class payloads applied for real on a local Spark: a backtick in a source identifier, a
backslash before a quote in an `accepted_values` value.

Spark runs one statement per query, so a payload there cannot add a statement; what it can do is end a quoted
name or string early and change the statement. So besides the marker table, the raw table holds a row whose
status is the payload itself: the accepted_values test passes only when Spark reads the value back exactly.
The project persists docs, and dbt-spark writes a description between quotes escaping `'` but not a backslash: the
staging model's description and a column's must come back from Spark as written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from plan_payloads import (
    Plan,
    accept_values,
    add_model,
    add_self_union,
    edited,
    incremental_fact,
    marker_statements,
    source_spec,
    staging_action,
    staging_column,
)
from support import snapshot_tree, spark_output, write_project

from cartridge_bridge.api import ApplyReport, ProjectOptions, apply_plan, load_context, make_plan, undo_run
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.errors import CartridgeError
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import SilentProgress

MARKER = "marker_spark"
MAKE = marker_statements(f"default.{MARKER}")
# A backslash before the quote: doubling the quote alone would leave `\'` escaped and the next `'` closing.
VALUE = f"x\\')) dbt_internal_test; {MAKE} select count(*) from (select '"
DESCRIPTION = "The user\\'s status, \\' then a trailing backslash \\"
PERSIST_DOCS = "models:\n  +persist_docs: {relation: true, columns: true}\n"
# Prints what Spark reads back from the literal the gather macros write for `value`.
READ_LITERAL = (
    "{% macro read_literal(value) %}"
    "{{ print(tojson(run_query('select ' ~ cartridge._string_literal(value)).rows[0][0])) }}"
    "{% endmacro %}\n"
)


def _identifier(plan: Plan) -> None:
    source_spec(plan)["tables"][0]["identifier"] = (
        f"users`), renamed as (select 1) select 1); {MAKE} select `x"
    )


def _backslash_quotes(plan: Plan) -> None:
    accept_values(plan, "status", "active", VALUE)
    staging_action(plan)["description"] = staging_column(plan, "status")["description"] = DESCRIPTION


def _window_and_condition(plan: Plan) -> None:
    """Plan version 3's fields with Spark's ways out: a Java method in a window's order, a backslash-escaped
    quote ending a conditional aggregate's condition."""
    staged = staging_action(plan)["name"]
    where = f"status = 'x\\') then 1 end) from analytics_inject.{staged}; {MAKE} select count(case when ('"
    columns = [
        {"name": "status", "expression": "status", "description": "The status."},
        {"name": "users", "aggregate": {"function": "count", "where": where}, "description": "How many."},
    ]
    spec = {"kind": "aggregate", "from_model": staged, "group_by": ["status"], "columns": columns}
    add_model(plan, "intermediate", "int_users_by_status", spec)
    window = "row_number() over (order by java_method('java.lang.Runtime', 'getRuntime'))"
    columns = [
        {"name": "status", "expression": "users.status", "description": "The status."},
        {"name": "position", "expression": window, "description": "Its place."},
    ]
    spec = {"kind": "mart", "role": "fact", "base_model": staged, "base_alias": "users", "columns": columns}
    add_model(plan, "marts", "fct_user_positions", spec)


def _union_label(plan: Plan) -> None:
    add_self_union(plan, "stg_inject__users", "user_id", "string", VALUE, "status")


def _incremental_column(plan: Plan) -> None:
    """An incremental fact whose growing column would end the backquoted name in its filter."""
    fact = incremental_fact(plan, "fct_users", 0, table="users")
    fact["config"]["incremental"]["column"] = f"id` > 0) {MAKE} select (`x"
    plan["actions"].append(fact)


# Each payload with what must become of it: refused by the plan checks, or built with the payload as data.
CASES: dict[str, tuple[Callable[[Plan], None], str]] = {
    "backtick-identifier": (_identifier, "refused"),
    "backslash-quotes": (_backslash_quotes, "built"),
    "window-and-condition": (_window_and_condition, "refused"),
    "union-label": (_union_label, "refused"),
    "incremental-column": (_incremental_column, "refused"),
}


def _comments(spark: Any, relation: str) -> tuple[str, str]:
    """The relation's comment and its `status` column's, as Spark keeps them."""
    rows = {row.col_name: row for row in spark.sql(f"describe table extended {relation}").collect()}
    return rows["Comment"].data_type, rows["status"].comment


@pytest.fixture(scope="module")
def planned(
    spark: Any, spark_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ProjectOptions, Plan]]:
    spark.sql("create database raw_inject")
    spark.sql("create table raw_inject.users (id bigint, status string) using parquet")
    rows = [(1, "active"), (2, VALUE)]
    spark.createDataFrame(rows, "id bigint, status string").write.insertInto("raw_inject.users")
    project = write_project(
        tmp_path_factory.mktemp("inject") / "app",
        "app",
        spark_output(spark_home, "analytics_inject"),
        models={"macros/read_literal.sql": READ_LITERAL},
        extra_project_yaml=PERSIST_DOCS,
    )
    DbtProject(project, project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_inject"])
    _, context = load_context(options, SilentProgress())
    yield options, json.loads(make_plan(context).model_dump_json())
    spark.sql("drop database raw_inject cascade")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_spark_class_payload_is_refused_or_stays_data(
    spark: Any, planned: tuple[ProjectOptions, Plan], case: str
) -> None:
    options, plan = planned
    edit, outcome = CASES[case]
    project = options.project_dir
    before = snapshot_tree(project)
    report: ApplyReport | None = None
    try:
        report = apply_plan(ExecutionPlan.model_validate(edited(plan, edit)), options, SilentProgress())
    except CartridgeError as error:
        assert error.exit_code == 2, error  # refused by the checks, not failed in the warehouse
        if case == "union-label":  # the union around the label is valid: only the label is refused
            assert "has a problem: int_users_twice: spec.inputs[0].label:" in str(error), error
        assert snapshot_tree(project) == before
    try:
        assert not spark.catalog.tableExists(f"default.{MARKER}")
        assert ("built" if report is not None else "refused") == outcome
        if report is not None:
            assert report.build is not None and report.build.success, report.build
            assert report.build.failed == [] and report.relaxed_tests == []
            assert _comments(spark, "analytics_inject.stg_inject__users") == (DESCRIPTION, DESCRIPTION)
    finally:
        if report is not None:
            undo_run(project, None, profiles_dir=project)


def test_the_gathers_string_literals_read_back_exactly_on_spark(planned: tuple[ProjectOptions, Plan]) -> None:
    project = planned[0].project_dir
    printed = DbtProject(project, project).run_operation("read_literal", {"value": DESCRIPTION})
    assert json.loads(printed) == DESCRIPTION
