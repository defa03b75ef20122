"""The brownfield lane of bench/quality: a hand-written existing project per connector, then `generate` into it.

Each `bench/brownfield/<connector>/models` is a small project as a team wrote it, in a style unlike cartridge's
defaults (`version: 2`, `tests:`, one `schema.yml` per folder, no `data_type:`): staging for a few of the
connector's tables, one mart, an amount converted in staging (`amount / 100`) or renamed, and a documented
column the model no longer has. It is built first; then `generate` (rules planner, or with `--relay DIR` the LLM
planner, every request answered through DIR/<connector> by a reader as bench/llm_recorded.py relays it) adds the
connector's other raw tables. What the lane counts it reads from the files on disk, the relations in the warehouse and the plan,
never from cartridge's own report (cartridge's stale-documentation findings are printed, and checked against
the stale columns found here):

- stale documentation: columns a fixture YAML documents that the built relation lacks, and which of them
  cartridge reported;
- descriptions reused across unrelated tables: a new column's description equal to an existing column's (or
  to a doc block's text, or the same `doc()` reference) of a table the new model does not read, directly or
  through its parents;
- style mismatches in the properties files cartridge wrote or appended to: `data_tests:`, no `version: 2`,
  `data_type:`, a properties file not named `schema.yml`, a model documented outside its own folder;
- unit mismatches landed: a new staging model selecting a raw column the project divides by 100 without the
  division, and not flagged by the run (`ApplyReport.unit_findings` names the column);
- copies of existing marts: a new mart at an existing mart's grain (one row per its tested key, on the data)
  holding at least half of its columns; new marts at another grain holding that many (a fact carrying its
  parent's attributes) are listed apart, not counted;
- mixed units, listed apart and not counted: a new staging model dividing a column by 100 beside amount
  columns of the same raw table it passes through undivided (the project's transform carried by exact name
  only, so one model holds two units).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.llm_recorded import RecordedModel, recorded_llm
from bench.postgres_project import new_project
from cartridge_bridge.api import ApplyReport, ProjectOptions, generate
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.demo.local_postgres import LocalPostgres
from cartridge_bridge.errors import CartridgeError, one_line
from cartridge_bridge.planning.planner import Planner
from cartridge_bridge.progress import SilentProgress
from cartridge_bridge.verify.repair import Repairer

FIXTURES = Path(__file__).resolve().parent / "brownfield"
PROPERTIES_FILE = "schema.yml"  # the fixtures' convention: one per folder
_REF = re.compile(r"""\{\{\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*\}\}""")
_SOURCE = re.compile(r"""\{\{\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*\}\}""")
_DOC = re.compile(r"""\{\{\s*doc\(\s*['"]([^'"]+)['"]\s*\)\s*\}\}""")
_DOC_BLOCK = re.compile(r"\{%\s*docs\s+(\w+)\s*%\}(.*?)\{%\s*enddocs\s*%\}", re.DOTALL)
_CENTS = re.compile(r"\b(\w+)\s*/\s*100(?:\.0*)?\b", re.IGNORECASE)


def fixtures() -> list[str]:
    """The connectors with a hand-written existing project."""
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "models").is_dir())


@dataclass
class LaneRow:
    """One connector's brownfield figures (every list names its findings; the last four must be empty)."""

    dataset: str
    seconds: float = 0.0
    error: str = ""
    fixture_build: bool = False
    build: bool = False
    written: list[str] = field(default_factory=list)  # project files created or changed by generate
    stale_planted: list[str] = field(default_factory=list)  # `model.column` documented, not in the relation
    stale_reported: list[str] = field(default_factory=list)  # cartridge's stale-documentation findings
    reused: list[str] = field(default_factory=list)
    style: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    copies: list[str] = field(default_factory=list)
    denormalised: list[str] = field(default_factory=list)  # at another grain: not a copy, listed to be read
    mixed_units: list[str] = field(default_factory=list)  # listed to be read, not counted
    llm_calls: int = 0  # requests relayed to the reader (the LLM planner's run only)

    @property
    def stale_missed(self) -> list[str]:
        """Planted stale columns cartridge did not report."""
        return [s for s in self.stale_planted if not any(f"`{s}`" in r for r in self.stale_reported)]


def _files(project: Path) -> dict[str, str]:
    """Every text file under models/, by path relative to the project."""
    return {
        str(p.relative_to(project)): p.read_text()
        for p in sorted((project / "models").rglob("*"))
        if p.is_file()
    }


def _yaml(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(text)
    return loaded if isinstance(loaded, dict) else {}


def _normal(text: str) -> str:
    return " ".join(text.split()).lower()


@dataclass
class Described:
    """Column descriptions of a set of properties files: owner (model, or `source.table`) → column → text."""

    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    model_files: dict[str, str] = field(default_factory=dict)  # model → the properties file documenting it

    def add(self, path: str, text: str) -> None:
        data = _yaml(text)
        for model in data.get("models") or []:
            self.model_files[model["name"]] = path
            self._columns(model["name"], model)
        for source in data.get("sources") or []:
            for table in source.get("tables") or []:
                self._columns(f"{source['name']}.{table['name']}", table)

    def _columns(self, owner: str, entry: dict[str, Any]) -> None:
        for column in entry.get("columns") or []:
            if column.get("description"):
                self.columns.setdefault(owner, {})[column["name"]] = str(column["description"])


def _lineage(files: dict[str, str]) -> dict[str, set[str]]:
    """Each model's parents as its SQL names them: models by name, sources as `source.table`."""
    parents: dict[str, set[str]] = {}
    for path, text in files.items():
        if path.endswith(".sql"):
            found = set(_REF.findall(text)) | {f"{s}.{t}" for s, t in _SOURCE.findall(text)}
            parents[Path(path).stem] = found
    return parents


def _ancestors(name: str, parents: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for parent in parents.get(todo.pop(), set()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _relation_columns(server: LocalPostgres, schema: str) -> dict[str, list[str]]:
    """Relation → its columns in order, for every table and view of `schema`."""
    import psycopg2

    connection = psycopg2.connect(server.dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select table_name, column_name from information_schema.columns where table_schema = %s "
                "order by table_name, ordinal_position",
                (schema,),
            )
            found: dict[str, list[str]] = {}
            for table, column in cursor.fetchall():
                found.setdefault(table, []).append(column)
    finally:
        connection.close()
    return found


def reused_descriptions(before: dict[str, str], written: dict[str, str], after: dict[str, str]) -> list[str]:
    """New columns described like a column of a table their model does not read (directly or upstream)."""
    old = Described()
    for path, text in before.items():
        if path.endswith((".yml", ".yaml")):
            old.add(path, text)
    blocks = {name: _normal(body) for text in before.values() for name, body in _DOC_BLOCK.findall(text)}
    new = Described()
    for path, text in written.items():
        if path.endswith((".yml", ".yaml")):
            new.add(path, text)
    parents = _lineage(after)
    found = []
    for owner, columns in sorted(new.columns.items()):
        related = _ancestors(owner, parents) | {owner}
        for column, text in sorted(columns.items()):
            if old.columns.get(owner, {}).get(column) is not None:
                continue  # the project's own entry, kept as it was written
            said = _normal(text)
            refs = set(_DOC.findall(text))
            for other, described in old.columns.items():
                if other in related:
                    continue
                for other_column, other_text in described.items():
                    same = _normal(other_text) == said or bool(refs & set(_DOC.findall(other_text)))
                    flattened = any(
                        ref_block == said for ref_block in (blocks.get(b) for b in _DOC.findall(other_text))
                    )
                    if same or flattened:
                        found.append(f"{owner}.{column} ← {other}.{other_column}")
    return found


def style_mismatches(written: dict[str, str], after: dict[str, str]) -> list[str]:
    """Properties files cartridge wrote or appended to, against the fixtures' dialect."""
    sql_folders = {Path(p).stem: str(Path(p).parent) for p in after if p.endswith(".sql")}
    found = []
    for path, text in sorted(written.items()):
        if not path.endswith((".yml", ".yaml")):
            continue
        data = _yaml(text)
        if Path(path).name != PROPERTIES_FILE:
            found.append(f"{path}: properties file not named {PROPERTIES_FILE}")
        if data.get("version") != 2:
            found.append(f"{path}: no `version: 2` header")
        if re.search(r"^\s*data_tests\s*:", text, re.MULTILINE):
            found.append(f"{path}: `data_tests:` where the project writes `tests:`")
        if re.search(r"^\s*data_type\s*:", text, re.MULTILINE):
            found.append(f"{path}: `data_type:` on columns, which the project never writes")
        for model in data.get("models") or []:
            folder = sql_folders.get(model["name"])
            if folder is not None and folder != str(Path(path).parent):
                found.append(f"{path}: documents {model['name']}, whose SQL is in {folder}")
    return found


def unit_mismatches(before: dict[str, str], written: dict[str, str], report: ApplyReport) -> list[str]:
    """New staging columns read from a raw column the project divides by 100, left undivided and unflagged."""
    converted = {
        column.lower()
        for path, text in before.items()
        if path.endswith(".sql") and _SOURCE.search(text)
        for column in _CENTS.findall(text)
    }
    flagged = " ".join(report.unit_findings)
    found = []
    for path, text in sorted(written.items()):
        if not path.endswith(".sql") or not _SOURCE.search(text):
            continue
        model = Path(path).stem
        divided = {c.lower() for c in _CENTS.findall(text)}
        body = re.sub(r"\{\{.*?\}\}", "", text)
        for column in sorted(converted - divided):
            if re.search(rf"\b{column}\b", body, re.IGNORECASE) and f"`{model}." not in flagged:
                found.append(f"{model}: `{column}` selected without `/ 100`, not flagged")
    return found


def _select_list(sql: str) -> list[tuple[str, bool]]:
    """Each output column of a model's last select (`ref`/`source` read as a table, other Jinja dropped) and whether
    it is divided by 100; none when the SQL does not parse."""
    import sqlglot
    from sqlglot import exp

    plain = re.sub(r"\{\{\s*(?:ref|source)\(.*?\}\}", "jinja", sql, flags=re.DOTALL)
    plain = re.sub(r"\{[{%#].*?[}%#]\}", "", plain, flags=re.DOTALL)
    try:
        tree = sqlglot.parse_one(plain, read="postgres")
    except sqlglot.errors.ParseError:
        return []
    columns = []
    for selected in tree.selects if isinstance(tree, exp.Query) else []:
        inner = selected.this if isinstance(selected, exp.Alias) else selected
        divided = isinstance(inner, exp.Div) and inner.expression.name in ("100", "100.0")
        columns.append((selected.alias_or_name.lower(), divided))
    return columns


def mixed_units(written: dict[str, str]) -> list[str]:
    """New staging models dividing some columns by 100 and passing other amount columns through undivided."""
    found = []
    for path, text in sorted(written.items()):
        if not path.endswith(".sql") or not _SOURCE.search(text):
            continue
        columns = _select_list(text)
        divided = sorted(name for name, by_100 in columns if by_100)
        amounts = sorted(name for name, by_100 in columns if not by_100 and "amount" in name.split("_"))
        if divided and amounts:
            found.append(
                f"{Path(path).stem}: {', '.join(divided)} / 100 beside {', '.join(amounts)} undivided"
            )
    return found


def mart_keys(before: dict[str, str]) -> dict[str, str]:
    """Each existing mart's key: the column its YAML tests `unique` and `not_null`."""
    keys = {}
    for path, text in before.items():
        if path.endswith((".yml", ".yaml")) and "/marts/" in f"/{path}":
            for model in _yaml(text).get("models") or []:
                for column in model.get("columns") or []:
                    tests = {t if isinstance(t, str) else next(iter(t)) for t in column.get("tests") or []}
                    if {"unique", "not_null"} <= tests:
                        keys[model["name"]] = column["name"]
    return keys


def mart_copies(
    existing_marts: dict[str, list[str]],
    keys: dict[str, str],
    new_marts: list[str],
    relations: dict[str, list[str]],
    one_row_per: Callable[[str, str], bool],
) -> tuple[list[str], list[str]]:
    """New marts holding at least half of an existing mart's columns: at its grain (one row per its key, on the
    data: a copy answering the same question), and at another grain (its columns brought to a finer fact)."""
    copies, elsewhere = [], []
    for new in new_marts:
        columns = set(relations.get(new, []))
        for mart, its in existing_marts.items():
            shared = columns & set(its)
            if not its or 2 * len(shared) < len(its):
                continue
            key = keys.get(mart)
            same_grain = key is not None and key in columns and one_row_per(new, key)
            line = f"{new} holds {len(shared)} of {mart}'s {len(its)} columns ({', '.join(sorted(shared))})"
            (copies if same_grain else elsewhere).append(line)
    return copies, elsewhere


def one_row_per_key(server: LocalPostgres, schema: str) -> Callable[[str, str], bool]:
    """Whether a relation has one row per value of a column (none null): the grain, on the data."""
    import psycopg2

    def check(relation: str, column: str) -> bool:
        connection = psycopg2.connect(server.dsn)
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f'select count(*) = count(distinct "{column}") and count(*) = count("{column}") '
                    f'from "{schema}"."{relation}"'
                )
                (unique,) = cursor.fetchone()
        finally:
            connection.close()
        return bool(unique)

    return check


def stale_columns(before: dict[str, str], relations: dict[str, list[str]]) -> list[str]:
    """`model.column` for every column a fixture YAML documents that the model's built relation lacks."""
    found = []
    for path, text in sorted(before.items()):
        if not path.endswith((".yml", ".yaml")):
            continue
        for model in _yaml(text).get("models") or []:
            has = set(relations.get(model["name"], []))
            for column in model.get("columns") or []:
                if has and column["name"] not in has:
                    found.append(f"{model['name']}.{column['name']}")
    return found


@dataclass
class LanePlanner:
    """The planner and repairer `generate` runs with; both None for its defaults (the rules planner)."""

    planner: Planner | None = None
    repairer: Repairer | None = None
    recorded: RecordedModel | None = None


@contextmanager
def lane_planner(connector: str, relay: Path | None) -> Iterator[LanePlanner]:
    """The rules planner, or with a relay folder the LLM planner whose every request goes to `relay/<connector>`
    (no recording is served: the reader answers this run's prompts); `relay/<connector>/DONE` marks the end."""
    if relay is None:
        yield LanePlanner()
        return
    folder = relay / connector
    try:
        with tempfile.TemporaryDirectory(prefix="cartridge-brownfield-llm-") as scratch:
            recorded = RecordedModel(Path(scratch), folder)
            with recorded_llm(recorded) as model:
                yield LanePlanner(model.planner, model.repairer, recorded)
    finally:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "DONE").touch()  # the reader stops waiting for requests


def run_lane(
    dataset: Path, server: LocalPostgres, folder: Path, schema: str, relay: Path | None = None
) -> LaneRow:
    """Build the connector's fixture project on the loaded raw schema, generate the other tables into it, count."""
    started = time.perf_counter()
    row = LaneRow(dataset.name)
    project = folder / f"brownfield_{dataset.name}"
    shutil.rmtree(project, ignore_errors=True)
    new_project(project, f"{dataset.name}_brownfield", server, threads=2)
    shutil.copytree(FIXTURES / dataset.name / "models", project / "models")
    built = DbtProject(project, project).build()
    row.fixture_build = built.success
    if not built.success:
        row.error = f"the fixture project does not build: {one_line(built.error_text())}"
        return row
    before = _files(project)
    relations = _relation_columns(server, "analytics")
    existing_marts = {
        Path(p).stem: relations.get(Path(p).stem, []) for p in before if p.endswith(".sql") and "/marts/" in p
    }
    row.stale_planted = stale_columns(before, relations)
    options = ProjectOptions(
        project_dir=project, profiles_dir=project, schemas=[schema], source_name=dataset.name
    )
    with lane_planner(dataset.name, relay) as chosen:
        try:
            report = generate(options, SilentProgress(), planner=chosen.planner, repairer=chosen.repairer)
        except CartridgeError as failure:
            row.error = one_line(str(failure))
        finally:
            row.llm_calls = chosen.recorded.relayed if chosen.recorded else 0
    if row.error:
        row.seconds = time.perf_counter() - started
        return row
    after = _files(project)
    written = {p: t for p, t in after.items() if before.get(p) != t}
    row.written = sorted(written)
    row.build = bool(report.build and report.build.success)
    row.stale_reported = list(report.stale_docs)
    row.reused = reused_descriptions(before, written, after)
    row.style = style_mismatches(written, after)
    row.units = unit_mismatches(before, written, report)
    row.mixed_units = mixed_units(written)
    new_marts = [a.name for a in report.plan.actions if a.type == "create_mart"]
    row.copies, row.denormalised = mart_copies(
        existing_marts,
        mart_keys(before),
        new_marts,
        _relation_columns(server, "analytics"),
        one_row_per_key(server, "analytics"),
    )
    row.seconds = time.perf_counter() - started
    return row


def print_lane(rows: list[LaneRow], planner: str = "rules planner") -> None:
    """One block per connector: the build, the stale documentation, and the four counts that must be 0."""
    print(f"brownfield: a hand-written project per connector, then `generate` ({planner}) into it")
    for row in rows:
        calls = f", {row.llm_calls} LLM requests relayed" if row.llm_calls else ""
        print(f"== {row.dataset} (brownfield): {row.seconds:.1f} s{calls}")
        if row.error:
            print(f"   generate failed: {row.error}")
            continue
        print(
            f"   fixture build {'passed' if row.fixture_build else 'failed'}; after generate: build "
            f"{'passed' if row.build else 'failed'}, {len(row.written)} files written or changed"
        )
        print(
            f"   stale documentation: {len(row.stale_planted)} planted ({', '.join(row.stale_planted)}), "
            f"{len(row.stale_reported)} reported by cartridge, {len(row.stale_missed)} missed"
        )
        for title, found in (
            ("descriptions reused across unrelated tables", row.reused),
            ("style mismatches in written files", row.style),
            ("unit mismatches landed", row.units),
            ("copies of existing marts", row.copies),
        ):
            print(f"   {title}: {len(found)}")
            for finding in found:
                print(f"     {finding}")
        if row.denormalised:
            print(
                f"   new marts at another grain holding half an existing mart's columns: {len(row.denormalised)}"
            )
            for finding in row.denormalised:
                print(f"     {finding}")
        if row.mixed_units:
            print(
                f"   new staging models mixing units (a column / 100 beside undivided amounts): {len(row.mixed_units)}"
            )
            for finding in row.mixed_units:
                print(f"     {finding}")
