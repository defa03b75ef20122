"""`--modify-existing` on DuckDB and PostgreSQL: refunds and shipments added to the jaffle_shop's own `orders`
mart (written as one plain select), proved by `dbt build`, undone byte for byte; and a real `cartridge generate`
killed with SIGKILL once the edit is written, then undone, leaves the user's files byte for byte.

By hand (jaffle's seeds: payment 1 is order 1's, payments 4 and 9 are order 4's, payment 5 is order 5's; refunds
in cents, converted like the project converts payments): order 1 has 2 refunds, 6 + 4 = 10; order 4 has 2,
5 + 3 = 8; order 5 has 1, 17; every other order none (0, not null). Order 2 has 2 shipments, order 1 one.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import (
    PLAIN_ORDERS_SQL,
    duckdb_warehouse,
    plain_orders_project,
    postgres_warehouse,
    snapshot_tree,
)

from cartridge_bridge.api import ProjectOptions, generate, undo_run
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.progress import SilentProgress

RAW = (
    "create schema raw_shop",
    "create table raw_shop.refunds (id integer, payment_id integer, amount integer, refunded_at timestamp)",
    "insert into raw_shop.refunds values (1, 1, 600, '2018-01-03'), (2, 1, 400, '2018-01-04'),"
    " (3, 4, 500, '2018-01-05'), (4, 9, 300, '2018-01-06'), (5, 5, 1700, '2018-01-10')",
    "create table raw_shop.shipments (id integer, order_id integer, carrier varchar(10), shipped_at timestamp)",
    "insert into raw_shop.shipments values (1, 1, 'DHL', '2018-01-02'), (2, 2, 'UPS', '2018-01-03'),"
    " (3, 2, 'UPS', '2018-01-04')",
)
REFUNDS_BY_HAND = {1: (2, 10.0), 4: (2, 8.0), 5: (1, 17.0)}  # order → (refunds, their amount in units)
SHIPMENTS_BY_HAND = {1: 1, 2: 2}
EDITED = ("models/orders.sql", "models/schema.yml")
BIN = Path(sys.executable).parent


def _hashes(project: Path) -> dict[str, str]:
    return {path: hashlib.sha256((project / path).read_bytes()).hexdigest() for path in EDITED}


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_new_measures_land_in_the_existing_mart_and_undo_restores_it(
    tmp_path: Path, request: pytest.FixtureRequest, warehouse: str
) -> None:
    if warehouse == "duckdb":
        output, sql = duckdb_warehouse(tmp_path, RAW)
    else:
        output, sql = postgres_warehouse(request.getfixturevalue("pg_server"), "in_place_extension", RAW)
    project = plain_orders_project(tmp_path, output)
    built = DbtProject(project, project).build()
    assert built.success, built.errors
    amounts_before = sql("select order_id, amount, status from analytics.orders order by order_id")
    before = _hashes(project)

    options = ProjectOptions(
        project_dir=project,
        profiles_dir=project,
        schemas=["raw_shop"],
        source_name="shop",
        modify_existing=True,
    )
    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    [edit] = [a for a in report.plan.actions if a.type == "modify_in_place"]
    assert edit.name == "orders" and "orders_with_new_measures" not in {a.name for a in report.plan.actions}
    orders_sql = (project / "models/orders.sql").read_text()
    assert orders_sql.startswith("with\n\nexisting as (\n\n" + PLAIN_ORDERS_SQL + "\n),\n")
    assert "+++ b/models/orders.sql" in report.diff and "+existing as (" in report.diff
    assert "- name: total_refund_amount" in (project / "models/schema.yml").read_text()

    rows = sql(
        "select order_id, amount, status, number_of_refunds, total_refund_amount, number_of_shipments"
        " from analytics.orders order by order_id"
    )
    assert [
        (r[0], r[1], r[2]) for r in rows
    ] == amounts_before  # the mart's own rows and columns as they were
    assert {r[0]: (r[3], float(r[4])) for r in rows if r[3]} == REFUNDS_BY_HAND
    assert {r[0]: r[5] for r in rows if r[5]} == SHIPMENTS_BY_HAND
    assert all(r[3] == 0 and r[5] is not None for r in rows if r[0] not in REFUNDS_BY_HAND)

    assert report.journal is not None
    undo_run(project, report.journal.run_id, project)
    assert _hashes(project) == before


def _cartridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cartridge"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_a_generate_killed_after_editing_the_mart_is_undone_byte_for_byte(tmp_path: Path) -> None:
    output, _ = duckdb_warehouse(tmp_path, RAW)
    project = plain_orders_project(tmp_path, output)
    built = DbtProject(project, project).build()  # the marts' keys are known from the built relations
    assert built.success, built.errors
    before = _hashes(project)
    where = ["--project-dir", str(project), "--profiles-dir", str(project), "--schema", "raw_shop"]

    plan_file = tmp_path / "plan.json"
    shown = _cartridge("plan", *where, "--modify-existing", "--out", str(plan_file))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "modify_in_place" in shown.stdout and "+++ b/models/orders.sql" in shown.stdout
    assert "+existing as (" in shown.stdout and "+      - name: number_of_shipments" in shown.stdout
    assert _hashes(project) == before  # a plan writes nothing

    killed = _cartridge("generate", *where, "--modify-existing", env={"CARTRIDGE_FAULT_POINT": "written"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert _hashes(project) != before  # the kill came after the mart and its YAML were rewritten
    assert (project / "models/orders.sql").read_text().startswith("with\n\nexisting as (")

    undone = _cartridge("undo", *where[:4])
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert _hashes(project) == before

    # The reviewed plan, applied after the user edited the mart: refused in one line, nothing written.
    with (project / "models/orders.sql").open("a") as orders:
        orders.write("\n-- edited after the plan\n")
    tree = snapshot_tree(project / "models")
    refused = _cartridge("apply", str(plan_file), *where[:4])
    assert refused.returncode == 2, refused.stdout + refused.stderr
    [line] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in refused.stderr
    assert "orders: modifies.sha256: models/orders.sql changed since the plan was made" in line
    assert snapshot_tree(project / "models") == tree
