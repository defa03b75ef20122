"""LLM quality run: one connector's raw tables through `generate` with a model behind a local OpenAI server.

The connector's seeds (../shared/datasets/fivetran/<name>, zuora by default) are loaded into an embedded
PostgreSQL as bench/quality.py loads them; `generate` then plans through litellm against
tests/openai_server.py, writes and builds with dbt. The server answers each request

- from a folder of recorded answers (`--answers DIR`, llm_relay.py's layout, see bench/recorded_answers.py),
  and where none was recorded,
- with the deterministic answerer: the rules planner's drafts in the answer formats (tests/llm_answers.py),
  a model that gets everything right the first time. The rules plan a model for every child-to-parent
  aggregate (86 models on zuora); `--without-intermediates` leaves those out (the marts keep their other
  joins), an outline the size a capable model gave on zuora (31 models), for the call count that matters.

`--record DIR` writes every request and the answer given into DIR in the same layout. Each answer's
usage counts the request's tokens as litellm's tokenizer does (messages and any response_format) and the
answer's, so the figures are those a provider would bill. Printed: calls, tokens in and out and re-asks per
phase, repairs, and the build's result.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_answers import PHASE_OF_ANSWER, SCHEMA_NAME, RulesMirror, chat_request_of, outline_of
from openai_server import Answer, ScriptedOpenAIServer
from recorded_answers import RecordedAnswers

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
    """Answers a request body from the recordings, else as the rules mirror; counts tokens, re-asks, misses."""

    mirror: Any
    recorded: RecordedAnswers | None
    record: RecordedAnswers | None
    unrecorded: int = 0
    reasks: dict[str, int] = field(default_factory=dict)

    def __call__(self, body: dict[str, Any]) -> Answer:
        text = self.recorded.answer(body) if self.recorded else None
        if text is None:
            self.unrecorded += self.recorded is not None
            text = self.mirror(body)
        if self.record is not None:
            self.record.write(body, text)
        if any(m["role"] == "assistant" for m in body["messages"]):
            phase = phase_of(body)
            self.reasks[phase] = self.reasks.get(phase, 0) + 1
        return Answer(text, prompt_tokens=prompt_tokens(body), completion_tokens=count_tokens(text))


def phase_of(body: dict[str, Any]) -> str:
    """The planner's phase of a request, read from the answer type it asks for."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    found = SCHEMA_NAME.search(user)
    return PHASE_OF_ANSWER.get(found.group(1), "repair") if found else "?"


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
    record: Path | None,
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
            if batch_tokens is not None:
                (project / "cartridge.yml").write_text(f"llm_batch_tokens: {batch_tokens}\n")
            options = ProjectOptions(
                project_dir=project, profiles_dir=project, schemas=[schema], source_name=dataset
            )
            _, context = load_context(options, SilentProgress())
            mirror = RulesMirror(context) if intermediates else without_intermediates(RulesMirror(context))
            answerer = Answerer(
                lambda body: mirror.answer(chat_request_of(body)),
                RecordedAnswers(answers) if answers else None,
                RecordedAnswers(record) if record else None,
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
    if report is None or report.usage is None:
        print(f"  generate failed: {error}")
        return
    phases = report.usage.phases
    print(f"  {'phase':<14}{'calls':>6}{'tokens in':>11}{'tokens out':>11}{'re-asks':>9}")
    for name, usage in phases.items():
        reasks = answerer.reasks.get(name, 0)
        print(f"  {name:<14}{usage.calls:>6}{usage.input_tokens:>11}{usage.output_tokens:>11}{reasks:>9}")
    calls = sum(u.calls for u in phases.values())
    tokens_in = sum(u.input_tokens for u in phases.values())
    tokens_out = sum(u.output_tokens for u in phases.values())
    print(f"  {'total':<14}{calls:>6}{tokens_in:>11}{tokens_out:>11}{sum(answerer.reasks.values()):>9}")
    if answerer.recorded is not None:
        print(f"  requests with no recorded answer (answered by the rules mirror): {answerer.unrecorded}")
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
