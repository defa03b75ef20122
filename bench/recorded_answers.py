"""Recorded model answers for the LLM quality run: a folder in llm_relay.py's layout, replayed by what each asks.

The layout is the one `../shared/tools/llm_relay.py` writes while a capable reader answers cartridge's
real prompts, so a relay folder is a fixture as it is:

    DIR/q/NNN.json   one request body as cartridge sent it (OpenAI chat JSON: messages, response_format, ...)
    DIR/a/NNN.txt    the answer text returned for it

The numbers only pair a question with its answer; their order does not matter (concurrent calls arrive
in any order). A new request is answered with the recorded answer of the request that asks the same
thing, its key `<answer type>|<subject>|<round>`:

- the answer type: the `X` of "Answer with one `X` JSON object" in the first user message;
- the subject: what the request's data block is about: `outline` for the plan outline, the model's name
  for a spec or a repair, the models' names joined by `,` for a batch of tests and documentation;
- the round: how many of the model's own answers the conversation already holds (0 first, 1 after a re-ask).

So prompt wording may change without new recordings; a change in what is asked (another batch, another
model) finds no answer, and the run says how many requests had none.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from llm_answers import SCHEMA_NAME, data_blocks

_NUMBER = re.compile(r"(\d+)\.json$")


def request_key(body: dict[str, Any]) -> str:
    """`<answer type>|<subject>|<round>` of an OpenAI chat request body cartridge sent."""
    messages = body["messages"]
    user = next(m["content"] for m in messages if m["role"] == "user")
    found = SCHEMA_NAME.search(user)
    answer_type = found.group(1) if found else "?"
    blocks = data_blocks(user)
    subject = subject_of(json.loads(blocks[0])) if blocks else "?"
    rounds = sum(m["role"] == "assistant" for m in messages)
    return f"{answer_type}|{subject}|{rounds}"


def subject_of(data: dict[str, Any]) -> str:
    """What a request's task is about: the outline, one model, or a batch of models."""
    if "raw_tables" in data:
        return "outline"
    model = data.get("model")
    if model is not None:
        return str(model["name"] if isinstance(model, dict) else model)
    return ",".join(str(entry["model"]["name"]) for entry in data.get("models_to_describe", []))


class RecordedAnswers:
    """The answers of a relay folder by request key; `write` adds a request and its answer in the same layout."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.answers: dict[str, str] = {}
        questions = folder / "q"
        for question in sorted(questions.glob("*.json")):
            answer = folder / "a" / f"{question.stem}.txt"
            if answer.is_file():
                body = json.loads(question.read_text(encoding="utf-8"))
                self.answers[request_key(body)] = answer.read_text(encoding="utf-8")
        numbers = [int(m.group(1)) for p in questions.glob("*.json") if (m := _NUMBER.search(p.name))]
        self.next_number = 1 + max(numbers, default=0)
        self._lock = threading.Lock()  # the server answers each request in its own thread

    def answer(self, body: dict[str, Any]) -> str | None:
        """The recorded answer to this request, None when none was recorded."""
        return self.answers.get(request_key(body))

    def write(self, body: dict[str, Any], answer: str) -> None:
        """Record one request and its answer as the relay does (the next free number)."""
        with self._lock:
            number = f"{self.next_number:03d}"
            self.next_number += 1
            self.answers[request_key(body)] = answer
        (self.folder / "q").mkdir(parents=True, exist_ok=True)
        (self.folder / "a").mkdir(parents=True, exist_ok=True)
        (self.folder / "q" / f"{number}.json").write_text(json.dumps(body, indent=1), encoding="utf-8")
        (self.folder / "a" / f"{number}.txt").write_text(answer, encoding="utf-8")
