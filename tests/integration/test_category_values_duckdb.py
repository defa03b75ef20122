"""`generate` reads the values of category columns on DuckDB: a mart sums successful charges only and counts
each status apart, the numbers SQL gives by hand; hostile values are escaped or leave their column unsplit."""

from __future__ import annotations

from pathlib import Path

import duckdb
from support import duckdb_database
from test_generate_duckdb import _generate

RAW = (
    "create schema raw_pay",
    "create table raw_pay.customers (id integer, name varchar, created_at timestamp)",
    "create table raw_pay.charges (id integer, customer_id integer, amount decimal(12,2), status varchar,"
    " kind varchar, created_at timestamp)",
    "insert into raw_pay.customers values (1, 'Ada', '2025-01-01'), (2, 'Grace', '2025-01-02'),"
    " (3, 'Edsger', '2025-01-03')",
    # `kind` holds Jinja: it must reach no SQL, so `kind` splits nothing; the quote in a status is escaped.
    "insert into raw_pay.charges values"
    " (1, 1, 10.00, 'succeeded', 'card', '2025-02-01'), (2, 1, 99.00, 'failed', '{{ x }}', '2025-02-02'),"
    " (3, 1, 5.50, 'succeeded', 'card', '2025-02-03'), (4, 2, 7.25, 'won''t pay', 'card', '2025-02-04'),"
    " (5, 2, 3.00, 'succeeded', 'bank', '2025-02-05'), (6, 2, 40.00, 'failed', 'card', '2025-02-06')",
)


def test_generate_reads_statuses_and_sums_only_the_successful_charges(tmp_path: Path) -> None:
    database = duckdb_database(tmp_path / "warehouse.duckdb", RAW)
    _, report = _generate(tmp_path, database, "pay")
    with duckdb.connect(str(database)) as connection:
        mart = next(a.name for a in report.plan.models() if a.name.startswith("dim_customer"))
        columns = [r[0] for r in connection.execute(f"describe analytics.{mart}").fetchall()]
        got = connection.execute(
            "select customer_id, total_charge_amount, number_of_charges_succeeded, number_of_charges_failed,"
            f" number_of_charges_won_t_pay from analytics.{mart} order by 1"
        ).fetchall()
        by_hand = connection.execute(
            "select c.id, coalesce(sum(case when ch.status = 'succeeded' then ch.amount end), null),"
            " count(case when ch.status = 'succeeded' then 1 end), count(case when ch.status = 'failed' then 1 end),"
            " count(case when ch.status = 'won''t pay' then 1 end)"
            " from raw_pay.customers c left join raw_pay.charges ch on ch.customer_id = c.id group by c.id order by 1"
        ).fetchall()
    assert [(r[0], float(r[1] or 0), *r[2:]) for r in got] == [
        (r[0], float(r[1] or 0), *r[2:]) for r in by_hand
    ]
    assert got[0][1] == 15.5  # customer 1: 10.00 + 5.50, the failed 99.00 left out
    assert not [c for c in columns if "card" in c or "bank" in c]  # `kind` holds Jinja: not split
