"""A scripted OpenAI-compatible chat server on 127.0.0.1, so tests drive the real litellm path offline.

Use it as a context manager and point litellm at it with `model="openai/<any name>"` and `api_base`::

    with ScriptedOpenAIServer(['{"models": []}', Status(429, headers={"Retry-After": "0.1"})]) as server:
        chat = LiteLLMChat(LLMSettings(model="openai/test", api_base=server.base_url), UsageLedger())
        ...
        server.requests[0].json["messages"]      # every request, in arrival order
        server.requests[0].headers["authorization"]

The script is a queue of entries, each answering one `POST /v1/chat/completions`:

- `str`: a completion whose assistant message has this text (usage counted as `len(text) // 4`, at least 1);
- `Answer(text, prompt_tokens=..., completion_tokens=..., model=...)`: the same with chosen usage;
- `dict`: this JSON body, as it is, with status 200;
- `Status(code, body=..., headers=...)`: an HTTP error; `body` is a dict sent as JSON (default: an
  OpenAI-shaped error, see `error_body`) or a str sent as it is; `headers` e.g. `{"Retry-After": "1"}`;
- `Delay(seconds, then)`: wait, then answer with `then` (a client with a shorter timeout gives up first).

When the queue is empty the optional `responder(request_json) -> entry` answers; without one the
server answers 500 with an error saying the script ran out, so a test sees an unexpected extra call.
`add(*entries)` appends to the queue while the server runs. `GET /v1/models` lists one model.
Only the standard library is used; every handler runs in its own thread.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union


@dataclass(frozen=True)
class Answer:
    """A completion with this text and, when given, these token counts."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model: str = "scripted-model"


@dataclass(frozen=True)
class Status:
    """An HTTP error (or any status): `body` a dict (JSON) or str, default an OpenAI error naming the code."""

    code: int
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delay:
    """Wait `seconds`, then answer with `then`."""

    seconds: float
    then: Entry = ""


Entry = Union[str, Answer, dict, Status, Delay]  # noqa: UP007 (a runtime alias, Python 3.10 allows Union only)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it: method, path, headers (lower-case names) and the JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None
    at: float  # time.monotonic() on arrival


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error body: {"error": {"message", "type", "param", "code"}}."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def completion_body(answer: Answer) -> dict[str, Any]:
    """An OpenAI chat.completion body for this answer, with `usage`."""
    prompt = answer.prompt_tokens if answer.prompt_tokens is not None else 10
    completion = (
        answer.completion_tokens if answer.completion_tokens is not None else max(1, len(answer.text) // 4)
    )
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


class ScriptedOpenAIServer:
    """An OpenAI chat-completions server answering from a script; see the module docstring."""

    def __init__(
        self,
        script: Iterable[Entry] = (),
        responder: Callable[[dict[str, Any]], Entry] | None = None,
    ):
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self._script: deque[Entry] = deque(script)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The api_base to give litellm: `http://127.0.0.1:<port>/v1`."""
        if self._httpd is None:
            raise RuntimeError("the server is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def add(self, *entries: Entry) -> None:
        """Append entries to the script."""
        with self._lock:
            self._script.extend(entries)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The `POST /v1/chat/completions` requests so far."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def __enter__(self) -> ScriptedOpenAIServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closing.set()  # wakes handlers waiting in a Delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _record(self, request: RecordedRequest) -> Entry | None:
        with self._lock:
            self.requests.append(request)
            if request.path.endswith("/chat/completions") and self._script:
                return self._script.popleft()
        return None

    def _next_entry(self, request: RecordedRequest) -> Entry:
        entry = self._record(request)
        if entry is not None:
            return entry
        if self.responder is not None:
            return self.responder(request.json or {})
        return Status(500, error_body("ScriptedOpenAIServer: the script ran out", "server_error"))


def _handler_for(server: ScriptedOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            server._record(self._request(None))
            if self.path.rstrip("/").endswith("/models"):
                models = {"object": "list", "data": [{"id": "scripted-model", "object": "model"}]}
                self._send(200, models, {})
            else:
                self._send(404, error_body(f"no route {self.path}", code="not_found"), {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            request = self._request(body)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                server._record(request)
                self._send(404, error_body(f"no route {self.path}", code="not_found"), {})
                return
            self._answer(server._next_entry(request))

        def _request(self, body: Any) -> RecordedRequest:
            return RecordedRequest(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                json=body if isinstance(body, dict) else None,
                at=time.monotonic(),
            )

        def _answer(self, entry: Entry) -> None:
            while isinstance(entry, Delay):
                if server._closing.wait(entry.seconds):
                    return
                entry = entry.then
            if isinstance(entry, str):
                entry = Answer(entry)
            if isinstance(entry, Answer):
                self._send(200, completion_body(entry), {})
            elif isinstance(entry, dict):
                self._send(200, entry, {})
            else:
                body = entry.body if entry.body is not None else error_body(f"status {entry.code}")
                self._send(entry.code, body, entry.headers)

        def _send(self, code: int, body: dict[str, Any] | str, headers: dict[str, str]) -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing to tell it

    return Handler
