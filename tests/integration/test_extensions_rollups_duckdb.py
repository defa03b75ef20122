"""On DuckDB through real `dbt`: a table keyed on its parent's key joins the parent's mart one-to-one (its time
beside the row's own, and the hours between them), and a grandchild's counts roll up past its parent's mart; the
numbers SQL gives by hand on the raw tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
from support import duckdb_database
from test_generate_duckdb import _generate

RAW = (
    "create schema raw_desk",
    "create table raw_desk.tickets (id integer, created_at timestamp, state varchar)",
    "create table raw_desk.ticket_resolutions (ticket_id integer, resolved_at timestamp, note varchar)",
    "create table raw_desk.replies (id integer, ticket_id integer, created_at timestamp)",
    "create table raw_desk.reactions (id integer, reply_id integer, created_at timestamp)",
    "insert into raw_desk.tickets values (1, '2025-01-01 00:00', 'closed'), (2, '2025-01-02 00:00', 'open'),"
    " (3, '2025-01-03 00:00', 'closed')",
    # ticket 3 was resolved before it was opened, as scrambled data may say: a negative duration, kept
    "insert into raw_desk.ticket_resolutions values (1, '2025-01-01 06:30', 'ok'), (3, '2025-01-02 12:00', 'dup')",
    "insert into raw_desk.replies values (10, 1, '2025-01-01 01:00'), (11, 1, '2025-01-01 02:00'),"
    " (12, 2, '2025-01-02 03:00')",
    "insert into raw_desk.reactions values (100, 10, '2025-01-01 01:05'), (101, 10, '2025-01-01 01:06'),"
    " (102, 12, '2025-01-02 03:01')",
)


def test_an_extension_joins_one_to_one_and_a_grandchild_rolls_up(tmp_path: Path) -> None:
    database = duckdb_database(tmp_path / "warehouse.duckdb", RAW)
    _, report = _generate(tmp_path, database, "desk")
    names = [a.name for a in report.plan.models()]
    assert "int_reactions_aggregated_to_tickets" in names
    mart = next(n for n in names if n.startswith("dim_tickets") or n.startswith("fct_tickets"))
    with duckdb.connect(str(database)) as connection:
        got = connection.execute(
            "select ticket_id, resolved_at, round(hours_from_created_to_resolved, 2), number_of_reactions,"
            f" number_of_replies_with_reactions from analytics.{mart} order by 1"
        ).fetchall()
        by_hand = connection.execute(
            "select t.id, r.resolved_at, round(extract(epoch from (r.resolved_at - t.created_at)) / 3600.0, 2),"
            " (select count(*) from raw_desk.reactions x join raw_desk.replies p on x.reply_id = p.id"
            "  where p.ticket_id = t.id),"
            " (select count(distinct p.id) from raw_desk.reactions x join raw_desk.replies p on x.reply_id = p.id"
            "  where p.ticket_id = t.id)"
            " from raw_desk.tickets t left join raw_desk.ticket_resolutions r on r.ticket_id = t.id order by 1"
        ).fetchall()
    assert got == by_hand
    assert [(r[0], float(r[2]) if r[2] is not None else None, r[3], r[4]) for r in got] == [
        (1, 6.5, 2, 1),  # resolved 6.5 hours after it was opened; two reactions to one of its two replies
        (2, None, 1, 1),  # never resolved
        (3, -12.0, 0, 0),  # resolved "before" it was opened: kept as recorded
    ]
