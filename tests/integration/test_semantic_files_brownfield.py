"""Brownfield: a project that keeps its semantic models in files of their own gets the new ones written there.

The `semantic_files` fixture keeps one file per semantic model (`models/semantic_models/sem_<mart>.yml`, its
metrics in it); the `shared` layout moves them into one `models/marts/_semantic_models.yml` and their metrics
into one `models/metrics/_metrics.yml`. New billing tables are generated on DuckDB and PostgreSQL: their
semantic model and metrics land where the project keeps its own, `dbt parse` accepts the semantic manifest,
MetricFlow answers a new metric with SQL's numbers, and undo removes the file it created and restores the one
it merged into.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from support import duckdb_warehouse, postgres_warehouse, snapshot_tree
from test_brownfield_conventions import _fixture_project

from bench.metricflow_query import mf_query
from cartridge_bridge.api import ProjectOptions, generate, load_context
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.progress import SilentProgress
from cartridge_bridge.undo_api import undo_run

RAW = (
    "create schema raw_shop",
    "create table raw_shop.customers (id integer, name varchar(40), created_at timestamp)",
    "create table raw_shop.orders (id integer, customer_id integer, status varchar(20), ordered_at timestamp,"
    " amount decimal(12,2))",
    "insert into raw_shop.customers values (1, 'Ada', '2025-01-02'), (2, 'Grace', '2025-02-03'),"
    " (3, 'Edsger', '2025-03-04')",
    "insert into raw_shop.orders values (1, 1, 'shipped', '2025-01-05', 20.00),"
    " (2, 2, 'placed', '2025-02-06', 35.50), (3, 1, 'shipped', '2025-03-07', 12.25)",
    "create schema raw_billing",
    "create table raw_billing.invoices (id integer, customer_id integer, amount decimal(12,2),"
    " issued_at timestamp)",
    "create table raw_billing.invoice_lines (id integer, invoice_id integer, qty integer)",
    "insert into raw_billing.invoices values (1, 1, 10.00, '2025-01-10'), (2, 1, 5.00, '2025-01-20'),"
    " (3, 2, 7.25, '2025-02-11'), (4, 3, 100.00, '2025-03-12'), (5, 2, 1.50, '2025-03-30')",
    "insert into raw_billing.invoice_lines values (1, 1, 2), (2, 1, 1), (3, 2, 4), (4, 3, 1), (5, 4, 3),"
    " (6, 5, 1)",
)
SHARED_MODELS = "models/marts/_semantic_models.yml"
SHARED_METRICS = "models/metrics/_metrics.yml"
PER_MODEL_DIR = "models/semantic_models"


def _shared_layout(project: Path) -> None:
    """The fixture's semantic models gathered in one file by the marts, their metrics in one file of their own."""
    models: list[object] = []
    metrics: list[object] = []
    for path in sorted((project / PER_MODEL_DIR).glob("*.yml")):
        data = yaml.safe_load(path.read_text())
        models += data["semantic_models"]
        metrics += data["metrics"]
        path.unlink()
    (project / PER_MODEL_DIR).rmdir()
    header = "# Every semantic model of the project, in one place.\n"
    (project / SHARED_MODELS).write_text(
        header + yaml.safe_dump({"semantic_models": models}, sort_keys=False)
    )
    (project / SHARED_METRICS).parent.mkdir()
    (project / SHARED_METRICS).write_text(yaml.safe_dump({"metrics": metrics}, sort_keys=False))


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
@pytest.mark.parametrize("layout", ["per_model", "shared"])
def test_new_semantic_models_go_where_the_project_keeps_its_own(
    tmp_path: Path, request: pytest.FixtureRequest, layout: str, warehouse: str
) -> None:
    if warehouse == "duckdb":
        output, sql = duckdb_warehouse(tmp_path, RAW)
    else:
        output, sql = postgres_warehouse(request.getfixturevalue("pg_server"), f"semfiles_{layout}", RAW)
    project = _fixture_project(tmp_path, "semantic_files", (), output=output)
    if layout == "shared":
        _shared_layout(project)
    built = DbtProject(project, project).build()
    assert built.success, built.errors  # the project as its users have it, MetricFlow's time spine included
    before = snapshot_tree(project)
    options = ProjectOptions(
        project_dir=project, profiles_dir=project, schemas=["raw_billing"], source_name="billing"
    )
    _, context = load_context(options, SilentProgress())
    expected = ("semantic_models/sem_{model}.yml", "") if layout == "per_model" else (
        "marts/_semantic_models.yml", "metrics/_metrics.yml"
    )  # fmt: skip
    assert (context.conventions.semantic_models_file, context.conventions.metrics_file) == expected
    assert context.semantic_models  # on: the project has semantic models

    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    [mart] = [a for a in report.plan.actions if a.semantic_model is not None]
    assert mart.semantic_model is not None and mart.semantic_model.metrics
    new_metrics = {m.name for m in mart.semantic_model.metrics}
    properties = yaml.safe_load((project / str(mart.properties_path)).read_text())
    assert "semantic_models" not in properties and "metrics" not in properties  # not beside the mart
    if layout == "per_model":
        path = f"{PER_MODEL_DIR}/sem_{mart.name}.yml"
        assert (mart.semantic_model_path, mart.metrics_path) == (path, None)
        written = yaml.safe_load((project / path).read_text())
        assert [m["name"] for m in written["semantic_models"]] == [mart.semantic_model.name]
        assert {m["name"] for m in written["metrics"]} == new_metrics
        merged_path = None
    else:
        assert (mart.semantic_model_path, mart.metrics_path) == (SHARED_MODELS, SHARED_METRICS)
        shared = {
            SHARED_MODELS: ("semantic_models", ["dim_customers", "fct_orders"], {mart.semantic_model.name}),
            SHARED_METRICS: ("metrics", ["customer_count", "order_total"], new_metrics),
        }
        for path, (key, theirs, ours) in shared.items():
            text = (project / path).read_text()
            assert text.startswith(before[path].decode())  # add-only: the user's text stays byte for byte
            names = [m["name"] for m in yaml.safe_load(text)[key]]
            assert names[:2] == theirs and set(names[2:]) == ours
        merged_path = SHARED_MODELS

    # dbt parse (run by generate) wrote the semantic manifest: the project's and the new ones together.
    manifest = json.loads((project / "target" / "semantic_manifest.json").read_text())
    assert {m["name"] for m in manifest["semantic_models"]} == {
        "dim_customers",
        "fct_orders",
        mart.semantic_model.name,
    }
    assert new_metrics | {"customer_count", "order_total"} <= {m["name"] for m in manifest["metrics"]}
    review = report.review_file.read_text() if report.review_file else ""
    assert f"`{mart.semantic_model_path}`" in review

    # MetricFlow answers a new metric, by month, with SQL's numbers over the new mart.
    count = next(m for m in mart.semantic_model.metrics if m.name.endswith("_count"))
    measure = next(x for x in mart.semantic_model.measures if x.name == count.measure)
    assert measure.agg == "count" and mart.semantic_model.agg_time_dimension
    rows = mf_query(project, [count.name], ["metric_time__month"])
    got = {r["metric_time__month"][:10]: Decimal(r[count.name]) for r in rows}
    time = mart.semantic_model.agg_time_dimension
    query = f"select date_trunc('month', {time}), count({measure.expr}) from analytics.{mart.name} group by 1"
    wanted = {str(month)[:10]: Decimal(n) for month, n in sql(query)}
    assert len(got) == 3 and got == wanted

    # Undo: the created file is gone, the merged one back as it was, the project as before the run.
    assert report.journal is not None
    undo_run(project, report.journal.run_id, project)
    after = snapshot_tree(project)
    after.pop(".user.yml", None)  # dbt's own, in the profiles folder
    before.pop(".user.yml", None)
    assert after == before
    if merged_path:
        assert after[merged_path] == before[merged_path]
    else:
        assert not (project / f"{PER_MODEL_DIR}/sem_{mart.name}.yml").exists()
