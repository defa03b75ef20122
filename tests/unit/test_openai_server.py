"""The scripted OpenAI-compatible server that LLM tests talk to: its script, its responder, its records."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from openai_server import Answer, ScriptedOpenAIServer, Status, error_body


def _post(server: ScriptedOpenAIServer, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer test-key"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


def test_answers_from_the_script_then_the_responder() -> None:
    script = [
        "hello",
        Answer("counted", prompt_tokens=3, completion_tokens=4),
        {"custom": True},
        Status(429, headers={"Retry-After": "1"}),
    ]
    with ScriptedOpenAIServer(
        script, responder=lambda body: f"echo {body['messages'][0]['content']}"
    ) as server:
        status, _, first = _post(server, {"model": "m", "messages": [{"role": "user", "content": "a"}]})
        assert status == 200
        assert first["choices"][0]["message"] == {"role": "assistant", "content": "hello"}
        assert first["usage"]["total_tokens"] == first["usage"]["prompt_tokens"] + 1
        _, _, second = _post(server, {"messages": []})
        assert second["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        assert _post(server, {"messages": []})[2] == {"custom": True}
        status, headers, body = _post(server, {"messages": []})
        assert (status, headers["Retry-After"]) == (429, "1")
        assert body == error_body("status 429")
        _, _, echoed = _post(server, {"messages": [{"role": "user", "content": "b"}]})
        assert echoed["choices"][0]["message"]["content"] == "echo b"
        assert len(server.chat_requests) == 5
        assert server.requests[0].headers["authorization"] == "Bearer test-key"
        assert server.requests[0].json == {"model": "m", "messages": [{"role": "user", "content": "a"}]}


def test_an_exhausted_script_answers_500_and_models_are_listed() -> None:
    with ScriptedOpenAIServer() as server:
        status, _, body = _post(server, {"messages": []})
        assert status == 500 and "ran out" in body["error"]["message"]
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as response:
            assert json.load(response)["data"][0]["id"] == "scripted-model"
        assert [r.method for r in server.requests] == ["POST", "GET"]


def test_base_url_needs_a_running_server() -> None:
    with pytest.raises(RuntimeError):
        _ = ScriptedOpenAIServer().base_url
