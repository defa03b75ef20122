"""The LLM planner's tests again, through the real call path: LiteLLMChat → HTTP → a scripted OpenAI server.

Every test of tests/unit/test_llm_planner.py that talks to a model through `chat_of` runs here with a
`ServerChat` instead of the in-process fake: the same answers, sent by a local server that speaks OpenAI's
chat API and read back by litellm (fenced and chatty answers, invalid JSON, schema-invalid answers and the
re-asks carrying every problem, cycles, unknown refs, statements and Jinja, give-ups and fallbacks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llm_server_chat import ServerChat
from unit.conftest import context, facts, manifest  # noqa: F401  (the unit tests' fixtures, reused)
from unit.test_llm_planner import *  # noqa: F403  (the tests themselves, collected here a second time)

from cartridge_bridge.planning.llm.chat import ChatRequest


@pytest.fixture
def chat_of() -> Iterator[Callable[..., Any]]:
    """ServerChats for the test; their servers stop when it ends."""
    made: list[ServerChat] = []

    def make(responder: Callable[[ChatRequest], Any]) -> ServerChat:
        made.append(ServerChat(responder))
        return made[-1]

    yield make
    for chat in made:
        chat.close()
