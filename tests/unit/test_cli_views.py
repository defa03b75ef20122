"""The CLI's renderings print user and warehouse text literally: brackets are text, not rich markup."""

from __future__ import annotations

import io

from rich.console import Console

from cartridge_bridge.cli.views import show_plan
from cartridge_bridge.planning.plan import ExecutionPlan


def test_brackets_in_skipped_reasons_are_printed_as_they_are() -> None:
    plan = ExecutionPlan(
        plan_version=2,
        project_name="shop",
        strategy="greenfield",
        planner="rules",
        adapter_type="duckdb",
        actions=[],
        skipped=["raw.[raw] has no columns [bold]at all[/bold]; try --schema [raw]"],
    )
    buffer = io.StringIO()
    show_plan(Console(file=buffer, width=200, color_system=None), plan)
    assert "skipped raw.[raw] has no columns [bold]at all[/bold]; try --schema [raw]" in buffer.getvalue()
