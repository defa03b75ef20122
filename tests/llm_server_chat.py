"""A ChatModel that goes through the real litellm client to a local OpenAI-compatible server.

`ServerChat` takes the same responder as `QueueChat` (a function of the planner's ChatRequest), so the
LLM planner's tests can run once in-process and once through litellm, HTTP and the scripted server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from llm_answers import chat_request_of
from openai_server import ScriptedOpenAIServer

from cartridge_bridge.planning.llm.chat import ChatReply, ChatRequest, LLMSettings, UsageLedger
from cartridge_bridge.planning.llm.client import LiteLLMChat


class ServerChat:
    """LiteLLMChat against a ScriptedOpenAIServer answering with `responder`; records the planner's requests."""

    def __init__(self, responder: Callable[[ChatRequest], str | ChatReply]):
        self.responder = responder
        self.requests: list[ChatRequest] = []
        self._lock = threading.Lock()
        self.server = ScriptedOpenAIServer(responder=self._answer).__enter__()
        settings = LLMSettings(
            model="openai/scripted-model", api_base=self.server.base_url, cache=False, timeout_seconds=30
        )
        self.client = LiteLLMChat(settings, UsageLedger())
        self.model = self.client.model

    def _answer(self, body: dict[str, Any]) -> str:
        answer = self.responder(chat_request_of(body))
        return answer.text if isinstance(answer, ChatReply) else answer

    def complete(self, request: ChatRequest) -> ChatReply:
        """Through litellm and HTTP to the scripted server."""
        with self._lock:
            self.requests.append(request)
        return self.client.complete(request)

    def accepted(self, request: ChatRequest, reply: ChatReply) -> None:
        """As the client does (its cache is off here)."""
        self.client.accepted(request, reply)

    def phases(self) -> list[str]:
        """The phase of every request so far, in order."""
        return [r.phase for r in self.requests]

    def close(self) -> None:
        """Stop the server."""
        self.server.__exit__(None, None, None)
