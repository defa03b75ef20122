"""The LLM transport's pure parts: Retry-After and backoff, the answer cache, and litellm staying unimported."""

from __future__ import annotations

import json
import random
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from cartridge_bridge.files.own_files import LinkRefused
from cartridge_bridge.planning.llm.answer_cache import CACHE_VERSION, AnswerCache, cache_key, endpoint_of
from cartridge_bridge.planning.llm.backoff import MAX_WAIT_SECONDS, backoff_seconds, retry_after_seconds
from cartridge_bridge.planning.llm.chat import ChatRequest

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"Retry-After": "-3"}, 0.0),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Content-Type": "application/json"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after(headers: dict[str, str] | None, expected: float | None) -> None:
    assert retry_after_seconds(headers, now=NOW) == expected


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    for retry in range(5):
        wait = backoff_seconds(retry, 1.0, rng)
        assert 0.5 * 2**retry <= wait <= 2**retry
    assert backoff_seconds(30, 1.0, rng) == MAX_WAIT_SECONDS


def _request(text: str = "hi", schema: dict[str, object] | None = None) -> ChatRequest:
    return ChatRequest("plan", [{"role": "user", "content": text}], "Outline", schema or {"type": "object"})


def test_the_cache_key_is_the_content() -> None:
    key = cache_key("openai/gpt-4.1", "", _request())
    assert key == cache_key("openai/gpt-4.1", "", _request())
    assert len(key) == 64
    assert key != cache_key("anthropic/claude-sonnet-4-5", "", _request())
    assert key != cache_key("openai/gpt-4.1", "", _request("hello"))
    assert key != cache_key("openai/gpt-4.1", "", _request(schema={"type": "array"}))
    assert key != cache_key("openai/gpt-4.1", "http://localhost:8000/v1", _request())  # another server
    renamed = ChatRequest("plan", _request().messages, "Other", {"type": "object"})
    assert key != cache_key("openai/gpt-4.1", "", renamed)
    other_phase = ChatRequest("staging", _request().messages, "Outline", {"type": "object"})
    assert key == cache_key("openai/gpt-4.1", "", other_phase)  # the same question has the same answer


@pytest.mark.parametrize(
    ("api_base", "endpoint"),
    [
        (None, ""),
        ("", ""),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("HTTP://LocalHost:8000/v1/", "http://localhost:8000/v1"),
        ("https://user:sk-secret-123@gateway.example.com/v1?key=sk-abc#x", "https://gateway.example.com/v1"),
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434"),
    ],
)
def test_the_endpoint_in_the_key_is_normalised_and_holds_no_credential(
    api_base: str | None, endpoint: str
) -> None:
    assert endpoint_of(api_base) == endpoint


def test_the_cache_round_trips_and_ignores_what_it_cannot_read(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "llm-cache")
    key = cache_key("m/x", "", _request())
    assert cache.read(key) is None
    cache.write(key, "m/x", "Outline", '{"a": "é"}')
    assert cache.read(key) == '{"a": "é"}'
    stored = json.loads(cache.path(key).read_text(encoding="utf-8"))
    assert stored == {
        "version": CACHE_VERSION,
        "model": "m/x",
        "schema_name": "Outline",
        "text": '{"a": "é"}',
    }
    assert sorted(p.name for p in cache.folder.iterdir()) == [".gitignore", f"{key}.json"]
    assert stat.S_IMODE(cache.path(key).stat().st_mode) == 0o600  # answers may quote the schema
    cache.path(key).write_text("{not json", encoding="utf-8")
    assert cache.read(key) is None
    # Version 1 kept every answer received, rejected ones too: such a file is never read.
    cache.path(key).write_text('{"version": 1, "text": "old"}', encoding="utf-8")
    assert cache.read(key) is None


@pytest.mark.parametrize("linked", ["llm-cache", "llm-cache/.gitignore", "answer"])
def test_the_cache_in_a_projects_folder_never_writes_through_a_link(tmp_path: Path, linked: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("the user's file\n", encoding="utf-8")
    own = tmp_path / "project" / ".cartridge"
    own.mkdir(parents=True)
    cache = AnswerCache(own / "llm-cache")
    key = cache_key("m/x", "", _request())
    if linked == "llm-cache":
        (own / "llm-cache").symlink_to(outside)
    else:
        cache.folder.mkdir()
        target = cache.path(key) if linked == "answer" else cache.folder / ".gitignore"
        target.symlink_to(outside / "victim")
    with pytest.raises(LinkRefused, match="is a symlink"):
        cache.write(key, "m/x", "Outline", '{"a": 1}')
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_text(encoding="utf-8") == "the user's file\n"


def test_litellm_is_imported_only_when_a_model_is_used() -> None:
    code = (
        "import sys\n"
        "import cartridge_bridge.api, cartridge_bridge.cli.app, cartridge_bridge.cli.views\n"
        "import cartridge_bridge.planning.llm.client\n"
        "print('litellm' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
