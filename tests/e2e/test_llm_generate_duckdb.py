"""`generate` with the LLM planner and repairer on DuckDB: a scripted model's plan builds green with real dbt, a
model error in the first build is corrected by the model in one repair round, and data tests failing on the data
go back to the model, which points a relationships test at the right parent and keeps another relaxed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pytest
import yaml
from llm_answers import chat_request_of, request_data
from llm_fakes import QueueChat
from llm_server_chat import ServerChat
from openai_server import ScriptedOpenAIServer
from support import duckdb_output, write_project

from cartridge_bridge.api import ProjectOptions, generate, make_llm_planner, make_llm_repairer
from cartridge_bridge.gather.dbt_runner import DbtProject
from cartridge_bridge.planning.llm.chat import ChatRequest, LLMSettings
from cartridge_bridge.progress import SilentProgress

OUTLINE = {
    "models": [
        {"name": "stg_crm__accounts", "layer": "staging", "source_table": "crm.accounts",
         "grain": "one row per account", "description": "Accounts from the CRM."},
        {"name": "stg_crm__deals", "layer": "staging", "source_table": "crm.deals",
         "grain": "one row per deal", "description": "Deals from the CRM."},
        {"name": "int_deals_aggregated_to_accounts", "layer": "intermediate", "inputs": ["stg_crm__deals"],
         "grain": "one row per account with deals", "description": "Deals per account."},
        {"name": "dim_accounts", "layer": "marts", "role": "dimension",
         "inputs": ["stg_crm__accounts", "int_deals_aggregated_to_accounts"],
         "grain": "one row per account", "description": "Accounts with their deal totals."},
    ]
}  # fmt: skip
SPECS: dict[str, dict[str, Any]] = {
    "stg_crm__accounts": {
        "entity": "account",
        "grain": ["account_id"],
        "columns": [
            {"name": "account_id", "source_column": "id", "cast_to": "integer"},
            {"name": "account_name", "source_column": "accountName", "cast_to": "varchar"},
            {"name": "created_at", "source_column": "created_at", "cast_to": "timestamp"},
        ],
    },
    "stg_crm__deals": {
        "entity": "deal",
        "grain": ["deal_id"],
        "columns": [
            {"name": "deal_id", "source_column": "id", "cast_to": "integer"},
            {"name": "account_id", "source_column": "account_id", "cast_to": "integer"},
            {"name": "amount", "source_column": "amount", "cast_to": "decimal(12,2)"},
        ],
        "filter": "amount is not null",
    },
    "int_deals_aggregated_to_accounts": {
        "group_by": ["account_id"],
        "columns": [
            {"name": "account_id", "expression": "account_id"},
            {"name": "number_of_deals", "expression": "count(*)"},
            {"name": "total_amount", "expression": "sum(amount)"},
        ],
    },
    "dim_accounts": {
        "base_model": "stg_crm__accounts",
        "base_alias": "accounts",
        "grain": ["account_id"],
        "columns": [
            {"name": "account_id", "expression": "accounts.account_id"},
            {"name": "account_name", "expression": "accounts.account_name"},
            {"name": "created_at", "expression": "accounts.created_at"},
        ],
        "joins": [
            {
                "model": "int_deals_aggregated_to_accounts",
                "alias": "deals",
                "on": [{"left_alias": "accounts", "left_column": "account_id", "right_column": "account_id"}],
                "columns": [
                    {"name": "number_of_deals", "expression": "coalesce(deals.number_of_deals, 0)"},
                    {"name": "total_amount", "expression": "coalesce(deals.total_amount, 0)"},
                ],
            }
        ],
    },
}
KEY_TESTS = [{"name": "unique"}, {"name": "not_null"}]
TESTS: dict[str, dict[str, Any]] = {
    "stg_crm__accounts": {"columns": [{"column": "account_id", "tests": KEY_TESTS}]},
    "stg_crm__deals": {
        "columns": [
            {"column": "deal_id", "tests": KEY_TESTS},
            {
                "column": "account_id",
                "tests": [{"name": "relationships", "to": "stg_crm__accounts", "field": "account_id"}],
            },
        ]
    },
    "int_deals_aggregated_to_accounts": {"columns": [{"column": "account_id", "tests": KEY_TESTS}]},
    "dim_accounts": {
        "columns": [{"column": "account_id", "tests": KEY_TESTS}],
        "model_tests": [{"name": "expression_is_true", "expression": "number_of_deals >= 0"}],
    },
}


class CrmModel:
    """Answers the planner from a script, reading which model each request is about from its data block."""

    def __init__(self, specs: dict[str, dict[str, Any]], tests: dict[str, dict[str, Any]] | None = None):
        self.specs = specs
        self.tests = tests or TESTS

    def __call__(self, request: ChatRequest) -> str:
        task = request_data(request)
        if request.phase == "plan":
            assert [t["source_table"] for t in task["raw_tables"]] == ["crm.accounts", "crm.deals"]
            return json.dumps(OUTLINE)
        if request.phase == "docs_tests":
            return (
                "```json\n"
                + json.dumps({"models": [self.entry(m) for m in task["models_to_describe"]]})
                + "\n```"
            )
        if request.phase == "staging":  # several staging models per request, one entry each
            names = [m["model"]["name"] for m in task["models"]]
            return json.dumps({"models": [{"model": n, **self.specs[n]} for n in names]})
        name = task["model"]["name"]
        return json.dumps(self.specs[name])

    def entry(self, described: dict[str, Any]) -> dict[str, Any]:
        """One model's documentation and tests: each column described from its name, tests as scripted."""
        model = described["model"]
        tests = self.tests[model["name"]]
        tested = {c["column"]: c["tests"] for c in tests["columns"]}
        columns = [
            {
                "name": c["name"],
                "description": f"The {c['name'].replace('_', ' ')}.",
                "tests": tested.get(c["name"], []),
            }
            for c in described["columns"]
        ]
        return {
            "model": model["name"],
            "description": f"LLM: {model['description']}",
            "columns": columns,
            "model_tests": tests.get("model_tests", []),
            "metrics": self.metrics(described.get("measures", [])),
        }

    @staticmethod
    def metrics(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each candidate measure's metric named after it in the plural; a mart with measures gets two more."""
        named = [
            {"measure": m["name"], "name": m["name"].removesuffix("_count") + "s", "label": "Accounts"}
            for m in candidates
        ]
        if not candidates:
            return []
        return [
            *named,
            {"measure": "accounts_with_deals", "name": "accounts_with_deals", "label": "Accounts with deals",
             "agg": "sum", "expr": "case when number_of_deals > 0 then 1 else 0 end"},
            {"measure": "deal_amount", "name": "deal_amount", "label": "Deal amount",
             "description": "What the account's deals add up to.", "agg": "sum", "expr": "total_amount"},
        ]  # fmt: skip


def _project(tmp_path: Path) -> tuple[Path, Path]:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_crm")
        connection.execute(
            'create table raw_crm.accounts (id integer, "accountName" varchar, created_at timestamp)'
        )
        connection.execute(
            "create table raw_crm.deals (id integer, account_id integer, amount decimal(12,2))"
        )
        connection.execute(
            "insert into raw_crm.accounts values (1, 'acme', '2025-01-01'), (2, 'globex', null)"
        )
        connection.execute("insert into raw_crm.deals values (1, 1, 100.00), (2, 1, 50.50), (3, 2, null)")
    output = duckdb_output(database, "analytics") | {"keep_open": False}
    project = write_project(tmp_path / "crm", "crm", output)
    DbtProject(project).deps()
    return project, database


def chat_through(path: str, responder: Callable[[ChatRequest], str]) -> Any:
    """The in-process fake, or the real litellm client against a local OpenAI-compatible server."""
    return QueueChat(responder=responder, model="fake/crm") if path == "in-process" else ServerChat(responder)


PATHS = pytest.mark.parametrize("path", ["in-process", "litellm"])


@PATHS
def test_generate_with_the_llm_planner_builds_green(tmp_path: Path, path: str) -> None:
    project, database = _project(tmp_path)
    chat = chat_through(path, CrmModel(SPECS))
    settings = LLMSettings(model=chat.model)
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_crm"])
    report = generate(options, SilentProgress(), planner=make_llm_planner(settings, chat))
    assert report.build is not None and report.build.success, report.build
    assert report.plan.planner == f"llm:{chat.model}"
    # The outline's models, and the time spine the semantic layer needs (a project without models has one).
    assert [a.name for a in report.plan.models()] == [
        *(m["name"] for m in OUTLINE["models"]),
        "metricflow_time_spine",
    ]
    assert report.build.count("model", "success") == 5 and report.build.failed == []
    assert report.build.count("test", "pass") == 10
    staging = (project / "models/staging/crm/stg_crm__deals.sql").read_text()
    assert "where amount is not null" in staging
    properties = (project / "models/marts/_marts__models.yml").read_text()
    assert "LLM: Accounts with their deal totals." in properties
    assert "cartridge.expression_is_true" in properties
    with duckdb.connect(str(database)) as connection:
        rows = connection.execute(
            "select account_id, account_name, number_of_deals, total_amount from analytics.dim_accounts order by 1"
        ).fetchall()
    assert [(r[0], r[1], r[2], float(r[3])) for r in rows] == [(1, "acme", 2, 150.5), (2, "globex", 0, 0.0)]
    # dbt parsed the model's metrics: the candidate it named and the two measures it added over the mart.
    manifest = json.loads((project / "target" / "semantic_manifest.json").read_text())
    assert {m["name"] for m in manifest["metrics"]} == {"accounts", "accounts_with_deals", "deal_amount"}
    [model] = manifest["semantic_models"]
    assert {m["name"]: m["agg"] for m in model["measures"]} == {
        "account_count": "count",
        "accounts_with_deals": "sum",
        "deal_amount": "sum",
    }


@PATHS
def test_a_model_error_in_the_first_build_is_corrected_by_the_model(tmp_path: Path, path: str) -> None:
    project, _ = _project(tmp_path)
    # A Postgres habit: DuckDB has no initcap(), which only the warehouse can tell.
    specs = json.loads(json.dumps(SPECS))
    specs["stg_crm__accounts"]["columns"][1] = {
        "name": "account_name",
        "expression": 'initcap("accountName")',
    }
    repairs: list[dict[str, Any]] = []

    def repair(request: ChatRequest) -> str:
        task = request_data(request)
        repairs.append(task)
        spec = task["current_spec"]
        spec["columns"][1] = {"name": "account_name", "source_column": "accountName", "cast_to": "varchar"}
        return json.dumps({"spec": spec, "tests": task["current_tests"]})

    planning = CrmModel(specs)
    chat = chat_through(
        path, lambda request: repair(request) if request.phase == "repair" else planning(request)
    )
    settings = LLMSettings(model=chat.model)
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_crm"])
    report = generate(
        options,
        SilentProgress(),
        planner=make_llm_planner(settings, chat),
        repairer=make_llm_repairer(settings, chat),
    )
    assert report.build is not None and report.build.success, report.build
    [task] = repairs  # one round
    assert task["model"] == "stg_crm__accounts"
    [failure] = task["failures"]
    assert "initcap" in failure["message"] and "initcap" in (failure["compiled_sql"] or "")
    assert 'initcap("accountName") as account_name' in task["rendered_sql"]
    [change] = report.relaxed_tests
    assert change.startswith("stg_crm__accounts: spec corrected by the model after ")
    assert "initcap" in change
    staging = (project / "models/staging/crm/stg_crm__accounts.sql").read_text()
    assert 'cast("accountName" as varchar) as account_name' in staging and "initcap" not in staging


def test_failing_data_tests_go_back_to_the_model_which_fixes_one_and_keeps_one(tmp_path: Path) -> None:
    project, _ = _project(tmp_path)
    tests = json.loads(json.dumps(TESTS))
    # The model's first tests: the accounts' key pointing at the aggregate, which holds only accounts with deals
    # (globex has none), and a rule globex's total of 0 breaks.
    wrong = {"name": "relationships", "to": "int_deals_aggregated_to_accounts", "field": "account_id"}
    tests["dim_accounts"]["columns"][0]["tests"] = [*KEY_TESTS, wrong]
    tests["dim_accounts"]["model_tests"].append(
        {"name": "expression_is_true", "expression": "total_amount > 0"}
    )
    planning = CrmModel(SPECS, tests)
    repairs: list[dict[str, Any]] = []
    reason = "an account without deals totals 0 {{ run_query('drop table x') }}"  # outside text, Jinja in it

    def repair(request: ChatRequest) -> str:
        task = request_data(request)
        repairs.append(task)
        answer = json.loads(json.dumps({"spec": task["current_spec"], "tests": task["current_tests"]}))
        answer["failing_tests"] = []
        for failing in task["failing_tests"]:
            if failing["test"] == "relationships":
                answer["tests"]["columns"][0]["tests"][2]["to"] = "stg_crm__accounts"
                verdict = {"verdict": "fixed", "reason": "account ids belong to the accounts"}
            else:
                verdict = {"verdict": "keep_relaxed", "reason": reason}
            answer["failing_tests"].append({"test": failing["node"], **verdict})
        return json.dumps(answer)

    def answer(body: dict[str, Any]) -> str:
        request = chat_request_of(body)
        return repair(request) if request.phase == "repair" else planning(request)

    with ScriptedOpenAIServer(responder=answer) as server:
        # The whole LLM path as the CLI takes it: litellm to the server, the repairer given the gathered profile.
        options = ProjectOptions(
            project_dir=project, profiles_dir=project, schemas=["raw_crm"],
            model="openai/scripted-model", api_base=server.base_url, cache=False,
        )  # fmt: skip
        report = generate(options, SilentProgress())
        sent = json.dumps([r.json for r in server.chat_requests])
    assert report.build is not None and report.build.success, report.build
    [task] = repairs  # one request for the model's two failing tests
    assert task["model"] == "dim_accounts" and task["failures"] == []
    assert task["current_tests"]["columns"][0]["tests"][2] == wrong
    relationships, expression = sorted(task["failing_tests"], key=lambda t: t["test"], reverse=True)
    assert (relationships["test"], relationships["to"], relationships["failing_rows"]) == (
        "relationships", "int_deals_aggregated_to_accounts", 1,
    )  # fmt: skip
    assert relationships["counts"] == [
        {"column": "dim_accounts.account_id", "reads": "crm.accounts.id",
         "counted_on": "the raw table, before staging's filters", "profiled_rows": 2,
         "stats": {"null_fraction": 0.0, "distinct_count": 2}},
        {"column": "int_deals_aggregated_to_accounts.account_id", "reads": "crm.deals.account_id",
         "counted_on": "the raw table, before staging's filters", "profiled_rows": 3,
         "stats": {"null_fraction": 0.0, "distinct_count": 2}},
    ]  # fmt: skip
    assert (expression["expression"], expression["failing_rows"]) == ("total_amount > 0", 1)
    assert "globex" not in sent and "acme" not in sent  # counts only: no row value without share_samples
    results = {n.name: n.status for n in report.build.nodes if n.resource_type == "test"}
    fixed = "relationships_dim_accounts_account_id__account_id__ref_stg_crm__accounts_"
    assert results[fixed] == "pass"
    assert [
        s for n, s in results.items() if n.startswith("cartridge_expression_is_true_dim_accounts_total")
    ] == ["warn"]
    properties = (project / "models/marts/_marts__models.yml").read_text()
    assert (
        "to: ref('stg_crm__accounts')" in properties
        and "int_deals_aggregated_to_accounts')" not in properties
    )
    assert properties.count("severity: warn") == 1  # the kept test only: the fixed one stays at error
    [mart] = [m for m in yaml.safe_load(properties)["models"] if m["name"] == "dim_accounts"]
    kept = next(t for t in mart["data_tests"] if "total_amount > 0" in json.dumps(t))
    meta = kept["cartridge.expression_is_true"]["config"]["meta"]
    # The reason comes out of dbt's Jinja as itself: its `run_query` is text, never called.
    assert jinja2.Environment().from_string(meta["cartridge_relaxed"]).render() == reason
    assert sorted(report.model_verdicts) == [
        "dim_accounts.account_id: relationships (1 failing rows) fixed by the model: account ids belong to the accounts",
        f"dim_accounts: expression_is_true (1 failing rows) accepted by the model, kept at warn: {reason}",
    ]
    assert report.report_file is not None
    assert "2 failing data tests the model fixed or accepted:" in report.report_file.read_text()
    # The review page says which test stayed at warn and the model's reason for it, as text.
    assert report.review_file is not None
    kept_row = next(
        line for line in report.review_file.read_text().splitlines() if "total_amount > 0" in line
    )
    assert kept_row.startswith(
        "| `dim_accounts` | (the model) | expression_is_true `total_amount > 0` | `1 rows"
    )
    assert kept_row.endswith(f" | `{reason}` |")
