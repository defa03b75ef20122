"""Ask a model for one typed answer: send the schema, read the JSON however it is wrapped, re-ask with every problem.

A model's bad answer is not the user's bad input: it goes back to the model with each problem on its
own line, at most `max_retries` times, and then surfaces as `AnswerRejected`, which the planner turns
into an LLMAnswerError (exit 1) or a fallback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cartridge_bridge.planning.llm.chat import ChatModel, ChatRequest, Phase
from cartridge_bridge.planning.llm.prompts import render_prompt

AnswerT = TypeVar("AnswerT", bound=BaseModel)
Check = Callable[[AnswerT], list[str]]

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.S)
_SHOWN_INPUT = 60  # characters of a rejected value quoted back in a problem line


class AnswerRejected(Exception):
    """A model's answers still had problems after every re-ask."""

    def __init__(self, phase: Phase, subject: str, problems: list[str], asked: int):
        self.phase = phase
        self.subject = subject  # e.g. "the plan outline", "the spec of stg_shop__orders"
        self.problems = problems
        self.asked = asked
        super().__init__(self.line())

    def line(self) -> str:
        """One line: what was asked, how often, and the first problem that stayed."""
        more = len(self.problems) - 1
        rest = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        re_asks = self.asked - 1
        return (
            f"{self.subject} stayed invalid after {re_asks} re-ask{'' if re_asks == 1 else 's'}: "
            f"{self.problems[0] if self.problems else 'no answer'}{rest}"
        )


def extract_json(text: str) -> Any:
    """The JSON object in an answer: the whole text, a fenced ```json block, or the first object in prose."""
    stripped = text.strip()
    candidates = [stripped, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    for found in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, found.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("the answer holds no JSON object")


def validation_lines(error: ValidationError) -> list[str]:
    """pydantic's errors, one line each: where in the answer, what is wrong, and the value when short."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(the answer)"
        shown = ""
        if item["type"] not in ("missing", "extra_forbidden") and not isinstance(item["input"], dict | list):
            value = repr(item["input"])
            shown = f" (got {value[:_SHOWN_INPUT]}{'…' if len(value) > _SHOWN_INPUT else ''})"
        lines.append(f"{where}: {item['msg'].removeprefix('Value error, ')}{shown}")
    return lines


@dataclass
class Asker:
    """Asks one chat model for typed answers, re-asking up to `max_retries` times per request."""

    chat: ChatModel
    max_retries: int

    def ask(
        self,
        phase: Phase,
        subject: str,
        messages: list[dict[str, str]],
        answer_type: type[AnswerT],
        check: Check[AnswerT] | None = None,
    ) -> AnswerT:
        """The first answer that parses, validates and passes `check`; AnswerRejected after the re-asks.

        Only that answer is handed to the model's `accepted`, as the answer to the first asking: a cache keeps
        no answer that failed a check, and the next run asking the same question gets the accepted one.
        """
        conversation = list(messages)
        schema = answer_type.model_json_schema()
        first = ChatRequest(phase, list(conversation), answer_type.__name__, schema)
        problems: list[str] = []
        for attempt in range(1, self.max_retries + 2):
            request = (
                first
                if attempt == 1
                else ChatRequest(phase, list(conversation), first.schema_name, schema, True)
            )
            reply = self.chat.complete(request)
            answer, problems = parse_answer(reply.text, answer_type)
            if answer is not None and check is not None:
                problems = check(answer)
            if answer is not None and not problems:
                if not reply.cached:
                    self.chat.accepted(first, reply)
                return answer
            if attempt <= self.max_retries:
                conversation += [
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": reask_prompt(answer_type.__name__, problems)},
                ]
        raise AnswerRejected(phase, subject, problems, self.max_retries + 1)


def parse_answer(text: str, answer_type: type[AnswerT]) -> tuple[AnswerT | None, list[str]]:
    """The typed answer, or None and every problem found reading it."""
    try:
        document = extract_json(text)
    except ValueError as error:
        return None, [f"(the answer): {error}; answer with one JSON object"]
    try:
        return answer_type.model_validate(document), []
    except ValidationError as error:
        return None, validation_lines(error)


def reask_prompt(schema_name: str, problems: list[str]) -> str:
    """The message that sends every problem back to the model."""
    return render_prompt("reask.j2", schema_name=schema_name, problems=problems)
