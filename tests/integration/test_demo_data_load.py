"""Loading the sample shop into a real PostgreSQL server."""

from __future__ import annotations

from typing import Protocol

import psycopg2
import pytest

from cartridge_bridge.demo.load_raw import load_shop
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
