"""Where new semantic models and metrics are written: the project's convention read from its manifest, the plan's
checked paths, the files the renderer groups them in, and the review page that names them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support import shop_project
from test_conventions import model
from test_rules_marts import EMPTY_MANIFEST, marts
from test_semantic_models import PROJECTS

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.convention_rules import infer_conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.errors import PlanError, UsageError
from cartridge_bridge.gather.facts import WarehouseFacts
from cartridge_bridge.gather.manifest import DependsOn, Manifest, Metadata, Node, SemanticModel
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.planning.plan_file import parse_plan
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import render_plan
from cartridge_bridge.review.page import ReviewInput, review_page
from cartridge_bridge.write.workspace import stage_changes

MARTS = ("fct_orders", "dim_customers", "fct_payments")


def _mart(name: str, folder: str) -> Node:
    return model(name, folder, patch_path=f"p://models/{folder}/_{folder.rsplit('/', 1)[-1]}__models.yml")


def _manifest(
    files: dict[str, str], metrics: dict[str, str] | None = None, folders: dict[str, str] | None = None
) -> Manifest:
    """Marts with a semantic model each, in `files[mart]`, and a metric each in `metrics[mart]` (else beside it)."""
    folders = folders or {}
    nodes = {f"model.p.{m}": _mart(m, folders.get(m, "marts")) for m in files}
    models = {
        f"semantic_model.p.{m}": SemanticModel(
            name=m,
            package_name="p",
            original_file_path=path,
            depends_on=DependsOn(nodes=[f"model.p.{m}"]),
        )
        for m, path in files.items()
    }
    found = {
        f"metric.p.{m}_count": SemanticModel(
            name=f"{m}_count",
            package_name="p",
            original_file_path=(metrics or {}).get(m, path),
            depends_on=DependsOn(nodes=[f"semantic_model.p.{m}"]),
        )
        for m, path in files.items()
    }
    return Manifest(metadata=Metadata(project_name="p"), nodes=nodes, semantic_models=models, metrics=found)


def _layout(manifest: Manifest) -> tuple[str, str]:
    conventions = infer_conventions(manifest, {"name": "p"}).conventions(0.5)
    return conventions.semantic_models_file, conventions.metrics_file


def test_one_file_per_semantic_model_is_a_template_named_after_the_mart() -> None:
    manifest = _manifest({m: f"models/semantic_models/sem_{m}.yml" for m in MARTS})
    assert _layout(manifest) == ("semantic_models/sem_{model}.yml", "")
    finding = infer_conventions(manifest, {"name": "p"}).semantic_models_file
    assert (finding.evidence.agree, finding.evidence.total) == (3, 3)


def test_one_shared_file_and_metrics_kept_apart_are_both_followed() -> None:
    manifest = _manifest(
        {m: "models/marts/_semantic_models.yml" for m in MARTS},
        metrics={m: "models/metrics/all_metrics.yml" for m in MARTS},
    )
    assert _layout(manifest) == ("marts/_semantic_models.yml", "metrics/all_metrics.yml")


def test_one_file_in_each_marts_folder_keeps_a_folder_placeholder() -> None:
    folders = {"fct_orders": "marts/sales", "dim_customers": "marts/crm", "fct_payments": "marts/finance"}
    manifest = _manifest({m: f"models/{f}/_semantic.yml" for m, f in folders.items()}, folders=folders)
    assert _layout(manifest) == ("{folder}/_semantic.yml", "")


def test_semantic_models_beside_their_marts_and_greenfield_keep_the_default() -> None:
    beside = _manifest({m: "models/marts/_marts__models.yml" for m in MARTS})
    assert _layout(beside) == ("", "")
    assert _layout(Manifest(metadata=Metadata(project_name="p"))) == ("", "")
    # One semantic model alone is weak evidence: the default stands.
    assert _layout(_manifest({"fct_orders": "models/sem/fct_orders.yml"})) == ("", "")


def _planned(tmp_path: Path, **conventions: str) -> tuple[ExecutionPlan, ProjectContext]:
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=list(PROJECTS)
    )
    project = shop_project(tmp_path)
    context = build_context(project, EMPTY_MANIFEST, facts, Conventions(**conventions), semantic_models=True)
    return plan_with_rules(context), context


def test_placement_follows_the_convention_and_the_renderer_groups_by_file(tmp_path: Path) -> None:
    plan, context = _planned(
        tmp_path, semantic_models_file="semantic/{semantic_model}.yml", metrics_file="metrics/_metrics.yml"
    )
    assert plan_problems(plan, context) == []
    described = [a for a in plan.actions if a.semantic_model is not None]
    assert {a.semantic_model_path for a in described} == {f"models/semantic/{a.name}.yml" for a in described}
    assert {a.metrics_path for a in described} == {"models/metrics/_metrics.yml"}
    files = {f.path: f for f in render_plan(plan)}
    for action in described:
        assert action.semantic_model is not None
        own = files[str(action.semantic_model_path)]
        assert [m["name"] for m in own.semantic_models] == [action.semantic_model.name]
        assert not own.models and not own.metrics
        assert not files[str(action.properties_path)].semantic_models  # none beside the mart any more
    every_metric = [m.name for a in described for m in a.semantic_model.metrics]  # type: ignore[union-attr]
    assert [m["name"] for m in files["models/metrics/_metrics.yml"].metrics] == every_metric


def test_by_default_nothing_moves(tmp_path: Path) -> None:
    plan, _ = _planned(tmp_path)
    assert all(a.semantic_model_path is None and a.metrics_path is None for a in plan.actions)
    mart = marts(plan)["fct_projects"]
    properties = next(f for f in render_plan(plan) if f.path == mart.properties_path)
    assert properties.semantic_models and properties.metrics


def test_a_template_with_an_unknown_placeholder_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"conventions.semantic_models_file .*\{table\}"):
        _planned(tmp_path, semantic_models_file="sem/{table}.yml")


@pytest.mark.parametrize(
    ("field", "path", "expected"),
    [
        ("semantic_model_path", "../outside.yml", "is not inside the model path"),
        ("semantic_model_path", "/etc/semantic.yml", "is not inside the model path"),
        ("metrics_path", "models/metrics/m.sql", "should end in .yml or .yaml"),
        ("semantic_model_path", "models/x{{y}}.yml", "characters other than"),
        ("metrics_path", "models/marts/fct_projects.sql", "is also a model's SQL file"),
    ],
)
def test_the_paths_are_checked(tmp_path: Path, field: str, path: str, expected: str) -> None:
    plan, context = _planned(tmp_path)
    setattr(marts(plan)["fct_projects"], field, path)
    lines = [p.line() for p in plan_problems(plan, context)]
    assert any(field in line and expected in line for line in lines), lines


def test_only_a_mart_with_a_semantic_model_has_the_paths(tmp_path: Path) -> None:
    plan, context = _planned(tmp_path)
    staging = next(a for a in plan.actions if a.type == "create_staging")
    staging.semantic_model_path = "models/semantic/x.yml"
    lines = [p.line() for p in plan_problems(plan, context)]
    assert any(
        "semantic_model_path" in line and "only a model with a semantic_model" in line for line in lines
    )


def test_an_existing_shared_file_is_merged_add_only_and_the_review_names_it(tmp_path: Path) -> None:
    plan, context = _planned(tmp_path, semantic_models_file="marts/_semantic_models.yml")
    shared = Path(context.project_dir) / "models/marts/_semantic_models.yml"
    shared.parent.mkdir(parents=True)
    mine = "# mine\nsemantic_models:\n  - name: mine   # kept\n    model: ref('x')\n"
    shared.write_text(mine)
    changes = {c.path: c for c in stage_changes(Path(context.project_dir), render_plan(plan), "fail")}
    change = changes["models/marts/_semantic_models.yml"]
    assert change.status == "modify" and change.after.startswith(mine)
    names = [m["name"] for m in yaml.safe_load(change.after)["semantic_models"]]
    described = [a for a in plan.actions if a.semantic_model is not None]
    assert names == ["mine", *(a.semantic_model.name for a in described)]  # type: ignore[union-attr]
    page = review_page(ReviewInput(plan, list(changes.values()), None))
    rows = [line for line in page.splitlines() if line.endswith("| `models/marts/_semantic_models.yml` |")]
    # One row per semantic model in its table, and the file's own row (`modify`) in the files table.
    assert len(rows) == len(described) and "| modify |" not in "".join(rows)
    assert "| `models/marts/_semantic_models.yml` | modify |" in page


def test_the_paths_survive_the_plan_file_and_a_version_2_plan_reads_without_them(tmp_path: Path) -> None:
    plan, _ = _planned(tmp_path, semantic_models_file="semantic/{model}.yml")
    document = json.loads(plan.model_dump_json())
    again = parse_plan(document)
    assert (
        again == plan
        and marts(again)["fct_projects"].semantic_model_path == "models/semantic/fct_projects.yml"
    )
    for action in document["actions"]:
        action.pop("semantic_model_path", None)
        action.pop("metrics_path", None)
    older = parse_plan(document | {"plan_version": 2})
    assert all(a.semantic_model_path is None for a in older.actions)
    document["actions"][-1]["semantic_model_path"] = 7
    with pytest.raises(PlanError, match="semantic_model_path"):
        parse_plan(document)
