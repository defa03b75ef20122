"""The one seam between cartridge and a language model: a request, a reply, and what it cost.

`ChatModel` is all the planner and the repairer know of a model. `client.LiteLLMChat` implements it
through litellm (the only module that imports litellm); tests use an in-process fake that answers
from a queue, or the real client against a local server that speaks OpenAI's chat API.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cartridge_bridge.config import (
    LLM_BATCH_TOKENS,
    LLM_CONCURRENCY,
    LLM_MAX_RETRIES,
    LLM_REPAIR_ROUNDS,
    LLM_TIMEOUT_SECONDS,
)

Phase = Literal[
    "plan", "staging", "intermediate", "history", "union", "mart", "periodic_snapshot", "docs_tests", "repair"
]
# How the answer's JSON schema reaches the model; see client.structured_output_mode for what `auto` picks.
StructuredOutput = Literal["auto", "json_schema", "json_object", "none"]


@dataclass(frozen=True)
class ChatRequest:
    """One question to the model: OpenAI-style messages and the JSON schema the answer must follow."""

    phase: Phase
    messages: list[dict[str, str]]  # {"role": "system" | "user" | "assistant", "content": ...}
    schema_name: str  # e.g. "PlanOutline"; names the schema in response_format
    response_schema: dict[str, Any] | None = None  # pydantic's model_json_schema() of the expected answer
    reask: bool = False  # the conversation sends earlier answers back with their problems


@dataclass(frozen=True)
class ChatReply:
    """The model's answer as text, with its token counts and cost (None when the cost map does not know it)."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    cached: bool = False  # answered from cartridge's content cache: no call, no cost


class ChatModel(Protocol):
    """Anything that answers ChatRequests. Must be safe to call from several threads at once."""

    model: str

    def complete(self, request: ChatRequest) -> ChatReply:
        """Answer one request; raises an errors.LLMError subclass when the model cannot be reached."""
        ...

    def accepted(self, request: ChatRequest, reply: ChatReply) -> None:
        """The seam accepted `reply` as the answer to `request` (its first asking): the only answers worth keeping."""
        ...


@dataclass
class LLMSettings:
    """How the LLM path runs; the CLI and cartridge.yml fill it, defaults are the issue's."""

    model: str
    api_base: str | None = None
    timeout_seconds: float = LLM_TIMEOUT_SECONDS
    structured_output: StructuredOutput = "auto"
    transport_retries: int = 4  # on 429, 5xx and dropped connections, with exponential backoff
    backoff_seconds: float = (
        1.0  # the first backoff wait, doubled per retry (with jitter) unless Retry-After says
    )
    max_retries: int = LLM_MAX_RETRIES  # each re-ask sends every problem found
    concurrency: int = LLM_CONCURRENCY
    batch_tokens: int = LLM_BATCH_TOKENS
    repair_rounds: int = LLM_REPAIR_ROUNDS
    max_cost: float | None = None  # USD; stop before a call would pass it
    cache: bool = True  # accepted answers cached by content under <project>/.cartridge/llm-cache/
    cache_dir: str | None = None  # set by the API from the project directory
    share_samples: bool = False  # sample values and top values may go into prompts
    fallback: Literal["none", "rules"] = "none"  # what to do with models the LLM could not produce


@dataclass
class PhaseUsage:
    """Calls, tokens and cost of one phase."""

    calls: int = 0
    cached_calls: int = 0
    reasks: int = 0  # calls that sent rejected answers back with their problems
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0  # None once any call's cost is unknown


@dataclass
class UsageLedger:
    """Tokens and cost per phase and in total; thread-safe, shared by every call of a run."""

    phases: dict[str, PhaseUsage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, phase: str, reply: ChatReply, reask: bool = False) -> None:
        """Add one reply to its phase; `reask` when its request re-asked after rejected answers."""
        with self._lock:
            usage = self.phases.setdefault(phase, PhaseUsage())
            usage.calls += 1
            usage.cached_calls += int(reply.cached)
            usage.reasks += int(reask)
            usage.input_tokens += reply.input_tokens
            usage.output_tokens += reply.output_tokens
            if reply.cached:
                return
            usage.cost = None if usage.cost is None or reply.cost is None else usage.cost + reply.cost

    def total_cost(self) -> float | None:
        """The cost so far, None when some call's cost is unknown."""
        with self._lock:
            costs = [u.cost for u in self.phases.values()]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    def known_cost(self) -> float:
        """The cost of the calls whose cost is known (what --max-cost counts against)."""
        with self._lock:
            return sum(u.cost for u in self.phases.values() if u.cost is not None)
