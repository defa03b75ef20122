"""Brownfield: the classic jaffle_shop converts payments from cents (`amount / 100`); new refunds in cents are
converted the same way, and a plan edited to pass the cents through fails the magnitude check, project restored.

The refunds (cents) hand-checked against the orders mart (units, from the seeds): order 1 is 10 (1000 refunded),
order 3 is 1 (100), order 5 is 17 (1700), order 7 is 16 (1600), order 8 is 23 (1200 refunded: part of it).
Converted: 10, 1, 17, 16, 12, each at most its order's amount; in cents the median refund (1200) is 73x the
median order amount (16.5).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import duckdb_warehouse, postgres_warehouse, snapshot_tree
from test_brownfield_conventions import _fixture_project

from cartridge_bridge.api import ProjectOptions, generate
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import AggregateSpec, StagingSpec
from cartridge_bridge.progress import SilentProgress

BIN = Path(sys.executable).parent
RAW = (
    "create schema raw_shop",
    "create table raw_shop.refunds (id integer, order_id integer, amount integer, refunded_at timestamp)",
    "insert into raw_shop.refunds values (1, 1, 600, '2018-01-03'), (2, 1, 400, '2018-01-04'),"
    " (3, 3, 100, '2018-01-05'), (4, 5, 1700, '2018-01-06'), (5, 7, 1600, '2018-01-10'),"
    " (6, 8, 1200, '2018-01-12')",
)
REFUNDED = {1: 10, 3: 1, 5: 17, 7: 16, 8: 12}  # order → refunds in units
ORDER_AMOUNTS = {1: 10, 3: 1, 5: 17, 7: 16, 8: 23}  # the orders mart's amount (payments / 100)

Sql = Callable[[str], list[tuple[object, ...]]]


def _cartridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cartridge"), *args], capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_refunds_in_cents_are_converted_like_payments_or_the_run_fails(
    tmp_path: Path, request: pytest.FixtureRequest, warehouse: str
) -> None:
    if warehouse == "duckdb":
        output, sql = duckdb_warehouse(tmp_path, RAW)
    else:
        output, sql = postgres_warehouse(request.getfixturevalue("pg_server"), "carried_transforms", RAW)
    project = _fixture_project(tmp_path, "jaffle_classic", (), output=output)
    built = DbtProject(project, project).build()
    assert built.success, built.errors  # the project as its users have it: seeds, staging, marts
    pristine = snapshot_tree(project)
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]

    # The plan as the rules planner makes it: refunds staged in units, like payments.
    plan_file = tmp_path / "plan.json"
    planned = _cartridge(
        "plan", *where, "--schema", "raw_shop", "--source-name", "shop", "--out", str(plan_file)
    )
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(plan_file.read_text())
    [staging] = [a for a in plan["actions"] if a["type"] == "create_staging"]
    amount = next(c for c in staging["spec"]["columns"] if c["name"] == "amount")
    assert (amount["expression"], amount.get("source_column")) == ("amount / 100", None)

    # Carry-over disabled: the plan edited to pass the cents through fails the magnitude check.
    amount["expression"], amount["source_column"] = None, "amount"
    edited = tmp_path / "cents.json"
    edited.write_text(json.dumps(plan))
    applied = _cartridge("apply", str(edited), *where, "--yes")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    message = " ".join((applied.stdout + applied.stderr).split())
    assert "magnitude check:" in message and "`orders.amount` (median 16.5)" in message, message
    assert "is 73x" in message and "the project was restored" in message, message
    assert snapshot_tree(project) == pristine
    # Without a build nothing checks the data: the run lands, and the summary's first line flags the column.
    unbuilt = _cartridge("apply", str(edited), *where, "--yes", "--no-build")
    assert unbuilt.returncode == 0, unbuilt.stdout + unbuilt.stderr
    first = " ".join(unbuilt.stdout.splitlines()[0].split())
    assert first.startswith(
        "unit check: `stg_refunds.amount` is not converted like the project's `amount / 100`"
    )
    undone = _cartridge("undo", *where)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert snapshot_tree(project) == pristine

    # As planned: written, built, the refunds below the orders' amounts.
    options = ProjectOptions(
        project_dir=project, profiles_dir=project, schemas=["raw_shop"], source_name="shop"
    )
    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    assert report.unit_findings == []
    [written] = [a for a in report.plan.actions if isinstance(a.spec, StagingSpec)]
    assert "amount / 100 as amount" in (project / written.file_path).read_text()
    [aggregate] = [a for a in report.plan.actions if isinstance(a.spec, AggregateSpec)]
    money = [c.name for c in aggregate.spec.columns if "amount" in c.name]  # type: ignore[union-attr]
    assert money, aggregate.spec
    refunds = dict(sql(f"select order_id, {money[0]} from analytics.{aggregate.name} order by order_id"))
    assert {k: float(v) for k, v in refunds.items()} == {k: float(v) for k, v in REFUNDED.items()}  # type: ignore[arg-type]
    orders = dict(sql("select order_id, amount from analytics.orders where order_id in (1, 3, 5, 7, 8)"))
    assert {k: float(v) for k, v in orders.items()} == {k: float(v) for k, v in ORDER_AMOUNTS.items()}  # type: ignore[arg-type]
    assert all(refunds[o] <= orders[o] for o in REFUNDED)  # type: ignore[operator]
