"""The business-answers bench's yardstick and its SQL restriction, on tiny in-memory answers (no database)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from unit.test_semantic_models import PROJECTS, marts, planned

from bench.answers_queries import (
    Layer,
    QueryRefused,
    check_against,
    check_metrics,
    check_shape,
    layer_of,
    load_questions,
)
from bench.answers_scoring import EXACT, PARTIAL, WRONG, canonical, default_keys, score
from cartridge_bridge.planning.plan import DataTest, MartSpec

COLUMNS = ["month", "orders", "sales"]
VENDOR = [
    {"month": canonical("2020-09-01"), "orders": canonical("3"), "sales": canonical("12.80")},
    {"month": canonical("2025-05-01"), "orders": canonical("5"), "sales": canonical("0.00")},
]


def layer(sales_in_may: object = Decimal("0.004")) -> list[dict[str, object]]:
    # As psycopg2 returns them: timestamps from date_trunc, bigint counts, numeric sums.
    return [
        {"month": dt.datetime(2020, 9, 1), "orders": 3, "sales": Decimal("12.8")},
        {"month": dt.datetime(2025, 5, 1), "orders": 5, "sales": sales_in_may},
    ]


def test_same_numbers_on_the_same_days_are_exact() -> None:
    result = score(COLUMNS, VENDOR, layer(), ["month"])
    assert (result.verdict, result.detail) == (EXACT, "2 rows, 2 columns")


def test_a_number_off_by_more_than_a_cent_is_wrong_with_both_numbers() -> None:
    result = score(COLUMNS, VENDOR, layer(sales_in_may=Decimal("0.02")), ["month"])
    assert result.verdict == WRONG
    assert result.differences == ["2025-05-01: sales vendor 0.0 layer 0.02"]


def test_a_key_returned_twice_is_wrong() -> None:
    rows = [*layer(), layer()[0]]
    assert score(COLUMNS, VENDOR, rows, ["month"]).verdict == WRONG


def test_a_missing_row_is_partial_and_says_how_many_matched() -> None:
    result = score(COLUMNS, VENDOR, layer()[:1], ["month"])
    assert (result.verdict, result.detail) == (PARTIAL, "1/2 rows")


def test_an_extra_row_is_partial() -> None:
    rows = [*layer(), {"month": dt.datetime(2021, 1, 1), "orders": 1, "sales": 1}]
    assert score(COLUMNS, VENDOR, rows, ["month"]).detail == "2/2 rows, 1 extra"


def test_columns_the_layer_lacks_make_a_partial_that_names_them() -> None:
    rows = [{k: v for k, v in row.items() if k != "sales"} for row in layer()]
    result = score(COLUMNS, VENDOR, rows, ["month"], {"sales": "no line sales"})
    assert (result.verdict, result.detail) == (PARTIAL, "1/2 columns; not answerable: sales (no line sales)")


def test_ids_empty_cells_and_booleans_compare_across_csv_and_database() -> None:
    vendor = [{"id": canonical("10001"), "login": canonical(""), "auto": canonical("t")}]
    assert (
        score(["id", "login", "auto"], vendor, [{"id": 10001, "login": None, "auto": True}], ["id"]).verdict
        == EXACT
    )
    assert canonical("2020-04-05 20:02:43") == dt.datetime(2020, 4, 5, 20, 2, 43)
    assert canonical(dt.datetime(2020, 9, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == dt.datetime(
        2020, 8, 31, 22
    )


def test_default_keys_are_the_columns_that_are_not_numbers() -> None:
    assert default_keys(COLUMNS, VENDOR) == ["month"]


@pytest.mark.parametrize(
    "sql",
    [
        "select case when a then 1 end as x from fct_order",
        "select sum(price * quantity) as sales from fct_order_line",
        "select count(order_id) over () as n from fct_order",
        "select order_id from (select order_id from fct_order) as o",
        "with o as (select 1 as x) select x from o",
        "select a.x from a join b on a.k = b.k join c on a.k = c.k",
        "select count(order_id) as n from fct_order having count(order_id) > 1",
        "select cast(created_at as date) as day from fct_order",
        "select 1 as x; select 2 as y",
        "select 570860 as gross_revenue from fct_invoice_item",
    ],
)
def test_the_restriction_refuses_logic_in_the_bench(sql: str) -> None:
    with pytest.raises(QueryRefused):
        check_shape(sql)


def test_the_restriction_allows_a_grouped_count_by_month_over_one_join() -> None:
    check_shape(
        "select date_trunc('month', o.created_at) as m, count(distinct o.customer_id) as c from fct_order as o "
        "left join dim_customer as d on o.customer_id = d.customer_id where o.status in ('a', 'b') group by 1"
    )


LAYER = Layer(
    columns={"fct_order": {"order_id", "customer_id", "user_id"}, "dim_customer": {"customer_id", "name"}},
    grain={"fct_order": {"order_id"}, "dim_customer": {"customer_id"}},
    foreign={("fct_order", "customer_id", "dim_customer", "customer_id")},
)


def test_a_join_on_a_declared_foreign_key_between_marts_is_asked() -> None:
    sql = (
        "select d.name, count(o.order_id) as orders from fct_order as o "
        "join dim_customer as d on d.customer_id = o.customer_id group by d.name"
    )
    assert check_against(check_shape(sql), LAYER) == ["fct_order", "dim_customer"]


@pytest.mark.parametrize(
    ("sql", "culprit"),
    [
        ("select count(order_id) as n from stg_shop__order", "stg_shop__order"),
        ("select count(order_id) as n from analytics.fct_order", "analytics.fct_order"),
        ("select count(o.total) as n from fct_order as o", "o.total"),
        (
            "select count(o.order_id) as n from fct_order as o join dim_customer as d on o.user_id = d.customer_id",
            "o.user_id",
        ),
    ],
)
def test_the_layer_check_refuses_what_is_no_mart_column_or_declared_key(sql: str, culprit: str) -> None:
    with pytest.raises(QueryRefused, match=re.escape(culprit)):
        check_against(check_shape(sql), LAYER)


def test_a_question_file_with_logic_in_its_sql_is_refused_naming_the_question(tmp_path: Path) -> None:
    (tmp_path / "shop.yml").write_text(
        "q1:\n  question: Sales?\n  sql: select sum(price * quantity) as sales from fct_order_line\n"
        "q2:\n  question: Refunds?\n  not_answerable: no refund mart\n"
    )
    with pytest.raises(QueryRefused, match=r"shop.yml q1: .*price \* quantity"):
        load_questions("shop", tmp_path)


METRIC_QUESTION = """q1:
  question: Subscriptions by status?
  metricflow:
    metrics: [subscription_count]
    group_by: [subscription__status]
    columns: {status: subscription__status, subscriptions: subscription_count}
"""


def test_a_metricflow_question_is_read_and_its_metrics_must_be_the_layers(tmp_path: Path) -> None:
    (tmp_path / "billing.yml").write_text(METRIC_QUESTION)
    query = load_questions("billing", tmp_path)["q1"].metricflow
    assert query is not None and query.columns == {
        "status": "subscription__status",
        "subscriptions": "subscription_count",
    }
    check_metrics(query, Layer(metrics={"subscription_count"}))
    with pytest.raises(QueryRefused, match="no metric subscription_count in the layer's semantic models"):
        check_metrics(query, Layer(metrics={"invoice_count"}))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (METRIC_QUESTION.replace("subscriptions: subscription_count", "subscriptions: order_count"),
         "columns name no metric or group-by of the query: order_count"),
        (METRIC_QUESTION + "  sql: select count(subscription_id) as subscriptions from fct_subscription\n",
         "give exactly one of sql, metricflow and not_answerable"),
    ],
)  # fmt: skip
def test_a_metricflow_question_maps_only_its_outputs_and_is_asked_one_way(
    tmp_path: Path, text: str, problem: str
) -> None:
    (tmp_path / "billing.yml").write_text(text)
    with pytest.raises(ValueError, match=problem):
        load_questions("billing", tmp_path)


def test_a_marts_own_relationships_test_declares_a_key_the_bench_may_join_on(tmp_path: Path) -> None:
    """A mart column tested against another mart's key (an LLM layer carrying a key from a joined model, not from
    its base staging model) is a declared foreign key; a column with no such test is not."""
    plan, _ = planned(tmp_path, *PROJECTS)
    found = marts(plan)
    projects, teams = found["fct_projects"], found["dim_teams"]
    assert isinstance(projects.spec, MartSpec) and isinstance(teams.spec, MartSpec)
    [key] = teams.spec.grain
    column = next(c for c in projects.spec.columns if c.name == "name")
    before = layer_of(plan).foreign
    assert ("fct_projects", "name", "dim_teams", key) not in before
    column.tests.append(DataTest(name="relationships", to="dim_teams", field=key))
    assert ("fct_projects", "name", "dim_teams", key) in layer_of(plan).foreign


def test_only_a_whole_run_of_one_planner_writes_the_committed_results() -> None:
    from bench.answers import default_results_file
    from bench.answers_figures import RESULTS

    every = [
        "asana",
        "github",
        "zuora",
    ]  # the connectors with business questions (the datasets sit outside the repo)
    assert default_results_file(["rules"], every, every) == RESULTS[0]
    assert default_results_file(["llm"], list(reversed(every)), every) == RESULTS[1]
    # two connectors, or both planners at once, must not overwrite the figures the docs are rendered from
    assert default_results_file(["llm"], every[:2], every) not in RESULTS
    assert default_results_file(["rules", "llm"], every, every) not in RESULTS
