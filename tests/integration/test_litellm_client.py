"""LiteLLMChat through the real litellm call path, against a scripted OpenAI-compatible server on 127.0.0.1.

Nothing of litellm is mocked: each test scripts the server's answers and reads the requests it recorded.
`openai/test` is a model litellm cannot price (cost unknown) nor knows the schema support of; at an api_base
it is an OpenAI-compatible server, which `auto` sends response_format json_schema. `openai/gpt-4.1` is in
its local cost map and takes response_format, and litellm sends it to the same local server.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from openai_server import Answer, Delay, ScriptedOpenAIServer, Status, error_body
from pydantic import BaseModel, ConfigDict

from cartridge_bridge.errors import BudgetExceeded, LLMError
from cartridge_bridge.planning.llm.asking import AnswerRejected, Asker
from cartridge_bridge.planning.llm.chat import ChatReply, ChatRequest, LLMSettings, Phase, UsageLedger
from cartridge_bridge.planning.llm.client import PLACEHOLDER_KEY, LiteLLMChat

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "columns": {"type": "array", "items": {"type": "string"}}},
    "required": ["name"],
}


def ask(text: str = "Plan the raw tables.", phase: Phase = "plan", schema: bool = True) -> ChatRequest:
    return ChatRequest(
        phase=phase,
        messages=[{"role": "system", "content": "You plan dbt models."}, {"role": "user", "content": text}],
        schema_name="PlanOutline",
        response_schema=SCHEMA if schema else None,
    )


@pytest.fixture(autouse=True)
def _no_provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as running:
        yield running


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path / "project"


def make_chat(
    server: ScriptedOpenAIServer, project: Path, ledger: UsageLedger | None = None, **settings: Any
) -> LiteLLMChat:
    values: dict[str, Any] = {
        "model": "openai/test",
        "api_base": server.base_url,
        "timeout_seconds": 5.0,
        "backoff_seconds": 0.01,
        "cache_dir": str(project / ".cartridge" / "llm-cache"),
        **settings,
    }
    return LiteLLMChat(LLMSettings(**values), ledger or UsageLedger())


def test_a_plain_answer_with_its_tokens_and_an_unknown_cost(
    server: ScriptedOpenAIServer, project: Path
) -> None:
    server.add(Answer('{"name": "stg_shop__orders"}', prompt_tokens=42, completion_tokens=7))
    ledger = UsageLedger()
    reply = make_chat(server, project, ledger, cache=False).complete(ask())
    assert reply.text == '{"name": "stg_shop__orders"}'
    assert (reply.input_tokens, reply.output_tokens, reply.cost, reply.cached) == (42, 7, None, False)
    [request] = server.chat_requests
    assert request.json is not None
    assert request.json["model"] == "test"
    assert request.headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"
    assert "tools" not in request.json
    # litellm's table does not know openai/test, but an OpenAI-compatible server at an api_base takes json_schema.
    assert request.json["response_format"]["type"] == "json_schema"
    assert request.json["messages"][0]["content"] == "You plan dbt models."
    assert ledger.phases["plan"].calls == 1
    assert ledger.total_cost() is None


def test_429_waits_as_retry_after_says(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add(Status(429, headers={"Retry-After": "0.4"}), "done")
    # A backoff of 30 s would fail the test: only Retry-After can make the wait this short.
    reply = make_chat(server, project, backoff_seconds=30.0, cache=False).complete(ask())
    assert reply.text == "done"
    first, second = server.chat_requests
    assert 0.4 <= second.at - first.at < 3


def test_two_500s_then_an_answer(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add(Status(500), Status(502, "<html>bad gateway</html>"), "third time")
    assert make_chat(server, project, cache=False).complete(ask()).text == "third time"
    assert len(server.chat_requests) == 3


def test_retries_exhausted_name_the_last_status(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add(Status(503), Status(503), Status(503), "never asked")
    with pytest.raises(LLMError) as raised:
        make_chat(server, project, transport_retries=2, cache=False).complete(ask())
    message = str(raised.value)
    assert "openai/test" in message and "after 2 retries (last: HTTP 503)" in message
    assert "\n" not in message
    assert len(server.chat_requests) == 3


def test_a_dropped_connection_is_retried_then_named(project: Path) -> None:
    with ScriptedOpenAIServer() as gone:
        api_base = gone.base_url  # the port is closed once the server stops
    chat = LiteLLMChat(
        LLMSettings(
            model="openai/test", api_base=api_base, transport_retries=1, backoff_seconds=0.01, cache=False
        ),
        UsageLedger(),
    )
    with pytest.raises(
        LLMError, match=r"still failed after 1 retry \(last: no connection to http://127\.0\.0\.1:\d+/v1\)"
    ):
        chat.complete(ask())


def test_a_timeout_is_one_line_that_says_the_timeout(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add(Delay(5, "too late"))
    started = time.monotonic()
    with pytest.raises(LLMError) as raised:
        make_chat(server, project, timeout_seconds=0.3, cache=False).complete(ask())
    assert time.monotonic() - started < 3
    message = str(raised.value)
    assert "openai/test" in message and "0.3 s" in message and "\n" not in message
    assert len(server.chat_requests) == 1  # a slow model is not asked again


def test_401_names_the_variable_never_the_key(
    server: ScriptedOpenAIServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"sk-canary-{secrets.token_hex(8)}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    server.add(Status(401, error_body(f"Incorrect API key provided: {key}", code="invalid_api_key")))
    with pytest.raises(LLMError) as raised:
        make_chat(server, project, cache=False).complete(ask())
    message = str(raised.value)
    assert "authentication failed" in message and "OPENAI_API_KEY" in message and "openai/test" in message
    assert key not in message and key[10:] not in message
    assert raised.value.exit_code == 1


def test_401_without_a_key_says_it_is_not_set(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add(Status(401))
    with pytest.raises(LLMError, match="OPENAI_API_KEY, which is not set"):
        make_chat(server, project, cache=False).complete(ask())


def test_404_model_not_found(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add(Status(404, error_body("The model `test` does not exist", code="model_not_found")))
    with pytest.raises(LLMError) as raised:
        make_chat(server, project, cache=False).complete(ask())
    assert "openai/test" in str(raised.value) and "does not know this model" in str(raised.value)


def test_context_length_exceeded(server: ScriptedOpenAIServer, project: Path) -> None:
    body = error_body("Too many tokens: 9000 > 8192.", code="context_length_exceeded")
    server.add(Status(400, body))
    with pytest.raises(LLMError) as raised:
        make_chat(server, project, cache=False).complete(ask(phase="staging"))
    message = str(raised.value)
    assert "openai/test" in message and "staging prompt" in message and "context window" in message
    assert len(server.chat_requests) == 1


def test_an_unknown_model_string_is_refused_before_any_call(project: Path) -> None:
    with pytest.raises(LLMError, match="unknown model 'gpt-nonsense'"):
        LiteLLMChat(LLMSettings(model="gpt-nonsense", cache=False), UsageLedger())


def test_response_format_carries_the_schema_when_the_model_takes_it(
    server: ScriptedOpenAIServer, project: Path
) -> None:
    server.add('{"name": "x"}')
    make_chat(server, project, model="openai/gpt-4.1", cache=False).complete(ask())
    [request] = server.chat_requests
    assert request.json is not None
    assert request.json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "PlanOutline", "schema": SCHEMA, "strict": False},
    }
    assert request.json["messages"][0]["content"] == "You plan dbt models."


def test_auto_steps_down_when_the_endpoint_refuses_a_response_format(
    server: ScriptedOpenAIServer, project: Path
) -> None:
    rejected = error_body("Invalid parameter: 'response_format' of type 'json_schema' is not supported.")
    refused_object = error_body("'response_format.type' must be 'json_schema' or 'text'")
    server.add(Status(400, rejected), '{"name": "x"}', Status(400, refused_object), '{"name": "y"}', "{}")
    chat = make_chat(server, project, model="openai/gpt-4.1", cache=False)
    assert chat.complete(ask()).text == '{"name": "x"}'
    assert chat.complete(ask("again")).text == '{"name": "y"}'
    assert chat.complete(ask("third")).text == "{}"
    sent = [r.json or {} for r in server.chat_requests]
    assert sent[0]["response_format"]["type"] == "json_schema"
    assert [s["response_format"]["type"] for s in sent[1:3]] == ["json_object", "json_object"]
    assert "response_format" not in sent[3] and "response_format" not in sent[4]  # once refused, never again
    for later in sent[1:]:
        assert "PlanOutline" in later["messages"][0]["content"]
        assert json.dumps(SCHEMA, separators=(",", ":")) in later["messages"][0]["content"]
    assert chat.mode == "none"


def test_a_cache_hit_makes_no_request_and_costs_nothing(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add(Answer('{"name": "x"}', 1000, 1000), '{"name": "y"}')
    ledger = UsageLedger()
    chat = make_chat(server, project, ledger, model="openai/gpt-4.1")
    unaccepted = chat.complete(ask())
    assert not list(project.rglob("*.json"))  # received is not accepted: nothing kept yet
    first = chat.complete(ask())
    chat.accepted(ask(), first)
    second = chat.complete(ask())
    assert len(server.chat_requests) == 2
    assert (unaccepted.cached, first.cached, second.cached) == (False, False, True)
    assert second.text == first.text == '{"name": "y"}' and second.cost == 0
    assert ledger.phases["plan"].calls == 3 and ledger.phases["plan"].cached_calls == 1
    files = list((project / ".cartridge" / "llm-cache").glob("*.json"))
    assert len(files) == 1


def test_cache_off_asks_every_time_and_writes_nothing(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add("one", "two")
    chat = make_chat(server, project, cache=False)
    replies = [chat.complete(ask()), chat.complete(ask())]
    for reply in replies:
        chat.accepted(ask(), reply)
    assert [r.text for r in replies] == ["one", "two"]
    assert not (project / ".cartridge").exists()


def test_max_cost_stops_before_the_call(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add("never")
    with pytest.raises(BudgetExceeded) as raised:
        make_chat(server, project, model="openai/gpt-4.1", max_cost=0.001, cache=False).complete(ask())
    message = str(raised.value)
    assert "$0.0000 spent so far" in message and "--max-cost $0.0010" in message and "\n" not in message
    assert server.requests == []


def test_max_cost_counts_what_was_spent(server: ScriptedOpenAIServer, project: Path) -> None:
    # gpt-4.1: $2 / $8 per million tokens, so each answer costs $0.01; a call is estimated at a
    # 4,096-token answer (≈ $0.033), so the third call would pass $0.05.
    server.add(*(Answer("{}", 1000, 1000) for _ in range(3)))
    ledger = UsageLedger()
    chat = make_chat(server, project, ledger, model="openai/gpt-4.1", max_cost=0.05, cache=False)
    chat.complete(ask("one"))
    chat.complete(ask("two"))
    with pytest.raises(BudgetExceeded, match=r"\$0\.0200 spent so far"):
        chat.complete(ask("three"))
    assert len(server.chat_requests) == 2
    assert ledger.total_cost() == pytest.approx(0.02)


def test_a_model_without_a_price_is_not_limited(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add("free")
    reply = make_chat(server, project, max_cost=0.0, cache=False).complete(ask())
    assert reply.text == "free" and reply.cost is None


def test_the_ledger_totals_each_phase(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add(Answer("a", 1000, 100), Answer("b", 2000, 200), Answer("c", 3000, 300))
    ledger = UsageLedger()
    chat = make_chat(server, project, ledger, model="openai/gpt-4.1", cache=False)
    chat.complete(ask("outline", phase="plan"))
    chat.complete(ask("orders", phase="staging"))
    chat.complete(ask("customers", phase="staging"))
    plan, staging = ledger.phases["plan"], ledger.phases["staging"]
    assert (plan.calls, plan.input_tokens, plan.output_tokens) == (1, 1000, 100)
    assert (staging.calls, staging.input_tokens, staging.output_tokens) == (2, 5000, 500)
    assert plan.cost == pytest.approx(1000 * 2e-6 + 100 * 8e-6)
    assert staging.cost == pytest.approx(5000 * 2e-6 + 500 * 8e-6)
    assert ledger.total_cost() == pytest.approx(6000 * 2e-6 + 600 * 8e-6)


def test_calls_from_many_threads(server: ScriptedOpenAIServer, project: Path) -> None:
    server.responder = lambda body: Delay(0.05, Answer(body["messages"][-1]["content"].upper(), 10, 2))
    ledger = UsageLedger()
    chat = make_chat(server, project, ledger)
    texts = [f"table {n}" for n in range(16)]

    def asked(text: str) -> ChatReply:
        reply = chat.complete(ask(text, phase="staging"))
        chat.accepted(ask(text, phase="staging"), reply)
        return reply

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(asked, texts))
    assert [r.text for r in replies] == [t.upper() for t in texts]
    assert ledger.phases["staging"].calls == 16 and ledger.phases["staging"].input_tokens == 160
    assert len(list((project / ".cartridge" / "llm-cache").glob("*.json"))) == 16


def test_the_api_key_goes_only_into_the_authorization_header(
    server: ScriptedOpenAIServer,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    key = f"sk-canary-{secrets.token_hex(12)}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    caplog.set_level(logging.DEBUG)
    echo = error_body(f"Incorrect API key provided: {key}", code="invalid_api_key")
    server.add(Status(500), '{"name": "x"}', Status(401, echo), Status(400, error_body(f"bad {key}")))
    chat = make_chat(server, project, model="openai/gpt-4.1")
    chat.accepted(ask("first"), chat.complete(ask("first")))
    assert chat.complete(ask("first")).cached
    messages = []
    for text in ("second", "third"):
        with pytest.raises(LLMError) as raised:
            chat.complete(ask(text))
        messages.append(str(raised.value))
    output = capfd.readouterr()
    for seen in (*messages, caplog.text, output.out, output.err):
        assert key not in seen
    files = [path for path in project.rglob("*") if path.is_file()]
    assert files  # the cache was written
    for path in files:
        assert key.encode() not in path.read_bytes(), path
    for request in server.requests:
        assert request.headers["authorization"] == f"Bearer {key}"
        others = {name: value for name, value in request.headers.items() if name != "authorization"}
        assert key not in json.dumps(others) and key not in json.dumps(request.json)


def test_nothing_but_the_provider_is_contacted(server: ScriptedOpenAIServer, tmp_path: Path) -> None:
    """In a fresh interpreter, every socket connection during import and a priced, budgeted call is recorded."""
    server.add('{"name": "x"}')
    script = f"""
import sys
connections = []
def hook(event, args):
    if event == "socket.connect":
        connections.append(str(args[1]).replace(" ", ""))
sys.addaudithook(hook)
from cartridge_bridge.planning.llm.chat import ChatRequest, LLMSettings, UsageLedger
from cartridge_bridge.planning.llm.client import LiteLLMChat
settings = LLMSettings(model="openai/gpt-4.1", api_base={server.base_url!r}, max_cost=1.0, cache=False)
chat = LiteLLMChat(settings, UsageLedger())
chat.complete(ChatRequest("plan", [{{"role": "user", "content": "hi"}}], "X", {{"type": "object"}}))
print("\\n".join(connections))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    port = server.base_url.split(":")[2].split("/")[0]
    connections = result.stdout.split()
    assert connections, "no connection was recorded"
    assert all(c == f"('127.0.0.1',{port})" for c in connections), connections
    assert result.stderr == ""


class Named(BaseModel):
    """A small answer type for the seam: one name, nothing else."""

    model_config = ConfigDict(extra="forbid")
    name: str


def ask_named(chat: LiteLLMChat, retries: int = 1) -> Named:
    """One typed answer through the seam (pydantic validation, re-asks), as the planner asks."""
    messages = [
        {"role": "system", "content": "You plan dbt models."},
        {"role": "user", "content": "Name it."},
    ]
    return Asker(chat, retries).ask("plan", "the name", messages, Named)


SCHEMA_TEXT = json.dumps(Named.model_json_schema(), separators=(",", ":"))


@pytest.mark.parametrize(
    ("setting", "sent_format"),
    [
        ("auto", "json_schema"),  # openai/test at an api_base: an OpenAI-compatible server
        ("json_schema", "json_schema"),
        ("json_object", "json_object"),
        ("none", None),
    ],
)
def test_each_structured_output_mode_sends_the_schema_once_and_validates_alike(
    server: ScriptedOpenAIServer, project: Path, setting: str, sent_format: str | None
) -> None:
    server.add('{"name": 7}', '{"name": "orders"}')  # the first answer fails validation in every mode
    chat = make_chat(server, project, cache=False, structured_output=setting)
    assert ask_named(chat) == Named(name="orders")
    first, reask = (r.json or {} for r in server.chat_requests)
    for sent in (first, reask):
        in_messages = sum(m["content"].count(SCHEMA_TEXT) for m in sent["messages"])
        if sent_format == "json_schema":
            assert sent["response_format"] == {
                "type": "json_schema",
                "json_schema": {"name": "Named", "schema": Named.model_json_schema(), "strict": False},
            }
            assert in_messages == 0
        else:
            assert sent.get("response_format") == ({"type": "json_object"} if sent_format else None)
            assert in_messages == 1  # in the system message, once, also in the re-ask's longer conversation
            assert SCHEMA_TEXT in sent["messages"][0]["content"]
    assert "name: Input should be a valid string (got 7)" in reask["messages"][-1]["content"]


def test_a_mode_that_was_set_is_not_stepped_down_but_named(
    server: ScriptedOpenAIServer, project: Path
) -> None:
    refused = error_body("'response_format.type' must be 'json_schema' or 'text'")
    server.add(Status(400, refused), '{"name": "never asked"}')
    chat = make_chat(server, project, cache=False, structured_output="json_object")
    with pytest.raises(LLMError) as raised:
        chat.complete(ask())
    message = str(raised.value)
    assert "refused response_format json_object" in message and "llm_structured_output" in message
    assert "to none" in message and "\n" not in message
    assert len(server.chat_requests) == 1


def test_only_accepted_answers_are_cached_and_another_server_is_asked(
    server: ScriptedOpenAIServer, project: Path
) -> None:
    server.add('{"name": 1}', '{"name": "from_a"}')  # rejected by validation, then accepted after the re-ask
    chat = make_chat(server, project)
    assert ask_named(chat).name == "from_a"
    texts = [json.loads(f.read_text())["text"] for f in (project / ".cartridge" / "llm-cache").glob("*.json")]
    assert texts == ['{"name": "from_a"}']  # the rejected answer is not kept
    # Another server behind the same model name is asked, not served what the first one said.
    with ScriptedOpenAIServer(['{"name": "from_b"}']) as other:
        assert ask_named(make_chat(other, project)).name == "from_b"
        assert len(other.chat_requests) == 1
    # The accepted answer is served from the cache for the first question, even with its server down.
    stopped = server.base_url
    server.__exit__(None, None, None)
    ledger = UsageLedger()
    chat = LiteLLMChat(
        LLMSettings(
            model="openai/test", api_base=stopped, cache_dir=str(project / ".cartridge" / "llm-cache")
        ),
        ledger,
    )
    assert ask_named(chat).name == "from_a"
    assert ledger.phases["plan"].cached_calls == 1


def test_rejected_answers_are_never_replayed(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add('{"name": 1}', '{"title": "x"}', '{"name": "accepted"}')
    with pytest.raises(AnswerRejected):
        ask_named(make_chat(server, project))
    assert not list(project.rglob("*.json"))
    ledger = UsageLedger()
    assert ask_named(make_chat(server, project, ledger)).name == "accepted"  # asked again, not replayed
    assert len(server.chat_requests) == 3 and ledger.phases["plan"].cached_calls == 0


def test_the_ledger_counts_reasks(server: ScriptedOpenAIServer, project: Path) -> None:
    server.add('{"name": 1}', '{"name": 2}', '{"name": "ok"}')
    ledger = UsageLedger()
    ask_named(make_chat(server, project, ledger, cache=False), retries=2)
    assert (ledger.phases["plan"].calls, ledger.phases["plan"].reasks) == (3, 2)
