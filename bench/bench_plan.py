"""Plan benchmark: what the seam costs on a big schema (500 raw tables x 30 columns, keys between them).

Measures, in one process, each the best of a few runs:
(a) reading the plan document with pydantic (`ExecutionPlan.model_validate_json`), the baseline;
(b) the rules planner: drafts and placement;
(c) every check of the plan (`plan_problems`: grammar, references, dependencies, sqlglot on every
    fragment), with sqlglot's parse cache emptied first, as on a fresh run;
(d) rendering every file.
Prints seconds and the ratio of each to the baseline.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartridge_bridge.config import Conventions  # noqa: E402
from cartridge_bridge.context.project_context import build_context  # noqa: E402
from cartridge_bridge.gather.facts import RawColumn, RawRelation, WarehouseFacts  # noqa: E402
from cartridge_bridge.gather.manifest import Manifest, Metadata  # noqa: E402
from cartridge_bridge.planning.checks import plan_problems  # noqa: E402
from cartridge_bridge.planning.plan import ExecutionPlan  # noqa: E402
from cartridge_bridge.planning.rules.planner import plan_with_rules  # noqa: E402
from cartridge_bridge.render.plan_files import render_plan  # noqa: E402
from cartridge_bridge.sql.sql_fragments import parse_expression  # noqa: E402

TABLES, COLUMNS, REPEATS = 500, 30, 3
TYPES = ("integer", "text", "numeric(12,2)", "timestamp", "boolean", "date")


def synthetic_facts() -> WarehouseFacts:
    """Tables `t000`…: an `id`, a key to the table at half its index, then columns of every type."""
    relations = []
    for index in range(TABLES):
        columns = [RawColumn(name="id", data_type="integer", position=1)]
        if index:
            columns.append(RawColumn(name=f"t{index // 2:03d}_id", data_type="integer", position=2))
        while len(columns) < COLUMNS:
            position = len(columns) + 1
            data_type = TYPES[position % len(TYPES)]
            columns.append(RawColumn(name=f"Column{position}Value", data_type=data_type, position=position))
        relations.append(
            RawRelation.model_validate({"schema": "raw", "identifier": f"t{index:03d}", "columns": columns})
        )
    return WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=relations
    )


def best_of(work: Callable[[], object], before: Callable[[], None] = lambda: None) -> float:
    """The fastest of REPEATS runs, in seconds."""
    times = []
    for _ in range(REPEATS):
        before()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    """Run the four measurements and print them with their ratio to the baseline."""
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "dbt_project.yml").write_text("name: shop\n", encoding="utf-8")
        context = build_context(
            project, Manifest(metadata=Metadata(project_name="shop")), synthetic_facts(), Conventions()
        )
        plan = plan_with_rules(context)
        document = plan.model_dump_json()
        problems = plan_problems(plan, context)
        assert problems == [], problems[:3]
        # The time spine has no column list (one date column, made by the package): it counts none.
        fragments = sum(len(getattr(a.spec, "columns", ())) for a in plan.models())
        print(
            f"{TABLES} tables x {COLUMNS} columns: {len(plan.actions)} actions, {fragments} columns, "
            f"{len(document) / 1e6:.1f} MB of plan JSON"
        )
        results = {
            "(a) read the plan (pydantic, baseline)": best_of(
                lambda: ExecutionPlan.model_validate_json(document)
            ),
            "(b) rules planner: drafts + placement": best_of(lambda: plan_with_rules(context)),
            "(c) every check (sqlglot cache cold)": best_of(
                lambda: plan_problems(plan, context), parse_expression.cache_clear
            ),
            "(d) render every file": best_of(lambda: render_plan(plan), parse_expression.cache_clear),
        }
    baseline = next(iter(results.values()))
    for label, seconds in results.items():
        print(f"{label:<42} {seconds:7.2f} s   {seconds / baseline:6.1f}x baseline")


if __name__ == "__main__":
    main()
