"""Business-answers benchmark: do the generated marts answer the questions a connector's users ask?

For each connector with a `business/` folder in ../shared/datasets/fivetran (or those named): seed its raw
tables into embedded PostgreSQL, run `generate` with the chosen planner into a new project and build it,
then ask each question of `bench/answers/<connector>.yml` with its restricted SQL (bench/answers_queries.py)
and score the rows against the vendor's `business/answers/qN.csv` (bench/answers_scoring.py). Prints a table
per planner and connector (rich on a terminal, plain lines to a pipe) and writes the results as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.answers_figures import COLUMNS, RESULTS, TABLE_HEADER, findings, plain_table, table_rows  # noqa: E402
from bench.answers_figures import main as write_figures  # noqa: E402
from bench.answers_queries import (  # noqa: E402
    QUESTIONS,
    Layer,
    MetricQuery,
    QueryRefused,
    Question,
    check_against,
    check_metrics,
    check_shape,
    layer_of,
    load_questions,
)
from bench.answers_scoring import ERROR, NOT_ANSWERABLE, Score, default_keys, read_answer, score  # noqa: E402
from bench.llm_recorded import RECORDINGS, RecordedModel, recorded_llm  # noqa: E402
from bench.metricflow_query import mf_query  # noqa: E402
from bench.postgres_project import new_project  # noqa: E402
from bench.quality import DATASETS, load  # noqa: E402
from cartridge_bridge.api import ProjectOptions, generate  # noqa: E402
from cartridge_bridge.demo.local_postgres import LocalPostgres, start_postgres, stop_postgres  # noqa: E402
from cartridge_bridge.errors import CartridgeError  # noqa: E402
from cartridge_bridge.planning.llm.chat import UsageLedger  # noqa: E402
from cartridge_bridge.planning.planner import Planner  # noqa: E402
from cartridge_bridge.planning.rules.planner import RulesPlanner  # noqa: E402
from cartridge_bridge.progress import SilentProgress  # noqa: E402
from cartridge_bridge.verify.repair import RelaxFailingTests, Repairer  # noqa: E402


@dataclass
class Chosen:
    """A planner and its repairer for one connector; `recorded` is the LLM's recording, None for the rules."""

    planner: Planner
    repairer: Repairer
    recorded: RecordedModel | None = None
    usage: UsageLedger | None = None


@contextmanager
def rules(connector: str, relay: Path | None) -> Iterator[Chosen]:
    """The deterministic rules planner, repaired as `generate` repairs it."""
    yield Chosen(RulesPlanner(), RelaxFailingTests())


@contextmanager
def llm(connector: str, relay: Path | None) -> Iterator[Chosen]:
    """The LLM planner and repairer through litellm, answered from the connector's recording (bench/llm_recorded.py)."""
    recorded = RecordedModel(RECORDINGS / connector, relay / connector if relay else None)
    with recorded_llm(recorded) as model:
        yield Chosen(model.planner, model.repairer, recorded, model.usage)


PLANNERS = {"rules": rules, "llm": llm}


def connectors() -> list[str]:
    """The connectors with a business/ folder and a question file here."""
    return sorted(p.name for p in DATASETS.iterdir() if (p / "business" / "questions.md").is_file())


def ask(question: Question, layer: Layer, connection: object, answers: Path, project: Path) -> Score:
    """Ask one question of the built layer and score it against the vendor's answer file."""
    if question.not_answerable is not None:
        return Score(NOT_ANSWERABLE, question.not_answerable)
    columns, expected = read_answer(answers)
    keys = question.keys or default_keys(columns, expected)
    wanted = [c for c in columns if c not in question.unanswered]
    if question.metricflow is not None:
        try:
            check_metrics(question.metricflow, layer)
        except QueryRefused as refused:
            return Score(ERROR, f"query refused: {refused}")
        try:
            rows = metricflow_rows(question.metricflow, project)
        except RuntimeError as failure:
            return Score(ERROR, f"mf query failed: {failure}")
        names = list(question.metricflow.columns)
    else:
        try:
            check_against(check_shape(str(question.sql)), layer)
        except QueryRefused as refused:
            return Score(ERROR, f"query refused: {refused}")
        with connection.cursor() as cursor:  # type: ignore[attr-defined]
            try:
                cursor.execute(question.sql)
            except Exception as failure:  # the database's own message is the finding
                connection.rollback()  # type: ignore[attr-defined]
                return Score(ERROR, f"query failed: {str(failure).splitlines()[0]}")
            names = [d.name for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    if sorted(names) != sorted(wanted):
        return Score(ERROR, f"query returns {names}, the answer needs {wanted}")
    return score(columns, expected, rows, keys, question.unanswered)


def metricflow_rows(query: MetricQuery, project: Path) -> list[dict[str, object]]:
    """`mf query` in the generated project, its rows under the answer's column names (values as text: the
    scoring reads numbers and dates from text as it reads the answer files)."""
    rows = mf_query(project, query.metrics, query.group_by, query.where)
    return [
        {answer: (row.get(output.lower()) or None) for answer, output in query.columns.items()}
        for row in rows
    ]


def run_connector(
    name: str,
    questions: dict[str, Question],
    planner: str,
    server: LocalPostgres,
    folder: Path,
    relay: Path | None = None,
    queries_written: bool = True,
) -> dict[str, object]:
    """Seed, generate, build, and ask every question of one connector."""
    import psycopg2

    started = time.perf_counter()
    dataset = DATASETS / name
    schema = load(dataset, server, folder)
    project = folder / f"project_{name}_{planner}"
    shutil.rmtree(project, ignore_errors=True)  # a kept folder from an earlier run
    new_project(project, f"{name}_project", server, threads=2)
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=[schema], source_name=name)
    scores: dict[str, Score] = {}
    llm_calls: dict[str, object] = {}
    with PLANNERS[planner](name, relay) as chosen:
        try:
            report = generate(options, SilentProgress(), planner=chosen.planner, repairer=chosen.repairer)
            built = report.build is not None and report.build.success
            failure = "" if built else "the generated layer does not build"
        except CartridgeError as error:
            failure = f"generate failed: {str(error).splitlines()[0][:200]}"
        if chosen.recorded is not None:
            recorded = chosen.recorded
            llm_calls = {
                "served": recorded.served,
                "relayed": recorded.relayed,
                "missing": len(recorded.missing),
            }
            if recorded.missing:  # the cause, not the symptom: the recording is older than the prompts
                failure = f"{len(recorded.missing)} requests have no recorded answer: refresh with --relay"
            elif recorded.relay is not None and not failure:
                # A refresh that ran whole replaces the recording: answers to prompts no longer asked go.
                stale = recorded.stale()
                for path in stale:
                    path.unlink()
                llm_calls["removed"] = len(stale)
    if not failure and not queries_written:
        failure = f"no queries written for the {planner} layer yet: bench/answers/{planner}/{name}.yml"
    if failure:
        scores = {q: Score(ERROR, failure) for q in questions}
    else:
        layer = layer_of(report.plan)
        # new_project builds into schema analytics; the answers' days and months are UTC
        connection = psycopg2.connect(server.dsn, options="-c timezone=UTC -c search_path=analytics")
        try:
            for q, question in questions.items():
                answers = dataset / "business" / "answers" / f"{q}.csv"
                scores[q] = ask(question, layer, connection, answers, project)
        finally:
            connection.close()
    return {
        "planner": planner,
        "connector": name,
        "seconds": round(time.perf_counter() - started, 1),
        **({"llm_calls": llm_calls} if llm_calls else {}),
        "questions": {q: {"question": questions[q].question, **asdict(s)} for q, s in scores.items()},
        "totals": {v: sum(s.verdict == v for s in scores.values()) for v in COLUMNS},
    }


def show(results: list[dict[str, object]]) -> None:
    """The table (rich on a terminal, plain complete lines to a pipe), then the findings."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*TABLE_HEADER, title="answers: the vendor's numbers from the generated marts")
        for row in table_rows(results):
            table.add_row(*row)
        Console().print(table)
    else:
        for line in plain_table(results):
            print(line)
    for line in findings(results):
        print(line)


def default_results_file(planners: list[str], names: list[str], every: list[str]) -> Path:
    """Where a run without --out writes: the committed figures only come from a whole run of one planner over
    `every` connector (a run of two connectors must not overwrite them, nor the rules' file take the LLM's)."""
    if len(set(planners)) == 1 and set(names) == set(every):
        return RESULTS[0] if planners[0] == "rules" else RESULTS[1]
    return Path(tempfile.gettempdir()) / f"cartridge-answers-{'-'.join(dict.fromkeys(planners))}.json"


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 when every question was asked, 1 when one could not be, 2 for bad usage."""
    parser = argparse.ArgumentParser(prog="bench/answers.py", description=__doc__.splitlines()[0])
    parser.add_argument("connectors", nargs="*", help="connectors to run (default: all with business/)")
    parser.add_argument(
        "--planner", choices=list(PLANNERS), action="append", help="repeat for several (default: rules)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="default: the planner's committed results (bench/answers-results.json, bench/answers-llm-results.json) "
        "for a run of one planner on every connector; a file in the temporary folder for any other run",
    )
    parser.add_argument("--keep", type=Path, help="generate into this folder and leave the projects there")
    parser.add_argument(
        "--relay",
        type=Path,
        help="--planner llm: requests with no recorded answer go to RELAY/<connector>/q/NNN.json and wait for "
        "RELAY/<connector>/a/NNN.txt, which is then recorded under bench/answers-llm/",
    )
    args = parser.parse_args(argv)
    planners = args.planner or ["rules"]
    names = args.connectors or connectors()
    if args.out is None:
        args.out = default_results_file(planners, names, connectors())
    unknown = [n for n in names if not (QUESTIONS / f"{n}.yml").is_file() or n not in connectors()]
    if unknown:
        print(f"bench/answers.py: no business questions for {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        questions = {name: load_questions(name) for name in names}
        written = {  # each planner's layer names its own models: the LLM's queries live in answers/llm/
            (p, name): load_questions(name, QUESTIONS / p) if p != "rules" else questions[name]
            for p in planners
            for name in names
            if p == "rules" or (QUESTIONS / p / f"{name}.yml").is_file()
        }
    except (OSError, ValueError) as error:  # a missing or malformed question file, a refused query
        print(f"bench/answers.py: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cartridge-answers-") as scratch:
        folder = args.keep.resolve() if args.keep else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        server = start_postgres(Path(scratch) / "pg")
        try:
            results = [
                run_connector(
                    n, written.get((p, n), questions[n]), p, server, folder, args.relay, (p, n) in written
                )
                for p in planners
                for n in names
            ]
        finally:
            stop_postgres(Path(scratch) / "pg")
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    show(results)
    print(f"results written to {args.out}")
    if args.out.resolve() in RESULTS:  # the docs' figures page is rendered from these files
        write_figures()
    return 1 if any(r["totals"][ERROR] for r in results) else 0  # type: ignore[index]


if __name__ == "__main__":
    sys.exit(main())
