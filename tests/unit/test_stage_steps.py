"""Every stage of `generate` announces itself, so a Progress can time each one (bench/bench_scale.py does)."""

from __future__ import annotations

from pathlib import Path

from support import shop_project

from cartridge_bridge.api import make_plan
from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import build_context
from cartridge_bridge.gather.facts import RawColumn, RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import Manifest, Metadata
from cartridge_bridge.write.plan_writer import PlanWriter


class Recording:
    def __init__(self) -> None:
        self.steps: list[str] = []

    def step(self, message: str) -> None:
        self.steps.append(message)


def _facts() -> WarehouseFacts:
    def table(name: str, *columns: str) -> RawRelation:
        cols = [
            RawColumn(name=c, data_type="integer", position=i + 1) for i, c in enumerate(("id", *columns))
        ]
        return RawRelation.model_validate({"schema": "raw", "identifier": name, "columns": cols})

    return WarehouseFacts(
        cartridge_gather_version=1,
        adapter_type="postgres",
        schemas=["raw"],
        relations=[table("customers"), table("orders", "customer_id")],
    )


def test_plan_render_and_write_each_announce_a_step(tmp_path: Path) -> None:
    project = shop_project(tmp_path)
    context = build_context(
        project, Manifest(metadata=Metadata(project_name="shop")), _facts(), Conventions()
    )
    progress = Recording()
    plan = make_plan(context, progress=progress)
    assert progress.steps == ["plan with rules"]
    assert make_plan(context).actions == plan.actions  # progress is optional

    writer = PlanWriter(project, "fail", progress)
    assert writer.write(plan)
    written = sum(change.writes for change in writer.changes)
    assert progress.steps[1:] == [f"render {len(plan.actions)} planned actions", f"write {written} files"]
