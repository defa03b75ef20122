"""LLM path benchmark: latency (50 synthetic tables, 1 s per answer) and quality (a connector's tables, built).

    python bench/bench_llm.py [latency|quality] [--dataset zuora] [--answers DIR [--relay RELAY]]
                              [--without-intermediates] [--batch-tokens N]

Without a run named, both run. The quality run is bench/llm_quality.py: calls, tokens, re-asks, repairs
and the build's result of `generate` on real connector data, answered by recorded answers (`--answers`,
served by bench/llm_recorded.py; `--relay` records what is missing) or a deterministic answerer.

Latency: the same plan twice in one run: with `--concurrency 8` and with 1. A local OpenAI-compatible server
(tests/openai_server.py) answers every request after LATENCY seconds with what a well-behaved model
would say (the rules planner's drafts in the answer formats, tests/llm_answers.py); the real client
(litellm, retries, ledger) is used, the cache is off. Printed: calls, wall time, the ratio of the
sequential run to the concurrent one, and two lower bounds for the concurrent run: the critical path
(the depth of the call graph × one call's latency) and the throughput bound (calls / concurrency ×
latency); the run is compared with the larger of the two. Then what the requests carried: their bytes
(messages and response_format, as litellm sent them) and how many copies of the answer's schema each held.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from llm_answers import openai_mirror  # noqa: E402
from openai_server import Delay, ScriptedOpenAIServer  # noqa: E402

from bench.bench_plan import synthetic_facts  # noqa: E402
from cartridge_bridge.config import Conventions  # noqa: E402
from cartridge_bridge.context.project_context import ProjectContext, build_context  # noqa: E402
from cartridge_bridge.gather.manifest import Manifest, Metadata  # noqa: E402
from cartridge_bridge.planning.llm.chat import LLMSettings, UsageLedger  # noqa: E402
from cartridge_bridge.planning.llm.client import LiteLLMChat  # noqa: E402
from cartridge_bridge.planning.llm.planner import LLMPlanner  # noqa: E402
from cartridge_bridge.planning.plan import model_inputs  # noqa: E402
from cartridge_bridge.planning.rules.planner import RulesPlanner  # noqa: E402

TABLES, COLUMNS, CONCURRENCY = 50, 8, 8
LATENCY = float(
    os.environ.get("CARTRIDGE_BENCH_LATENCY", "1.0")
)  # seconds per answer; lower for a quick look


def call_depth(context: ProjectContext) -> int:
    """Calls one after the other on the longest path: the outline, each spec level, then tests and docs."""
    drafts = {m.name: m for m in RulesPlanner().draft(context).models}
    level: dict[str, int] = {}
    for name, draft in drafts.items():  # drafts come in dependency order
        level[name] = 1 + max((level[i] for i in model_inputs(draft.spec) if i in level), default=0)
    return 1 + max(level.values()) + 1


def plan_once(context: ProjectContext, base_url: str, concurrency: int) -> tuple[float, int]:
    """Seconds and calls for one LLM plan of the context."""
    settings = LLMSettings(
        model="openai/scripted-model",
        api_base=base_url,
        concurrency=concurrency,
        cache=False,
        timeout_seconds=60,
    )
    ledger = UsageLedger()
    planner = LLMPlanner(LiteLLMChat(settings, ledger), settings)
    started = time.perf_counter()
    planner.draft(context)
    return time.perf_counter() - started, sum(u.calls for u in ledger.phases.values())


def latency() -> None:
    """Run the concurrent and the sequential plan and print the figures."""
    import bench.bench_plan as shape

    shape.TABLES, shape.COLUMNS = TABLES, COLUMNS
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "dbt_project.yml").write_text("name: shop\n", encoding="utf-8")
        manifest = Manifest(metadata=Metadata(project_name="shop"))
        context = build_context(project, manifest, synthetic_facts(), Conventions())
    answer = openai_mirror(context)

    def slow(body: dict[str, Any]) -> Delay:
        return Delay(LATENCY, answer(body))

    with ScriptedOpenAIServer(responder=slow) as server:
        concurrent, calls = plan_once(context, server.base_url, CONCURRENCY)
        bodies = [r.json or {} for r in server.chat_requests]
        sequential, _ = plan_once(context, server.base_url, 1)
    depth = call_depth(context)
    critical = depth * LATENCY
    throughput = calls / CONCURRENCY * LATENCY
    bound = max(critical, throughput)
    print(
        f"llm: {TABLES} raw tables, {calls} calls, {LATENCY:g} s per answer, local OpenAI-compatible server"
    )
    print(f"  concurrency {CONCURRENCY:<3} {concurrent:8.1f} s")
    print(f"  concurrency 1   {sequential:8.1f} s   {sequential / concurrent:5.1f}x slower   target >= 6x: "
          f"{'ok' if sequential / concurrent >= 6 else 'MISSED'}")  # fmt: skip
    print(f"  critical path   {critical:8.1f} s   ({depth} calls deep)")
    print(f"  throughput bound {throughput:7.1f} s   ({calls} calls / {CONCURRENCY})")
    print(f"  concurrent run / larger bound {concurrent / bound:5.2f}x   target <= 1.3x: "
          f"{'ok' if concurrent / bound <= 1.3 else 'MISSED'}")  # fmt: skip
    sent = sum(
        len(json.dumps(b.get("messages"))) + len(json.dumps(b.get("response_format") or {})) for b in bodies
    )
    copies = max(_schema_copies(b) for b in bodies)
    print(f"  requests sent   {sent / 1000:8.0f} kB   ({sent / len(bodies) / 1000:.1f} kB a call; "
          f"at most {copies} cop{'y' if copies == 1 else 'ies'} of the answer's schema in one)")  # fmt: skip


def _schema_copies(body: dict[str, Any]) -> int:
    """How many times a request carries its answer's JSON schema: in response_format, and in its messages."""
    response_format = body.get("response_format") or {}
    schema = response_format.get("json_schema", {}).get("schema")
    in_format = int(schema is not None)
    if schema is None:  # the schema went in the prompt: count it by its properties, as the client writes it
        return sum(m["content"].count('"properties":{') for m in body.get("messages", []))
    text = json.dumps(schema, separators=(",", ":"))
    return in_format + sum(m["content"].count(text) for m in body.get("messages", []))


def main() -> None:
    """The runs named on the command line (both by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", choices=["latency", "quality", []], default=[])
    parser.add_argument("--dataset", default="zuora", help="a connector of ../shared/datasets/fivetran")
    parser.add_argument(
        "--answers", type=Path, help="quality: a folder of recorded answers (bench/llm_recorded.py)"
    )
    parser.add_argument(
        "--relay", type=Path, help="quality: a relay folder that answers what is not recorded"
    )
    parser.add_argument(
        "--batch-tokens", type=int, help="quality: llm_batch_tokens in the project's cartridge.yml"
    )
    parser.add_argument(
        "--without-intermediates",
        action="store_true",
        help="quality: answer with a plan of staging and marts only",
    )
    args = parser.parse_args()
    runs = args.runs or ["latency", "quality"]
    if "latency" in runs:
        latency()
    if "quality" in runs:
        from bench.llm_quality import run_quality

        run_quality(args.dataset, args.answers, args.relay, not args.without_intermediates, args.batch_tokens)


if __name__ == "__main__":
    main()
