"""The business-answers bench's recorded model: answers served by request content, misses counted or relayed."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from bench.llm_recorded import RecordedModel, request_key
from cartridge_bridge.planning.llm.client import load_litellm

litellm = load_litellm()  # with litellm's local cost map: no network


def _ask(base_url: str, content: str) -> str:
    reply = litellm.completion(
        model="openai/recorded",
        api_base=base_url,
        api_key="sk-none",
        messages=[{"role": "user", "content": content}],
        num_retries=0,
        max_retries=0,
    )
    return str(reply.choices[0].message.content)


def test_a_recorded_answer_is_served_by_the_request_it_answers(tmp_path: Path) -> None:
    body = {"messages": [{"role": "user", "content": "plan it"}]}
    (tmp_path / f"{request_key(body)}.txt").write_text('{"models": []}', encoding="utf-8")
    recorded = RecordedModel(tmp_path)
    with recorded.server() as server:
        assert _ask(server.base_url, "plan it") == '{"models": []}'
        with pytest.raises(Exception, match="no recorded answer"):  # another prompt: not in the recording
            _ask(server.base_url, "plan it differently")
    assert recorded.served == 1
    assert len(recorded.missing) == 1


def test_the_key_ignores_what_does_not_decide_the_answer() -> None:
    messages = [{"role": "user", "content": "x"}]
    assert request_key({"model": "a", "messages": messages}) == request_key(
        {"model": "b", "messages": messages}
    )
    assert request_key({"messages": messages}) != request_key(
        {"messages": messages, "response_format": {"type": "json_object"}}
    )


def test_a_relayed_answer_is_served_and_recorded(tmp_path: Path) -> None:
    relay = tmp_path / "relay"
    recorded = RecordedModel(tmp_path / "recording", relay)

    def reader() -> None:  # the relay's reader: waits for the request file, answers it
        question = relay / "q" / "001.json"
        for _ in range(200):
            if question.is_file():
                break
            threading.Event().wait(0.05)
        request = json.loads(question.read_text())
        assert request["messages"][-1]["content"] == "describe it"
        (relay / "a" / "001.txt").write_text("described", encoding="utf-8")

    thread = threading.Thread(target=reader)
    thread.start()
    with recorded.server() as server:
        assert _ask(server.base_url, "describe it") == "described"
    thread.join()
    assert recorded.relayed == 1
    with RecordedModel(tmp_path / "recording").server() as server:  # now recorded: no relay needed
        assert _ask(server.base_url, "describe it") == "described"
