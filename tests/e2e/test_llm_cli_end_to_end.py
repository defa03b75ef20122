"""`cartridge generate --model openai/<name> --api-base http://127.0.0.1:<port>/v1` end to end, through litellm.

A local server that speaks OpenAI's chat API answers every request of the LLM planner the way a
well-behaved model would (the rules planner's drafts, in the answer formats: tests/llm_answers.py).
The real CLI, the real litellm call path and real dbt builds: the demo's shop on PostgreSQL and a
brownfield fixture on DuckDB. The server records every request; the tests read them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llm_answers import PHASE_OF_ANSWER, SCHEMA_NAME, openai_mirror
from openai_server import ScriptedOpenAIServer
from support import data_tests_in_run_results, load_demo_shop, postgres_output, snapshot_tree, write_project

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.demo.local_postgres import LocalPostgres
from cartridge_bridge.demo.shop_data import shop_tables
from cartridge_bridge.gather.dbt_runner import DbtProject

BIN = Path(sys.executable).parent
CANARY = "sk-canary-3b9f1c7e0d2a4c5e8f6a"


def context_of(project: Path, schema: str, source_name: str) -> ProjectContext:
    """The project's context, computed in another process (dbt-duckdb keeps its file open in-process)."""
    script = (
        "import sys; from pathlib import Path\n"
        "from cartridge_bridge.api import ProjectOptions, load_context\n"
        "from cartridge_bridge.progress import SilentProgress\n"
        "p = Path(sys.argv[1])\n"
        "_, c = load_context(ProjectOptions(project_dir=p, profiles_dir=p, schemas=[sys.argv[2]],"
        " source_name=sys.argv[3]), SilentProgress())\n"
        # The relevant slice's entries do not serialize their signal; the rules mirror does not read the slice.
        "print(c.model_copy(update={'relevant': None}).model_dump_json())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(project), schema, source_name],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return ProjectContext.model_validate_json(done.stdout.strip().splitlines()[-1])


def cartridge(*args: str, api_base: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": CANARY, "COLUMNS": "200"}
    env.pop("CARTRIDGE_MODEL", None)
    return subprocess.run(
        [str(BIN / "cartridge"), *args, "--model", "openai/scripted-model", "--api-base", api_base],
        capture_output=True, text=True, timeout=900, env=env, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def shop_template(
    tmp_path_factory: pytest.TempPathFactory, pg_server: LocalPostgres
) -> tuple[Path, ProjectContext]:
    """The demo's raw shop in schema llm_raw, a new project over it with cartridge installed, and its context.

    Loaded and read once for the module: the tests only read llm_raw, and each works in its own copy.
    """
    load_demo_shop(pg_server, "llm_raw")
    directory = tmp_path_factory.mktemp("llm_shop")
    project = write_project(directory / "shop", "shop", postgres_output(pg_server, "llm_analytics"))
    DbtProject(project, project).deps()
    context = context_of(project, "llm_raw", "shop")
    return project, context


@pytest.fixture
def shop_project(tmp_path: Path, shop_template: tuple[Path, ProjectContext]) -> Path:
    """A copy of the template project as `dbt deps` left it (dbt's target/ and logs/ left behind)."""
    copy = tmp_path / "shop"
    shutil.copytree(shop_template[0], copy, symlinks=True, ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def test_generate_with_a_model_builds_the_demo_shop_green(
    shop_project: Path, shop_template: tuple[Path, ProjectContext]
) -> None:
    context = shop_template[1]
    with ScriptedOpenAIServer(responder=openai_mirror(context)) as server:
        where = ["--project-dir", str(shop_project), "--profiles-dir", str(shop_project)]
        started = time.perf_counter()
        result = cartridge(
            "generate", *where, "--schema", "llm_raw", "--source-name", "shop", api_base=server.base_url
        )
        wall = time.perf_counter() - started
        requests = server.chat_requests
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dbt build passed" in result.stdout
    assert "LLM usage" in result.stdout and "re-asks" in result.stdout
    # The summary's numbers are dbt's and the clock's: the tests that ran by kind, stages within the total,
    # and a total that is the command's (planning included), within the process's wall time.
    ran = re.search(r"^(\d+) data tests ran \((\d+) column, (\d+) model\)", result.stdout, re.M)
    assert ran is not None, result.stdout
    on_columns, on_models = data_tests_in_run_results(shop_project)
    assert tuple(map(int, ran.groups())) == (on_columns + on_models, on_columns, on_models)
    stages = re.search(r"^Time by stage: (.*)\.$", result.stdout, re.M)
    done = re.search(r"^Done in ([\d.]+) s\.$", result.stdout, re.M)
    assert stages is not None and done is not None, result.stdout
    seconds = {p.split()[0]: float(p.split()[1]) for p in stages.group(1).split(", ")}
    assert list(seconds) == ["gather", "context", "plan", "write", "parse", "build", "other"]
    assert sum(seconds.values()) == pytest.approx(float(done.group(1)), abs=0.5)  # each rounded to 0.1 s
    assert float(done.group(1)) <= wall
    # From the process's start (Linux tells it) to the count: only the output and the exit come after it.
    assert float(done.group(1)) >= wall - 1.5
    # The schema went once per request, in response_format (auto, for an OpenAI-compatible server).
    assert all(r.json and r.json["response_format"]["type"] == "json_schema" for r in requests)
    assert (shop_project / "models/marts/fct_orders.sql").is_file()
    bodies = [json.dumps(r.json) for r in requests]
    phases = [PHASE_OF_ANSWER[m.group(1)] for b in bodies if (m := SCHEMA_NAME.search(b))]
    assert phases[0] == "plan" and {"staging", "intermediate", "mart", "docs_tests"} <= set(phases)
    # No row value leaves the machine without --share-samples: the shop's first customer's email is in no request.
    customers = next(t for t in shop_tables(scale=0.2) if t.name == "customers")
    email = customers.rows[0][[c.name for c in customers.columns].index("email")]
    assert isinstance(email, str) and "@" in email
    assert not any(email in b for b in bodies)
    # The key went where the provider needs it, and nowhere else.
    assert all(r.headers.get("authorization") == f"Bearer {CANARY}" for r in requests)
    assert not any(CANARY in b for b in bodies)
    assert CANARY not in result.stdout + result.stderr
    files = snapshot_tree(shop_project) | {
        str(p): p.read_bytes() for p in (shop_project / ".cartridge").rglob("*") if p.is_file()
    }
    assert not [path for path, data in files.items() if CANARY.encode() in data]


def test_a_second_run_is_answered_from_the_cache(
    shop_project: Path, shop_template: tuple[Path, ProjectContext]
) -> None:
    context = shop_template[1]
    where = ["--project-dir", str(shop_project), "--profiles-dir", str(shop_project), "--schema", "llm_raw"]
    where += ["--source-name", "shop", "--format", "json", "--llm-structured-output", "json_object"]
    with ScriptedOpenAIServer(responder=openai_mirror(context)) as server:
        first = cartridge("plan", *where, api_base=server.base_url)
        asked = len(server.chat_requests)
        again = cartridge("plan", *where, api_base=server.base_url)
        assert len(server.chat_requests) == asked  # every accepted answer came from .cartridge/llm-cache
        bodies = [r.json or {} for r in server.chat_requests]
    # The flag reached the client: JSON mode, the schema once, in the system message.
    assert all(b["response_format"] == {"type": "json_object"} for b in bodies)
    assert all(sum('"properties"' in m["content"] for m in b["messages"]) == 1 for b in bodies)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert first.stdout == again.stdout
    assert json.loads(first.stdout)["planner"] == "llm:openai/scripted-model"


def test_generate_with_a_model_in_a_brownfield_project(tmp_path: Path) -> None:
    from test_brownfield_conventions import BILLING, _fixture_project

    project = _fixture_project(tmp_path, "classic_style", BILLING)
    context = context_of(project, "raw_billing", "billing")
    assert context.strategy == "brownfield"
    before = snapshot_tree(project)
    with ScriptedOpenAIServer(responder=openai_mirror(context)) as server:
        where = ["--project-dir", str(project), "--profiles-dir", str(project)]
        result = cartridge(
            "generate",
            *where,
            "--schema",
            "raw_billing",
            "--source-name",
            "billing",
            api_base=server.base_url,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dbt build passed" in result.stdout
    created = sorted(set(snapshot_tree(project)) - set(before))
    assert any(path.endswith("stg_billing__invoices.sql") or "invoices" in path for path in created), created
