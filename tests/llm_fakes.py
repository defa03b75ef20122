"""An in-process ChatModel for unit tests: answers from a queue (or a function) and records every request."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

from cartridge_bridge.planning.llm.chat import ChatReply, ChatRequest


class QueueChat:
    """Answers requests in order from `answers`; each answer is text, a ChatReply, or an exception to raise."""

    def __init__(
        self,
        answers: Iterable[str | ChatReply | BaseException] = (),
        responder: Callable[[ChatRequest], str | ChatReply] | None = None,
        model: str = "fake/model",
    ):
        self.model = model
        self.answers: deque[str | ChatReply | BaseException] = deque(answers)
        self.responder = responder  # used when the queue is empty
        self.requests: list[ChatRequest] = []
        self.accepted_answers: list[tuple[ChatRequest, ChatReply]] = []  # what the seam accepted, in order
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> ChatReply:
        """The next scripted answer for this request."""
        with self._lock:
            self.requests.append(request)
            answer = self.answers.popleft() if self.answers else None
        if answer is None:
            if self.responder is None:
                raise AssertionError(f"QueueChat ran out of answers at a {request.phase} request")
            answer = self.responder(request)
        if isinstance(answer, BaseException):
            raise answer
        return (
            answer
            if isinstance(answer, ChatReply)
            else ChatReply(text=answer, input_tokens=10, output_tokens=5)
        )

    def accepted(self, request: ChatRequest, reply: ChatReply) -> None:
        """Record an answer the seam accepted (a real client would cache it)."""
        with self._lock:
            self.accepted_answers.append((request, reply))

    def phases(self) -> list[str]:
        """The phase of every request so far, in order."""
        return [r.phase for r in self.requests]
