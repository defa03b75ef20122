"""Quality benchmark: real connector data (../shared/datasets/fivetran) through `generate` with the rules planner.

For each connector (or those named on the command line): load its raw tables into an embedded
PostgreSQL with `dbt seed` and the connector's column types, run cartridge's `generate` into a new
project, and print per dataset: tables, models per layer and the marts by name, the build's result,
tests relaxed, errors, key precision and recall against the keys Fivetran's own staging declares
(`keys.json`, single and composite; a connector without one, Salesforce and NetSuite, is built and
measured but its keys are not scored), relationships tests and how many hold on the data, the marts'
measures (counts, sums, first/last) with what must stay out of marts (relationships tests and loader
columns past staging), the model columns left undescribed, and wall time. `--keep DIR` generates
into DIR and leaves the loaders and projects there to read.

A table's key is right when the grain cartridge planned (in raw column names) is one of the declared
keys or, when several single-column keys are declared, their combination. It is also right, and counted
apart as "finer", when it is unique and not null on the data and holds a declared key plus columns that
tell that key's rows apart: a column numbering a parent's rows (`index`, `position`, ...: the connector's
own key for a flattened list; Fivetran's Shopify package moved `order_discount_code`'s test from `code` to
`order_id` + `index` for this reason), any columns when the declared key alone is not unique on the
data (the declared key does not hold; the planned one is the declared key made unique), or the whole row
but the loader's columns (a list: a parent's tags, e-mails or links, whose declared parent id is unique
only because the sample holds one value per parent). Anything else
planned for a table with declared keys is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.postgres_project import new_project, profiles_yml  # noqa: E402
from bench.quality_brownfield import fixtures, print_lane, run_lane  # noqa: E402
from cartridge_bridge.api import ApplyReport, ProjectOptions, generate  # noqa: E402
from cartridge_bridge.dbt.runner import DbtProject, NodeResult  # noqa: E402
from cartridge_bridge.demo.local_postgres import LocalPostgres, start_postgres, stop_postgres  # noqa: E402
from cartridge_bridge.errors import CartridgeError, one_line  # noqa: E402
from cartridge_bridge.planning.plan import (  # noqa: E402
    AggregateSpec,
    ExecutionPlan,
    HistorySpec,
    MartSpec,
    StagingSpec,
    output_columns,
)
from cartridge_bridge.progress import SilentProgress  # noqa: E402
from cartridge_bridge.sql.naming import singular  # noqa: E402

DATASETS = Path(os.environ.get("CARTRIDGE_DATASETS", ROOT.parent / "shared" / "datasets" / "fivetran"))
LAYERS = {"create_staging": "stg", "create_intermediate": "int", "create_mart": "mart"}


@dataclass
class KeyScore:
    """Keys cartridge planned against the declared ones."""

    declared: int = 0
    found: int = 0
    emitted: int = 0
    wrong: int = 0
    composite_declared: int = 0
    composite_found: int = 0
    finer: list[str] = field(default_factory=list)  # found on a finer grain than declared (see the docstring)
    misses: list[str] = field(default_factory=list)


# Columns that number the rows of one parent: with a declared parent key, the connector's own row key.
ROW_NUMBERS = frozenset({"index", "idx", "position", "line", "line_number", "sequence", "ordinal"})
UniqueOnData = Callable[[str, frozenset[str]], bool]


def unique_on_data(server: LocalPostgres, schema: str) -> UniqueOnData:
    """Whether a raw table's columns are unique and never null on its rows (one query per question)."""
    import psycopg2

    def check(table: str, columns: frozenset[str]) -> bool:
        quoted = ", ".join(f'"{c}"' for c in sorted(columns))
        nulls = " or ".join(f'"{c}" is null' for c in sorted(columns))
        relation = f'"{schema}"."{table}"'
        connection = psycopg2.connect(server.dsn)
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"select (select count(*) from {relation}) = (select count(*) from (select distinct "
                    f"{quoted} from {relation}) as keys), not exists (select 1 from {relation} where {nulls})"
                )
                unique, not_null = cursor.fetchone()
        finally:
            connection.close()
        return bool(unique and not_null)

    return check


def load(dataset: Path, server: LocalPostgres, folder: Path) -> str:
    """Seed the connector's CSVs into schema raw_<name> with its column types; return the schema."""
    name = dataset.name
    schema = f"raw_{name}"
    loader = folder / f"load_{name}"
    shutil.rmtree(loader, ignore_errors=True)  # a kept folder from an earlier run
    shutil.copytree(dataset / "seeds", loader / "seeds")
    types = yaml.safe_load((dataset / "column_types.yml").read_text()) or {}
    seeds = {table: {"+column_types": columns} for table, columns in types.items()}
    project = {
        "name": f"load_{name}", "version": "1.0", "config-version": 2, "profile": "bench",
        "seed-paths": ["seeds"], "seeds": {f"load_{name}": {"+quote_columns": True, **seeds}},
    }  # fmt: skip
    (loader / "dbt_project.yml").write_text(yaml.safe_dump(project))
    (loader / "profiles.yml").write_text(profiles_yml(server, schema, threads=2))
    seeded = DbtProject(loader, loader).invoke(["seed"])
    if not seeded.success:
        raise SystemExit(f"dbt seed failed for {name}: {seeded.error_text()}")
    return schema


def numbers_rows(column: str) -> bool:
    """`index`, `position`, or a name ending in one of them (`field_index`, `to_stage_index`)."""
    return column in ROW_NUMBERS or any(column.endswith(f"_{word}") for word in ROW_NUMBERS)


def finer_than(
    planned: frozenset[str],
    accepted: set[frozenset[str]],
    table: str,
    unique: UniqueOnData,
    columns: frozenset[str] = frozenset(),
) -> bool:
    """The planned key is a declared key plus what tells its rows apart, and unique on the data.

    What tells them apart: a column numbering the rows, anything when the declared key is not unique on the
    data, or the rest of the row when the planned key is every column but the loader's (a list such as a
    parent's tags or e-mails, whose row is its own key: a declared parent id unique on a sample of three rows
    says nothing about the next parent with two tags).
    """
    return any(
        key < planned
        and (
            all(numbers_rows(c) for c in planned - key)
            or not unique(table, key)
            or (bool(columns) and planned == columns)
        )
        for key in accepted
    ) and unique(table, planned)


def key_score(dataset: Path, plan: ExecutionPlan, unique: UniqueOnData) -> KeyScore:
    """Precision and recall of the planned grains against keys.json."""
    truth: dict[str, list[list[str]]] = json.loads((dataset / "keys.json").read_text())
    score = KeyScore(declared=len(truth))
    planned: dict[str, frozenset[str]] = {}
    row_columns: dict[str, frozenset[str]] = {}  # each table's columns but the loader's
    staged = {a.name: a.spec for a in plan.models() if isinstance(a.spec, StagingSpec)}
    for action in plan.models():
        spec = action.spec
        if isinstance(spec, StagingSpec) and spec.grain:
            raw = {c.name: c.source_column for c in spec.columns}
            planned[spec.table] = frozenset(str(raw[g]) for g in spec.grain)
            row_columns[spec.table] = frozenset(
                str(c) for c in raw.values() if c and not str(c).startswith("_fivetran")
            )
        # A version history's staging keeps every version; its key is the entity key of the history over it.
        elif isinstance(spec, HistorySpec) and isinstance(
            versions := staged.get(spec.from_model), StagingSpec
        ):
            raw = {c.name: c.source_column for c in versions.columns}
            planned[versions.table] = frozenset(str(raw[k]) for k in spec.entity_key)
            row_columns[versions.table] = frozenset(
                str(c) for c in raw.values() if c and not str(c).startswith("_fivetran")
            )
    score.emitted = len(planned)
    # A declared key, or the combination of all of them when several single columns are declared.
    accepted = {
        table: {frozenset(k) for k in keys} | {frozenset(c for k in keys for c in k)}
        for table, keys in truth.items()
    }
    for table, keys in truth.items():
        composite = len(keys) > 1 or len(keys[0]) > 1
        score.composite_declared += composite
        got = sorted(planned[table]) if table in planned else None
        if planned.get(table) in accepted[table]:
            score.found += 1
            score.composite_found += composite
        elif table in planned and finer_than(
            planned[table], accepted[table], table, unique, row_columns[table]
        ):
            score.found += 1
            score.composite_found += composite
            score.finer.append(f"{table}: declared {keys}, planned {got}")
        else:
            score.misses.append(f"{table}: declared {keys}, planned {got}")
    score.wrong = sum(
        1
        for table, key in planned.items()
        if table in truth
        and key not in accepted[table]
        and not finer_than(key, accepted[table], table, unique, row_columns[table])
    )
    return score


def role_keys(plan: ExecutionPlan, nodes: list[NodeResult]) -> list[str]:
    """Staging foreign keys whose name is not `<parent table>_id` (role names: `head_user_id`, `parent_id`),
    each as `table.column → parent`, marked `(holds)` when its relationships test passed on the data."""
    tables = {a.name: a.spec.table for a in plan.models() if isinstance(a.spec, StagingSpec)}
    passed = {
        (n.tested_model, n.tested_column)
        for n in nodes
        if n.test_name == "relationships" and n.status == "pass"
    }
    found = []
    for action in plan.models():
        spec = action.spec
        if not isinstance(spec, StagingSpec):
            continue
        for column in spec.columns:
            for test in column.tests:
                parent = tables.get(str(test.to)) if test.name == "relationships" else None
                if parent is None or str(column.source_column) in (f"{parent}_id", f"{singular(parent)}_id"):
                    continue
                holds = " (holds)" if (action.name, column.name) in passed else ""
                found.append(f"{spec.table}.{column.source_column} → {parent}{holds}")
    return found


def run(dataset: Path, server: LocalPostgres, folder: Path) -> dict[str, object]:
    """Load one dataset, generate, and measure."""
    started = time.perf_counter()
    schema = load(dataset, server, folder)
    project = folder / f"project_{dataset.name}"
    shutil.rmtree(project, ignore_errors=True)
    (project / "models").mkdir(parents=True)
    new_project(project, f"{dataset.name}_project", server, threads=2)
    options = ProjectOptions(
        project_dir=project, profiles_dir=project, schemas=[schema], source_name=dataset.name
    )
    report: ApplyReport | None = None
    error = ""
    try:
        report = generate(options, SilentProgress())
    except CartridgeError as failure:
        error = one_line(str(failure))  # whole: a failing build names its node and dbt's message
    row: dict[str, object] = {"dataset": dataset.name, "tables": len(list((dataset / "seeds").glob("*.csv")))}
    row["seconds"] = time.perf_counter() - started
    if report is None:
        row["error"] = error
        return row
    plan = report.plan
    build = report.build
    row["layers"] = {label: sum(a.type == t for a in plan.actions) for t, label in LAYERS.items()}
    row["build"] = "passed" if build and build.success else "failed"
    row["relaxed"] = len(report.relaxed_tests)
    row["errors"] = sum(1 for n in (build.nodes if build else []) if n.status == "error")
    relationships = [
        t
        for a in plan.models()
        for c in output_columns(a.spec)
        for t in c.tests
        if t.name == "relationships"  # type: ignore[arg-type]
    ]
    held = [
        n for n in (build.nodes if build else []) if n.test_name == "relationships" and n.status == "pass"
    ]
    # At warn: planned so (a foreign key the data refutes) or relaxed by a repair.
    warned = sum(t.severity == "warn" for t in relationships)
    row["relationships"] = (len(relationships), len(held), warned)
    row["undescribed"] = (len(report.undescribed), sum(len(output_columns(a.spec)) for a in plan.models()))  # type: ignore[arg-type]
    row["role_keys"] = role_keys(plan, build.nodes if build else [])
    if (dataset / "keys.json").is_file():  # Salesforce, NetSuite: raw tables only, no key list to score
        row["keys"] = key_score(dataset, plan, unique_on_data(server, schema))
    row["marts"] = [a.name for a in plan.actions if a.type == "create_mart"]
    row["measures"] = layer_shape(plan)
    row["flagged"] = flagged_sums(plan)
    return row


def layer_shape(plan: ExecutionPlan) -> dict[str, int]:
    """What the marts measure, and what should never be past staging (each counted; the last two should be 0)."""
    expressions = [
        (c.expression or "")
        for a in plan.models()
        if isinstance(a.spec, MartSpec)
        for join in a.spec.joins
        for c in join.columns
    ]
    past_staging = [
        (a, c) for a in plan.models() if a.type != "create_staging" for c in output_columns(a.spec)
    ]  # type: ignore[arg-type]
    # Aggregates only: a type-2 history and its current state are read by whoever asks for them, marts or not.
    intermediates = {a.name for a in plan.actions if isinstance(a.spec, AggregateSpec)}
    read = {d for a in plan.actions if a.type == "create_mart" for d in a.dependencies}
    return {
        "counts": sum("number_of_" in e for e in expressions),
        "sums": sum(".total_" in e for e in expressions),
        "first/last": sum(".first_" in e or ".last_" in e for e in expressions),
        "relationships past staging": sum(
            t.name == "relationships" for _, c in past_staging for t in c.tests
        ),
        "loader columns past staging": sum(
            (c.expression or c.name).split(".")[-1].startswith(("fivetran_", "_fivetran"))
            for _, c in past_staging
        ),
        "intermediates no mart reads": len(intermediates - read),
    }


def key_line(keys: KeyScore | None) -> str:
    """Key recall, composites and wrong keys against keys.json, or why there is no score."""
    if keys is None:
        return "not scored (no keys.json: build only)"
    recall = keys.found / keys.declared if keys.declared else 1.0
    wrong = keys.wrong / keys.emitted if keys.emitted else 0.0
    return (
        f"recall {recall:.2f} ({keys.found}/{keys.declared}, {len(keys.finer)} on a finer grain), "
        f"composite {keys.composite_found}/{keys.composite_declared}, "
        f"wrong {wrong:.0%} ({keys.wrong}/{keys.emitted} planned)"
    )


def flagged_sums(plan: ExecutionPlan) -> list[str]:
    """Sums over a column whose name says price, rate, percent, threshold, balance or unit (`model: sum(x)`)."""
    import re

    # Words naming a number that does not add up over rows; `total_price` is an amount (a whole order's price).
    not_summed = set("price prices rate rates percent percentage pct threshold balance balances unit".split())
    found = []
    for action in plan.models():
        for column in output_columns(action.spec):  # type: ignore[arg-type]
            for argument in re.findall(r"\bsum\((.*)\)", column.computed() or "", flags=re.IGNORECASE):
                names = re.findall(r"[a-z_][a-z0-9_]*", re.sub(r"'[^']*'", "", argument.lower()))
                said = {w for n in names for w in n.split("_")}
                # A unit price times a quantity is what a line sells for: money that adds up (gross sales).
                extended = "*" in argument and bool(said & {"quantity", "qty"})
                if (
                    said & not_summed
                    and not ("price" in said and said & {"total", "subtotal"})
                    and not extended
                ):
                    found.append(f"{action.name}: sum({argument})")
    return found


def main() -> None:
    """Run every dataset (or those named as arguments; `--keep DIR` keeps the projects) and print one block each."""
    known = sorted(p.name for p in DATASETS.iterdir() if (p / "seeds").is_dir())
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "datasets", nargs="*", metavar="connector", help=f"default: all of {', '.join(known)}"
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="generate into DIR and leave the projects there"
    )
    parser.add_argument(
        "--brownfield",
        action="store_true",
        help="the brownfield lane: generate into a hand-written project (bench/brownfield/<connector>)",
    )
    parser.add_argument(
        "--relay",
        type=Path,
        metavar="DIR",
        help="with --brownfield: plan with the LLM planner, each request written to DIR/<connector>/q/NNN.json "
        "and answered from DIR/<connector>/a/NNN.txt (bench/llm_recorded.py); DIR/<connector>/DONE when it ends",
    )
    options = parser.parse_args()
    if options.relay and not options.brownfield:
        parser.error("--relay runs the brownfield lane's LLM planner: add --brownfield")
    relay = options.relay.resolve() if options.relay else None
    if options.brownfield:
        known = fixtures()
    unknown = [name for name in options.datasets if name not in known]
    if unknown:
        parser.error(f"no dataset {', '.join(unknown)} in {DATASETS}")
    keep = options.keep.resolve() if options.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    names = options.datasets or known
    with tempfile.TemporaryDirectory(prefix="cartridge-quality-") as scratch:
        folder = str(keep) if keep else scratch
        data_dir = Path(scratch) / "pg"
        server = start_postgres(data_dir)
        try:
            if options.brownfield:
                lane = [
                    run_lane(
                        DATASETS / name,
                        server,
                        Path(folder),
                        load(DATASETS / name, server, Path(folder)),
                        relay,
                    )
                    for name in names
                ]
            else:
                rows = [run(DATASETS / name, server, Path(folder)) for name in names]
        finally:
            stop_postgres(data_dir)
    if options.brownfield:
        print_lane(lane, "LLM planner, answered through the relay" if relay else "rules planner")
        return
    print("quality: Fivetran connector data through `generate` (rules planner) on embedded PostgreSQL")
    for row in rows:
        print(f"== {row['dataset']}: {row['tables']} tables, {row['seconds']:.1f} s")
        if "error" in row:
            print(f"   generate failed: {row['error']}")
            continue
        layers = row["layers"]
        total, held, warned = row["relationships"]  # type: ignore[misc]
        print(
            f"   models: {layers}; build {row['build']}; {row['relaxed']} tests relaxed; {row['errors']} errors"
        )
        keys = row.get("keys")
        assert keys is None or isinstance(keys, KeyScore)
        print(f"   keys: {key_line(keys)}")
        print(f"   relationships tests: {total} ({warned} at warn), holding on the data: {held}")
        undescribed, columns = row["undescribed"]  # type: ignore[misc]
        print(f"   model columns left undescribed: {undescribed} of {columns}")
        found = row["role_keys"]
        assert isinstance(found, list)
        print(f"   role-named foreign keys: {len(found)}{': ' if found else ''}{', '.join(found)}")
        for finer in keys.finer if keys else []:
            print(f"   key on a finer grain: {finer}")
        marts = row["marts"]
        assert isinstance(marts, list)
        print(f"   marts ({len(marts)}): {', '.join(marts)}")
        print(f"   mart measures: {row['measures']}")
        print(f"   sums of prices, rates, thresholds, balances, units: {row['flagged'] or 0}")
        for miss in keys.misses if keys else []:
            print(f"   key missed: {miss}")


if __name__ == "__main__":
    main()
