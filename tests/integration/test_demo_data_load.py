"""Loading the sample shop into a real PostgreSQL server."""

from __future__ import annotations

from typing import Protocol

import psycopg2
import pytest

from cartridge_bridge.demo.load_raw import load_shop, resync_shop
from cartridge_bridge.demo.shop_data import shop_tables

pytestmark = pytest.mark.postgres

# Mixed case and a space prove that every identifier is quoted on the way in.
SCHEMA = "Demo Raw"


class PgServer(Protocol):
    """What the `pg_server` fixture yields."""

    dsn: str


def test_load_shop_fills_postgres_with_consistent_rows(pg_server: PgServer) -> None:
    tables = shop_tables(scale=0.5)
    conn = psycopg2.connect(pg_server.dsn)
    try:
        counts = load_shop(conn, SCHEMA, tables)
        # A second load replaces the first instead of adding to it.
        assert load_shop(conn, SCHEMA, tables) == counts
        with conn.cursor() as cursor:
            for table in tables:
                cursor.execute(f'select count(*) from "{SCHEMA}"."{table.name}"')
                assert cursor.fetchone() == (counts[table.name],)
                assert counts[table.name] == len(table.rows)
            cursor.execute(
                f'select count(*) from "{SCHEMA}".order_items i '
                f'left join "{SCHEMA}".orders o on o.id = i.order_id '
                "where o.id is null"
            )
            assert cursor.fetchone() == (0,)
            cursor.execute(f'select count(*) from "{SCHEMA}".customers where "Country" is null')
            customers = next(t for t in tables if t.name == "customers")
            assert cursor.fetchone() == (sum(row[4] is None for row in customers.rows),)
            cursor.execute(f'drop schema "{SCHEMA}" cascade')
        conn.commit()
    finally:
        conn.close()


def test_each_load_and_resync_stamps_the_rows_with_its_own_time(pg_server: PgServer) -> None:
    schema = "Demo Stamped"
    tables = shop_tables(scale=0.05)
    conn = psycopg2.connect(pg_server.dsn)
    newest = " union all ".join(
        f'select min("_loaded_at"), max("_loaded_at"), count(*) filter (where "_loaded_at" is null) '
        f'from "{schema}"."{t.name}"'
        for t in tables
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("select now()")
            before = cursor.fetchone()[0]
        conn.commit()
        counts = load_shop(conn, schema, tables)
        with conn.cursor() as cursor:
            cursor.execute(newest)
            stamps = cursor.fetchall()
        conn.commit()
        # One load, one time: every row of every table, after the load began, none left empty.
        assert len({(low, high) for low, high, _ in stamps}) == 1 and stamps[0][0] == stamps[0][1]
        assert stamps[0][0] > before and all(nulls == 0 for _, _, nulls in stamps)
        resync_shop(conn, schema, tables)
        with conn.cursor() as cursor:
            cursor.execute(newest)
            synced = cursor.fetchall()
            assert len(set(synced)) == 1 and synced[0][0] == synced[0][1] > stamps[0][0]
            for table in tables:  # the same rows: a sync moves the load time only
                cursor.execute(f'select count(*) from "{schema}"."{table.name}"')
                assert cursor.fetchone() == (counts[table.name],)
            cursor.execute(f'drop schema "{schema}" cascade')
        conn.commit()
    finally:
        conn.close()
