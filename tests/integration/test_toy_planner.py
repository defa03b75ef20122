"""A third planner in ten lines, registered by one line, plans and applies the demo shop through dbt build.

What docs/architecture.md ("Adding a planner") shows: the planner starts from the source declaration every
planner shares and adds its own touch (a tag); the registry makes it selectable by name, and placement, the
plan checks, the writer and `dbt build` treat it as they treat the rules and the LLM planners.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest
from support import load_demo_shop, postgres_output, write_project

from cartridge_bridge.api import ProjectOptions, generate
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.demo.local_postgres import LocalPostgres
from cartridge_bridge.planners import PLANNERS, PlannerChoice, PlannerRequest
from cartridge_bridge.planning.planner import PlanDraft
from cartridge_bridge.planning.rules.planner import declare_sources
from cartridge_bridge.progress import SilentProgress
from cartridge_bridge.verify.repair import RelaxFailingTests

pytestmark = pytest.mark.postgres
SCHEMA = "raw_toy"  # the source: `toy`, the schema without its raw_ prefix
TARGET = "toy_analytics"


class StagingOnlyPlanner:
    """Every new raw table declared as a source and staged, tagged as this planner's; no marts."""

    name = "staging-only"

    def draft(self, context: ProjectContext) -> PlanDraft:
        draft = declare_sources(context).draft
        for model in draft.models:
            model.tags.append("staging_only")
        return draft


def test_a_registered_toy_planner_plans_and_applies_the_demo(
    tmp_path: Path, pg_server: LocalPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one registry line a new planner needs (here for this test only).
    monkeypatch.setitem(
        PLANNERS, "staging-only", lambda _: PlannerChoice(StagingOnlyPlanner(), RelaxFailingTests())
    )
    load_demo_shop(pg_server, SCHEMA, scale=0.05)
    project = write_project(tmp_path / "shop", "shop", postgres_output(pg_server, TARGET))
    DbtProject(project).deps()
    options = ProjectOptions(
        project_dir=project, profiles_dir=project, schemas=[SCHEMA], planner="staging-only"
    )

    report = generate(options, SilentProgress())

    assert report.plan.planner == "staging-only"
    assert report.build is not None and report.build.success, report.build and report.build.errors
    staged = sorted(p.name for p in (project / "models").rglob("*.sql"))
    assert staged == [
        "stg_toy__customers.sql",
        "stg_toy__order_items.sql",
        "stg_toy__orders.sql",
        "stg_toy__payments.sql",
        "stg_toy__products.sql",
    ]
    assert report.build.count("model", "success") == 5
    assert report.build.count("test", "pass") > 0  # the shared declaration's key tests, run by dbt
    manifest = json.loads((project / "target" / "manifest.json").read_text(encoding="utf-8"))
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert {m["name"] for m in models} == {name.removesuffix(".sql") for name in staged}
    assert all("staging_only" in m["tags"] for m in models)
    connection = psycopg2.connect(pg_server.dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'select count(*) > 0 from "{TARGET}".stg_toy__orders')
            assert cursor.fetchone() == (True,)
    finally:
        connection.close()


def test_the_registry_hands_the_request_to_the_planners_factory(tmp_path: Path) -> None:
    seen: list[PlannerRequest] = []

    def factory(request: PlannerRequest) -> PlannerChoice:
        seen.append(request)
        return PlannerChoice(StagingOnlyPlanner(), RelaxFailingTests())

    PLANNERS["staging-only"] = factory
    try:
        from cartridge_bridge.config import CartridgeConfig
        from cartridge_bridge.planners import choose_planner

        choice = choose_planner(
            ProjectOptions(planner="staging-only"), CartridgeConfig(), tmp_path, SilentProgress()
        )
    finally:
        del PLANNERS["staging-only"]
    assert isinstance(choice.planner, StagingOnlyPlanner)
    assert [r.options.planner for r in seen] == ["staging-only"]
