"""Recorded answers of a capable model, served to the LLM planner through litellm, refreshed through a relay.

The business-answers bench judges the LLM planner on what a strong model would answer, without a key or
the network: every answer is a file `bench/answers-llm/<connector>/<key>.txt`, where the key is the
sha256 of what decides the answer (the request's messages and response_format). A local OpenAI-shaped
server (tests/openai_server.py) answers each request from its file. A request with no file means the
prompts changed since the recording: without a relay the server answers 500 and the run counts it as
missing; with `relay` (a folder, the protocol of ../shared/tools/llm_relay.py) the request is written to
`<relay>/q/NNN.json`, the server waits for `<relay>/a/NNN.txt`, serves it and keeps it as the recording.
A reader who answers those files (a person, or an agent told to answer as a strong model would, without
reading cartridge's code) refreshes the recording; re-asks and repairs are recorded the same way.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cartridge_bridge.api import make_llm_planner, make_llm_repairer
from cartridge_bridge.planning.llm.chat import LLMSettings, UsageLedger
from cartridge_bridge.planning.llm.client import LiteLLMChat
from cartridge_bridge.planning.planner import Planner
from cartridge_bridge.verify.repair import Repairer
from tests.openai_server import Entry, ScriptedOpenAIServer, Status, error_body

RECORDINGS = Path(__file__).resolve().parent / "answers-llm"
RELAY_POLL_SECONDS = 0.5


def request_key(body: dict[str, Any]) -> str:
    """The sha256 (hex) of the parts of a chat request that decide its answer."""
    content = {"messages": body.get("messages"), "response_format": body.get("response_format")}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class RecordedModel:
    """Answers from `folder`; misses relayed through `relay` when given, else refused and counted."""

    folder: Path
    relay: Path | None = None
    served: int = 0
    relayed: int = 0
    missing: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # the recordings this run served or recorded
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: dict[str, Any]) -> Entry:
        """The recorded text, a relayed one (then recorded), or a 500 naming the missing key."""
        key = request_key(body)
        path = self.folder / f"{key}.txt"
        if path.is_file():
            with self._lock:
                self.served += 1
                self.used.add(key)
            return path.read_text(encoding="utf-8")
        if self.relay is None:
            with self._lock:
                self.missing.append(key)
            message = f"no recorded answer {key[:12]}: the prompts changed; refresh with --relay"
            return Status(500, error_body(message, "server_error"))
        text = self._relayed(body)
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
        with self._lock:
            self.relayed += 1
            self.used.add(key)
        return text

    def stale(self) -> list[Path]:
        """The recordings no request of this run asked for: answers to prompts that have changed since."""
        return sorted(p for p in self.folder.glob("*.txt") if p.stem not in self.used)

    def _relayed(self, body: dict[str, Any]) -> str:
        """Hand the request to the relay folder's reader and wait for the answer file."""
        assert self.relay is not None
        questions, answers = self.relay / "q", self.relay / "a"
        questions.mkdir(parents=True, exist_ok=True)
        answers.mkdir(parents=True, exist_ok=True)
        with self._lock:
            name = f"{next(self._numbers):03d}"
            while (questions / f"{name}.json").exists():  # a relay folder reused: continue its numbering
                name = f"{next(self._numbers):03d}"
            temporary = questions / f".{name}.tmp"
            temporary.write_text(json.dumps(body, indent=2), encoding="utf-8")
            temporary.replace(questions / f"{name}.json")
        answer = answers / f"{name}.txt"
        while not answer.is_file():
            time.sleep(RELAY_POLL_SECONDS)
        time.sleep(RELAY_POLL_SECONDS)  # let the writer finish the file
        return answer.read_text(encoding="utf-8")

    def server(self) -> ScriptedOpenAIServer:
        """A server (use as a context manager) answering every request from this recording."""
        return ScriptedOpenAIServer(responder=self.answer)


@dataclass
class RecordedLLM:
    """The LLM planner and repairer through litellm, answered by a RecordedModel's server."""

    planner: Planner
    repairer: Repairer
    usage: UsageLedger


@contextmanager
def recorded_llm(recorded: RecordedModel) -> Iterator[RecordedLLM]:
    """The LLM planner and repairer answered from `recorded` (relayed misses wait for their reader)."""
    with recorded.server() as server:
        settings = LLMSettings(
            model="openai/recorded",
            api_base=server.base_url,
            timeout_seconds=3600.0 if recorded.relay else 60.0,  # a relayed request waits for its reader
            transport_retries=0,  # a missing recording is not transient
            concurrency=4,
            cache=False,  # the recording is the cache; a project cache would hide a missing answer
            # The seeds are public: the bench shares values as a user who opts in does (`--share-samples`),
            # so a status's values reach the model and its conditional measures compare with real ones.
            share_samples=True,
        )
        usage = UsageLedger()
        chat = LiteLLMChat(settings, usage)
        yield RecordedLLM(make_llm_planner(settings, chat), make_llm_repairer(settings, chat), usage)
