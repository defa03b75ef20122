"""LLM quality run: one connector's raw tables through `generate` with a model behind a local OpenAI server.

The connector's seeds (../shared/datasets/fivetran/<name>, zuora by default) are loaded into an embedded
PostgreSQL as bench/quality.py loads them; `generate` then plans through litellm against
tests/openai_server.py, writes and builds with dbt. The server answers each request

- with `--answers DIR`, from a capable model's recorded answers: `DIR/<sha256 of the request>.txt`, as
  bench/llm_recorded.py serves them to the business-answers bench; a request with none (the prompts
  changed) is refused and counted, or, with `--relay RELAY`, handed to a reader through
  ../shared/tools/llm_relay.py's folder protocol and its answer kept in DIR: a run with a relay
  records or refreshes a recording;
- without `--answers`, with the deterministic answerer: the rules planner's drafts in the answer formats
  (tests/llm_answers.py), a model that gets everything right the first time. The rules plan a model for
  every child-to-parent aggregate (86 models on zuora); `--without-intermediates` leaves those out (the
  marts keep their other joins), an outline the size a capable model gave on zuora (31 models).

Each answer's usage counts the request's tokens as litellm's tokenizer does (messages and any
response_format) and the answer's, so the figures are those a provider would bill. Printed: calls,
tokens in and out and re-asks per phase, repairs, and the build's result.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_answers import RulesMirror, chat_request_of, outline_of
from openai_server import Answer, Entry, ScriptedOpenAIServer

from bench.llm_recorded import RecordedModel
from bench.postgres_project import new_project
from bench.quality import DATASETS, load
from cartridge_bridge.api import ApplyReport, ProjectOptions, generate, load_context
from cartridge_bridge.demo.local_postgres import start_postgres, stop_postgres
from cartridge_bridge.errors import CartridgeError, one_line
from cartridge_bridge.planning.plan import MartSpec, output_columns
from cartridge_bridge.progress import SilentProgress

MODEL = "openai/scripted-model"
TOKENIZER = "gpt-4o"  # any model litellm has a local tokenizer for: the counts, not the price, matter here


@dataclass
class Answerer:
    """Answers a request body from the recording, or as the rules mirror without one; usage counted in tokens."""

    mirror: Callable[[dict[str, Any]], str]
    recorded: RecordedModel | None

    def __call__(self, body: dict[str, Any]) -> Entry:
        entry: Entry = self.recorded.answer(body) if self.recorded else self.mirror(body)
        if not isinstance(entry, str):  # no recorded answer: the refusal, as it is
            return entry
        return Answer(entry, prompt_tokens=prompt_tokens(body), completion_tokens=count_tokens(entry))


def prompt_tokens(body: dict[str, Any]) -> int:
    """The request's input tokens: its messages, and the schema when it went as response_format."""
    import litellm

    tokens = int(litellm.token_counter(model=TOKENIZER, messages=body["messages"]))
    if "response_format" in body:
        tokens += count_tokens(json.dumps(body["response_format"]))
    return tokens


def count_tokens(text: str) -> int:
    """Tokens of a text as litellm's tokenizer counts them."""
    import litellm

    return int(litellm.token_counter(model=TOKENIZER, text=text))


def without_intermediates(mirror: RulesMirror) -> RulesMirror:
    """The mirror's plan without intermediate models: marts lose the joins on them and the tests of their columns."""
    dropped = {n for n, d in mirror.drafts.items() if d.layer == "intermediate"}
    kept = {}
    for name, draft in mirror.drafts.items():
        if name in dropped:
            continue
        spec = draft.spec
        if isinstance(spec, MartSpec):
            gone = {c.name for j in spec.joins if j.model in dropped for c in j.columns}
            spec = spec.model_copy(update={"joins": [j for j in spec.joins if j.model not in dropped]})
            names = {c.name for c in output_columns(spec)}
            tests = [
                t
                for t in draft.tests
                if set(t.columns) <= names and not any(g in (t.expression or "") for g in gone)
            ]
            draft = draft.model_copy(update={"spec": spec, "tests": tests})
        kept[name] = draft
    mirror.drafts = kept
    rules_sources = mirror.outline.source_tables
    mirror.outline = outline_of(list(kept.values())).model_copy(update={"source_tables": rules_sources})
    return mirror


def run_quality(
    dataset: str,
    answers: Path | None,
    relay: Path | None,
    intermediates: bool = True,
    batch_tokens: int | None = None,
) -> None:
    """Load the dataset, generate with the scripted model, print the figures."""
    if not (DATASETS / dataset / "seeds").is_dir():
        print(f"llm quality: no seeds in {DATASETS / dataset} (set CARTRIDGE_DATASETS); not run")
        return
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    with tempfile.TemporaryDirectory(prefix="cartridge-llm-quality-") as scratch:
        folder = Path(scratch)
        server = start_postgres(folder / "pg")
        try:
            schema = load(DATASETS / dataset, server, folder)
            project = folder / "project"
            (project / "models").mkdir(parents=True)
            new_project(project, f"{dataset}_project", server, threads=2)
            settings = [f"llm_batch_tokens: {batch_tokens}"] if batch_tokens is not None else []
            settings += (
                ["llm_timeout_seconds: 3600"] if relay else []
            )  # a relayed request waits for its reader
            (project / "cartridge.yml").write_text("".join(f"{line}\n" for line in settings))
            options = ProjectOptions(
                project_dir=project, profiles_dir=project, schemas=[schema], source_name=dataset
            )
            _, context = load_context(options, SilentProgress())
            mirror = RulesMirror(context) if intermediates else without_intermediates(RulesMirror(context))
            answerer = Answerer(
                lambda body: mirror.answer(chat_request_of(body)),
                RecordedModel(answers, relay) if answers else None,
            )
            with ScriptedOpenAIServer(responder=answerer) as chat_server:
                options.model, options.api_base, options.cache = MODEL, chat_server.base_url, False
                report, error = None, ""
                try:
                    report = generate(options, SilentProgress())
                except CartridgeError as failure:
                    error = one_line(str(failure))
        finally:
            stop_postgres(folder / "pg")
    tables = len(list((DATASETS / dataset / "seeds").glob("*.csv")))
    source = f"recorded answers in {answers}" if answers else "the deterministic answerer (rules mirror)"
    source += "" if intermediates else ", without intermediate models"
    source += "" if batch_tokens is None else f"; llm_batch_tokens: {batch_tokens}"
    print(f"llm quality: {dataset}, {tables} raw tables, `generate` through litellm, answers from {source}")
    print_figures(answerer, report, error)


def print_figures(answerer: Answerer, report: ApplyReport | None, error: str) -> None:
    """Calls, tokens and re-asks per phase; repairs; the build."""
    recorded = answerer.recorded
    if recorded is not None:
        print(f"  recorded answers: {recorded.served} served, {recorded.relayed} relayed, "
              f"{len(recorded.missing)} missing (the prompts changed: refresh with --relay)")  # fmt: skip
        stale = recorded.stale()
        if stale and recorded.relay is not None and report is not None:
            # A refresh that ran whole replaces the recording: answers to prompts no longer asked go.
            for path in stale:
                path.unlink()
            print(f"  {len(stale)} recorded answers no request asks for any more were removed")
        elif stale:
            print(f"  {len(stale)} recorded answers no request asked for (stale: refresh with --relay)")
    if report is None or report.usage is None:
        print(f"  generate failed: {error}")
        return
    phases = report.usage.phases
    print(f"  {'phase':<14}{'calls':>6}{'tokens in':>11}{'tokens out':>11}{'re-asks':>9}")
    for name, usage in phases.items():
        print(
            f"  {name:<14}{usage.calls:>6}{usage.input_tokens:>11}{usage.output_tokens:>11}{usage.reasks:>9}"
        )
    calls = sum(u.calls for u in phases.values())
    tokens_in = sum(u.input_tokens for u in phases.values())
    tokens_out = sum(u.output_tokens for u in phases.values())
    reasks = sum(u.reasks for u in phases.values())
    print(f"  {'total':<14}{calls:>6}{tokens_in:>11}{tokens_out:>11}{reasks:>9}")
    models = len(report.plan.models())
    build = report.build
    if build is None:
        print(f"  {models} models planned; not built")
        return
    verdict = "passed" if build.success else "failed"
    print(
        f"  {models} models; dbt build {verdict}: {build.count('model', 'success')} models, "
        f"{build.count('test', 'pass')} of {build.count('test')} tests pass; "
        f"repairs: {len(report.relaxed_tests)}"
    )
