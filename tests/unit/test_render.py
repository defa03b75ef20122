"""Golden-file tests of cartridge_bridge.render.plan_files: the SQL and YAML the fixture shop plan writes.

Run with CARTRIDGE_UPDATE_GOLDEN=1 to rewrite tests/fixtures/unit/golden/ (the test then fails on
purpose, so that an updating run is never mistaken for a passing one); review the diff before committing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.files.yaml_merge import merge_properties
from cartridge_bridge.planning.plan import DataTest, ExecutionPlan, RenderSettings, StagingSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import RenderedFile, render_plan, render_sql

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "unit"
GOLDEN = FIXTURES / "golden"
UPDATE = os.environ.get("CARTRIDGE_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def plan(context: ProjectContext) -> ExecutionPlan:
    return plan_with_rules(context)


def file_text(rendered: RenderedFile) -> str:
    if rendered.kind == "sql":
        return rendered.text
    return merge_properties(None, rendered.path, rendered.models, rendered.sources, "fail").text


def texts(plan: ExecutionPlan, options: RenderSettings | None = None) -> dict[str, str]:
    return {f.path: file_text(f) for f in render_plan(plan, options)}


def test_render_matches_the_golden_files(plan: ExecutionPlan) -> None:
    rendered = texts(plan)
    if UPDATE:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for path, text in rendered.items():
            target = GOLDEN / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="")
        pytest.fail(
            f"CARTRIDGE_UPDATE_GOLDEN=1: wrote {len(rendered)} golden files under {GOLDEN}; review them"
        )
    golden = {
        p.relative_to(GOLDEN).as_posix(): p.read_text(encoding="utf-8")
        for p in GOLDEN.rglob("*")
        if p.is_file()
    }
    assert sorted(rendered) == sorted(golden), "files rendered and golden files differ"
    mismatched = [path for path, text in rendered.items() if text != golden[path]]
    for path in mismatched:
        assert rendered[path] == golden[path], f"{path} differs from its golden file"


def test_files_come_in_plan_order_with_yaml_grouped(plan: ExecutionPlan) -> None:
    files = render_plan(plan)
    assert [f.path for f in files[:3]] == [
        "models/staging/shop/_shop__sources.yml",
        "models/staging/shop/stg_shop__customers.sql",
        "models/staging/shop/_shop__models.yml",
    ]
    models_yml = next(f for f in files if f.path.endswith("_shop__models.yml"))
    assert [m["name"] for m in models_yml.models] == [
        "stg_shop__customers",
        "stg_shop__orders",
        "stg_shop__order_items",
        "stg_shop__products",
    ]
    assert len(files) == len({f.path for f in files})
    assert {f.kind for f in files if f.path.endswith(".sql")} == {"sql"}
    assert {f.kind for f in files if f.path.endswith(".yml")} == {"yaml"}


def test_rendered_yaml_is_valid_dbt_properties(plan: ExecutionPlan) -> None:
    for path, text in texts(plan).items():
        if path.endswith(".yml"):
            document = YAML(typ="safe").load(text)
            assert set(document) <= {"models", "sources"}, path


def test_top_level_test_arguments_without_nesting(plan: ExecutionPlan) -> None:
    flat = texts(plan, RenderSettings(nested_test_arguments=False))
    nested = texts(plan)
    for path in flat:
        if path.endswith(".sql"):
            assert flat[path] == nested[path]
        else:
            assert "arguments:" not in flat[path]
    assert (
        "        data_tests:\n"
        "          - relationships:\n"
        "              to: ref('stg_shop__customers')\n"
        "              field: customer_id\n"
    ) in flat["models/staging/shop/_shop__models.yml"]
    assert (
        "          - relationships:\n"
        "              arguments:\n"
        "                to: ref('stg_shop__customers')\n"
        "                field: customer_id\n"
    ) in nested["models/staging/shop/_shop__models.yml"]


@pytest.mark.parametrize("nested", [True, False])
def test_test_config_stays_nested_under_config(plan: ExecutionPlan, nested: bool) -> None:
    changed = plan.model_copy(deep=True)
    staging = next(a for a in changed.actions if a.name == "stg_shop__orders")
    assert isinstance(staging.spec, StagingSpec)
    status = next(c for c in staging.spec.columns if c.name == "status")
    status.tests = [
        DataTest(
            name="accepted_values", values=["placed", "shipped"], severity="warn", note="relaxed: 3 rows"
        ),
        DataTest(name="not_null", severity="warn"),
    ]
    entry = next(
        m
        for f in render_plan(changed, RenderSettings(nested_test_arguments=nested))
        for m in f.models
        if m["name"] == "stg_shop__orders"
    )
    [column] = [c for c in entry["columns"] if c["name"] == "status"]
    arguments = {"values": ["placed", "shipped"]}
    config = {"severity": "warn", "meta": {"cartridge_note": "relaxed: 3 rows"}}
    assert column["data_tests"] == [
        {
            "accepted_values": {"arguments": arguments, "config": config}
            if nested
            else {**arguments, "config": config}
        },
        {"not_null": {"config": {"severity": "warn"}}},
    ]


def test_no_config_block_when_a_folder_config_covers_the_model(plan: ExecutionPlan) -> None:
    action = next(a for a in plan.actions if a.name == "stg_shop__orders").model_copy(deep=True)
    action.config.materialized = None
    sql = render_sql(action)
    assert "config(" not in sql
    assert sql.startswith("with\n\nsource as (\n")
