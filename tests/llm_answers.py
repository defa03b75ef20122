"""Scripted model answers for the LLM planner's tests: read a request's data block, answer as a model would.

`RulesMirror` answers every phase with what the rules planner drafted for the context, in the LLM answer
formats: a well-behaved model whose plan the tests can compare with the rules plan.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.llm.answers import (
    DocumentedColumn,
    MetricAnswer,
    ModelDocsAndTests,
    OutlineModel,
    PlanOutline,
    SourceTableDescription,
)
from cartridge_bridge.planning.llm.chat import ChatRequest
from cartridge_bridge.planning.llm.conversion import data_tests_answer, to_answer
from cartridge_bridge.planning.llm.prompts import DATA_CLOSE, DATA_OPEN
from cartridge_bridge.planning.plan import (
    MartSpec,
    SemanticModelSpec,
    StagingSpec,
    model_inputs,
    output_columns,
)
from cartridge_bridge.planning.planner import ModelDraft, PlanDraft
from cartridge_bridge.planning.rules.planner import RulesPlanner

_BLOCK = re.compile(re.escape(DATA_OPEN) + r"\n(.*?)\n" + re.escape(DATA_CLOSE), re.S)


def data_blocks(text: str) -> list[str]:
    """The JSON text of every data block in a prompt."""
    return _BLOCK.findall(text)


def outside_data(text: str) -> str:
    """A prompt with its data blocks cut out: only cartridge's own instructions remain."""
    return _BLOCK.sub(DATA_OPEN + DATA_CLOSE, text)


def request_data(request: ChatRequest) -> dict[str, Any]:
    """The data block of the request's first user message (the task), decoded."""
    user = next(m["content"] for m in request.messages if m["role"] == "user")
    return json.loads(data_blocks(user)[0])


def task_model(request: ChatRequest) -> str:
    """The name of the model a spec or repair request is about."""
    model = request_data(request)["model"]
    return str(model["name"] if isinstance(model, dict) else model)


BATCH_PHASES = ("staging", "docs_tests")  # phases asked for several models per request


def task_models(request: ChatRequest) -> list[str]:
    """The models a batch request (staging specs, tests and documentation) asks for now: all of its batch, or
    those a re-ask names."""
    last = request.messages[-1]["content"]
    if len(request.messages) > 2:  # a re-ask: only the models whose entries had problems
        return list(json.loads(data_blocks(last)[0])["answer_again_for"])
    data = request_data(request)
    return [str(entry["model"]["name"]) for entry in data.get("models_to_describe", data.get("models", []))]


def asked_models(request: ChatRequest) -> list[str]:
    """Every model a request is about: one for a spec or a repair, a batch for staging specs, tests and docs."""
    if request.phase == "plan":
        return []
    return task_models(request) if request.phase in BATCH_PHASES else [task_model(request)]


def docs_and_tests_of(draft: ModelDraft) -> ModelDocsAndTests:
    """A draft's descriptions, tests and metrics as a model's entry in a tests-and-documentation answer."""
    tests = data_tests_answer(draft.spec, draft.tests)
    tested = {c.column: c.tests for c in tests.columns}
    return ModelDocsAndTests(
        model=draft.name,
        description=draft.description,
        columns=[
            DocumentedColumn(name=c.name, description=c.description, tests=tested.get(c.name, []))
            for c in output_columns(draft.spec)
        ],
        model_tests=tests.model_tests,
        metrics=metrics_of(draft.semantic_model),
    )


def metrics_of(model: SemanticModelSpec | None) -> list[MetricAnswer]:
    """A semantic model's metrics as a model answers them: each measure kept, its metric named as the model has it."""
    if model is None:
        return []
    return [
        MetricAnswer(measure=m.measure, name=m.name, label=m.label, description=m.description)
        for m in model.metrics
    ]


def outline_of(drafts: list[ModelDraft], rules: PlanDraft | None = None) -> PlanOutline:
    """The outline a model would answer for these drafts (describing the raw tables as `rules` does)."""
    models = []
    for draft in drafts:
        spec = draft.spec
        staging = isinstance(spec, StagingSpec)
        models.append(
            OutlineModel(
                name=draft.name,
                layer=draft.layer,
                source_table=f"{spec.source_name}.{spec.table}" if isinstance(spec, StagingSpec) else None,
                inputs=[] if staging else model_inputs(spec),
                role=spec.role if isinstance(spec, MartSpec) else None,
                grain="one row per thing",
                description=draft.description,
            )
        )
    described = [
        SourceTableDescription(source_table=f"{s.spec.source_name}.{t.name}", description=t.description)
        for s in (rules.sources if rules else [])
        for t in s.spec.tables
    ]
    return PlanOutline(models=models, source_tables=described)


class RulesMirror:
    """Answers each phase with the rules planner's draft for the context: a model that gets everything right."""

    def __init__(self, context: ProjectContext):
        # The LLM planner writes no type-2 histories: the right answers are the rules' without them.
        # Nor the rules' crossed measures and roll-ups, as the LLM planner's own fallback (see `LLMPlanner.draft`).
        rules = RulesPlanner(
            type2_histories=False, crossed_measures=False, rollups=False, owner_sequences=False
        ).draft(context)
        self.drafts = {m.name: m for m in rules.models}
        self.outline = outline_of(list(self.drafts.values()), rules)

    def answer(self, request: ChatRequest) -> str:
        """The JSON text of the right answer to any request of the planner."""
        if request.phase == "plan":
            return self.outline.model_dump_json()
        if request.phase == "repair":
            return keep_every_test_relaxed(request_data(request))
        if request.phase in BATCH_PHASES:
            # A model the rules did not plan (a test scripts its entry) gets none here.
            asked = [n for n in task_models(request) if n in self.drafts]
            return batch_answer([self.entry_for(request.phase, self.drafts[n]) for n in asked])
        return self.answer_for(request.phase, self.drafts[task_model(request)])

    def answer_for(self, phase: str, draft: ModelDraft) -> str:
        """The right answer of a phase for one model (for tests and documentation, the model's entry)."""
        if phase == "docs_tests":
            return docs_and_tests_of(draft).model_dump_json()
        return to_answer(draft.spec).model_dump_json()

    def entry_for(self, phase: str, draft: ModelDraft) -> str:
        """The right entry of a batch answer for one model: its answer, naming the model."""
        return named_entry(draft.name, self.answer_for(phase, draft))

    def __call__(self, request: ChatRequest) -> str:
        return self.answer(request)


class Overlap:
    """Wraps a responder, holding each call a little, and records how many calls were in flight at once."""

    def __init__(self, responder: Callable[[ChatRequest], str], hold: float = 0.01):
        self.responder = responder
        self.hold = hold
        self.in_flight = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, request: ChatRequest) -> str:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(self.hold)
            return self.responder(request)
        finally:
            with self._lock:
                self.in_flight -= 1


def keep_every_test_relaxed(task: dict[str, Any]) -> str:
    """A repair answer that changes nothing and keeps each failing test relaxed, as the rules planner does."""
    verdicts = [
        {"test": t["node"], "verdict": "keep_relaxed", "reason": "the data fails it"}
        for t in task.get("failing_tests", [])
    ]
    return json.dumps(
        {"spec": task["current_spec"], "tests": task["current_tests"], "failing_tests": verdicts}
    )


def batch_answer(entries: list[str]) -> str:
    """A batch answer (staging specs, tests and documentation) made of the entries' JSON texts, each as it is."""
    return '{"models": [' + ", ".join(entries) + "]}"


def named_entry(model: str, answer: str) -> str:
    """One model's answer as its entry of a batch answer: `model` added to a JSON object that names none; any
    other text as it is (a script's broken answer stays broken)."""
    try:
        value = json.loads(answer)
    except json.JSONDecodeError:
        return answer
    if not isinstance(value, dict):
        return answer
    # A script that names a model keeps its name (a test of an entry naming the wrong model).
    return json.dumps({"model": model, **value}, separators=(",", ":"))


class Scripted:
    """A responder that gives scripted answers first, per (phase, model), then falls back to `base`.

    The model is None for the outline. For a batch phase (staging specs, tests and documentation) a script
    holds one model's answer or entry: the answer is made of each asked model's scripted entry, or `base`'s
    entry for it (the batch is the planner's affair, the script is per model).
    """

    def __init__(self, base: Callable[[ChatRequest], str], scripts: dict[tuple[str, str | None], list[str]]):
        self.base = base
        self.scripts = {key: list(answers) for key, answers in scripts.items()}
        self.always: dict[tuple[str, str | None], str] = {}
        self._lock = threading.Lock()

    def always_answer(self, phase: str, model: str | None, text: str) -> Scripted:
        """Answer every request of this phase (and model) with `text`."""
        self.always[(phase, model)] = text
        return self

    def __call__(self, request: ChatRequest) -> str:
        if request.phase in BATCH_PHASES:
            base = json.loads(self.base(request))["models"]
            given = {str(e["model"]): json.dumps(e) for e in base}
            entries = []
            for name in task_models(request):
                scripted = self.scripted((request.phase, name))
                entries.append(given[name] if scripted is None else named_entry(name, scripted))
            return batch_answer(entries)
        key = (request.phase, None if request.phase == "plan" else task_model(request))
        answer = self.scripted(key)
        return self.base(request) if answer is None else answer

    def scripted(self, key: tuple[str, str | None]) -> str | None:
        """The answer scripted for this key now, if any."""
        with self._lock:
            if key in self.always:
                return self.always[key]
            script = self.scripts.get(key)
            return script.pop(0) if script else None


# The answer type a prompt asks for names its phase (the HTTP request does not carry the phase).
SCHEMA_NAME = re.compile(r"Answer with one `(\w+)` JSON object")
PHASE_OF_ANSWER = {
    "PlanOutline": "plan",
    "StagingAnswer": "staging",
    "StagingBatchAnswer": "staging",
    "AggregateAnswer": "intermediate",
    "MartAnswer": "mart",
    "DocsAndTestsAnswer": "docs_tests",
}


def chat_request_of(body: dict[str, Any]) -> ChatRequest:
    """The planner's request behind an OpenAI chat body (the answer type it asks for names the phase)."""
    messages = body["messages"]
    user = next(m["content"] for m in messages if m["role"] == "user")
    found = SCHEMA_NAME.search(user)
    assert found is not None, user[:300]
    name = found.group(1)
    # Repair prompts ask for a *Repair answer; they belong to the repair phase.
    return ChatRequest(phase=PHASE_OF_ANSWER.get(name, "repair"), messages=messages, schema_name=name)  # type: ignore[arg-type]


def openai_mirror(context: ProjectContext) -> Any:
    """A ScriptedOpenAIServer responder: an OpenAI chat request body answered as RulesMirror answers the planner."""
    mirror = RulesMirror(context)
    return lambda body: mirror.answer(chat_request_of(body))


def documented_entry(described: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    """A model's documentation-and-tests entry for a request's `models_to_describe` entry: each column described
    from its name, the model's key (`keys`: model → column) unique and not null, every candidate metric dropped."""
    name = described["model"]["name"]
    return {
        "model": name,
        "description": f"LLM: {described['model']['description']}",
        "columns": [
            {
                "name": c["name"],
                "description": f"The {c['name'].replace('_', ' ')}.",
                "tests": [{"name": "unique"}, {"name": "not_null"}] if keys.get(name) == c["name"] else [],
            }
            for c in described["columns"]
        ],
        "metrics": [{"measure": m["name"], "keep": False} for m in described.get("measures", [])],
    }
