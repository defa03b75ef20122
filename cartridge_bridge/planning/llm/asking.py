"""Ask a model for one typed answer: send the schema, read the JSON however it is wrapped, re-ask with every problem.

A model's bad answer is not the user's bad input: it goes back to the model with each problem on its
own line, at most `max_retries` times, and then surfaces as `AnswerRejected`, which the planner turns
into an LLMAnswerError (exit 1) or a fallback. A batch answer (one entry per model, `ask_batch`) is
judged entry by entry: good entries are kept, and only the models whose entries had problems are
asked for again, in the same conversation; each that stays wrong is rejected alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cartridge_bridge.planning.llm.chat import ChatModel, ChatReply, ChatRequest, Phase
from cartridge_bridge.planning.llm.prompts import render_prompt

AnswerT = TypeVar("AnswerT", bound=BaseModel)
EntryT = TypeVar("EntryT", bound=BaseModel)
Check = Callable[[AnswerT], list[str]]
EntryCheck = Callable[[str, EntryT], list[str]]  # (the entry's name, the entry) → problem lines

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.S)
_SHOWN_INPUT = 60  # characters of a rejected value quoted back in a problem line


class AnswerRejected(Exception):
    """A model's answers still had problems after every re-ask."""

    def __init__(self, phase: Phase, subject: str, problems: list[str], asked: int, last: Any = None):
        self.phase = phase
        self.subject = subject  # e.g. "the plan outline", "the spec of stg_shop__orders"
        self.problems = problems
        self.asked = asked
        self.last = last  # a batch entry's last answer that parsed, whose good parts a caller may keep
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


class UnreadBatch(Exception):
    """The first answer to a batch held no entry that could be read (cut off at the model's output limit, say)."""


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
            request = first if attempt == 1 else _reasking(first, conversation)
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

    def ask_batch(
        self,
        phase: Phase,
        subject: Callable[[str], str],
        messages: list[dict[str, str]],
        answer_type: type[BaseModel],
        entry_type: type[EntryT],
        names: list[str],
        check: EntryCheck[EntryT],
        split: bool = False,
    ) -> tuple[dict[str, EntryT], dict[str, AnswerRejected]]:
        """One entry per name (`{"models": [{"model": name, ...}]}`): those accepted, and those rejected after the re-asks.

        `subject(name)` names what an entry is for in a rejection, e.g. "the tests and documentation of stg_x".
        With `split`, a first answer in which no entry of several can be read raises UnreadBatch instead of
        re-asking: an answer cut off at the model's output limit would be cut off again, a smaller batch is not.
        """
        conversation = list(messages)
        schema = answer_type.model_json_schema()
        first = ChatRequest(phase, list(conversation), answer_type.__name__, schema)
        accepted: dict[str, EntryT] = {}
        problems: dict[str, list[str]] = {}
        last: dict[str, EntryT] = {}
        wanted = list(names)
        cached = False
        for attempt in range(1, self.max_retries + 2):
            request = first if attempt == 1 else _reasking(first, conversation)
            reply = self.chat.complete(request)
            cached = cached or reply.cached
            entries, problems = parse_entries(reply.text, entry_type, wanted)
            if split and attempt == 1 and not entries and len(wanted) > 1:
                raise UnreadBatch(problems[wanted[0]][0])
            for name, entry in entries.items():
                last[name] = entry
                problems[name] = [_naming(name, line) for line in check(name, entry)]
                if not problems[name]:
                    accepted[name] = entry
            wanted = [n for n in wanted if n not in accepted]
            if not wanted:
                break
            if attempt <= self.max_retries:
                lines = [line for name in wanted for line in problems[name]]
                conversation += [
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": reask_prompt(answer_type.__name__, lines, wanted)},
                ]
        if not wanted and not cached:
            # Every entry accepted, some maybe after a re-ask: together they answer the first asking.
            whole = {"models": [accepted[n].model_dump(mode="json") for n in names]}
            self.chat.accepted(first, ChatReply(text=json.dumps(whole)))
        rejected = {
            n: AnswerRejected(phase, subject(n), problems[n], self.max_retries + 1, last.get(n))
            for n in wanted
        }
        return accepted, rejected


def parse_entries(
    text: str, entry_type: type[EntryT], wanted: list[str]
) -> tuple[dict[str, EntryT], dict[str, list[str]]]:
    """The entries of a batch answer that validate, by name, and the problems of each wanted name without one.

    Entries for names not wanted (already accepted, or unknown) are left out: they change nothing.
    """
    try:
        document = extract_json(text)
    except ValueError as error:
        return {}, {n: [f"(the answer): {error}; answer with one JSON object"] for n in wanted}
    items = document.get("models") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return {}, {n: ["models: a list with one entry per model is required"] for n in wanted}
    found: dict[str, EntryT] = {}
    problems: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        name = item.get("model") if isinstance(item, dict) else None
        if name not in wanted:
            continue
        if name in found or name in problems:
            problems[name] = [f"{name}: models[{index}]: a second entry for this model; give one"]
            found.pop(name, None)
            continue
        try:
            found[name] = entry_type.model_validate(item)
        except ValidationError as error:
            problems[name] = [f"{name}: {line}" for line in validation_lines(error)]
    named = [str(i.get("model")) for i in items if isinstance(i, dict) and i.get("model") not in wanted]
    for name in wanted:
        if name not in found and name not in problems:
            others = f" (the entries name: {', '.join(named)})" if named else ""
            problems[name] = [f"{name}: no entry in `models` names this model{others}"]
    return found, problems


def _naming(name: str, line: str) -> str:
    """A problem line that starts with the model it is about."""
    return line if line.startswith(f"{name}:") else f"{name}: {line}"


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


def reask_prompt(schema_name: str, problems: list[str], only: list[str] | None = None) -> str:
    """The message that sends every problem back to the model; for a batch, the models to answer again for."""
    return render_prompt("reask.j2", schema_name=schema_name, problems=problems, only=only or [])


def _reasking(first: ChatRequest, conversation: list[dict[str, str]]) -> ChatRequest:
    """A re-ask of `first`: the conversation so far, with earlier answers and their problems."""
    return ChatRequest(first.phase, list(conversation), first.schema_name, first.response_schema, True)
