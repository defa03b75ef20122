"""The LLM path's options: cartridge.yml keys, flags over the file, llm_settings, and the usage table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console

from cartridge_bridge.api import ProjectOptions, llm_settings
from cartridge_bridge.cli.app import app
from cartridge_bridge.cli.views import show_usage
from cartridge_bridge.config import LLM_REPAIR_ROUNDS, CartridgeConfig, load_config
from cartridge_bridge.errors import UsageError
from cartridge_bridge.planning.llm.chat import ChatReply, UsageLedger


def test_no_model_means_the_rules_planner(tmp_path: Path) -> None:
    assert llm_settings(ProjectOptions(), CartridgeConfig(), tmp_path) is None
    assert llm_settings(ProjectOptions(model=""), CartridgeConfig(), tmp_path) is None


def test_the_defaults_with_a_model(tmp_path: Path) -> None:
    settings = llm_settings(ProjectOptions(model="openai/gpt-4.1"), CartridgeConfig(), tmp_path)
    assert settings is not None
    assert (settings.model, settings.api_base, settings.concurrency, settings.max_retries) == (
        "openai/gpt-4.1", None, 8, 2
    )  # fmt: skip
    assert settings.repair_rounds == LLM_REPAIR_ROUNDS == 2
    assert (settings.max_cost, settings.cache, settings.share_samples, settings.fallback) == (
        None, True, False, "none"
    )  # fmt: skip
    assert settings.cache_dir == str(tmp_path.resolve() / ".cartridge" / "llm-cache")
    assert settings.timeout_seconds == 120.0
    assert settings.structured_output == "auto"


def test_the_file_then_the_flags(tmp_path: Path) -> None:
    (tmp_path / "cartridge.yml").write_text(
        "model: ollama/qwen2.5-coder\n"
        "api_base: http://localhost:11434\n"
        "concurrency: 2\n"
        "max_retries: 1\n"
        "repair_rounds: 3\n"
        "max_cost: 0.5\n"
        "cache: false\n"
        "share_samples: true\n"
        "fallback: rules\n"
        "llm_timeout_seconds: 600\n"
        "llm_batch_tokens: 4000\n"
        "llm_structured_output: json_object\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path)
    from_file = llm_settings(ProjectOptions(), config, tmp_path)
    assert from_file is not None
    assert (from_file.model, from_file.api_base, from_file.concurrency, from_file.max_retries) == (
        "ollama/qwen2.5-coder", "http://localhost:11434", 2, 1
    )  # fmt: skip
    assert (from_file.repair_rounds, from_file.max_cost, from_file.cache, from_file.share_samples) == (
        3, 0.5, False, True
    )  # fmt: skip
    assert (from_file.fallback, from_file.timeout_seconds, from_file.batch_tokens) == ("rules", 600.0, 4000)
    assert from_file.structured_output == "json_object"
    flags = ProjectOptions(
        model="ollama/qwen2.5-coder", api_base="http://gpu:11434", concurrency=16, max_retries=0,
        repair_rounds=0, max_cost=2.0, cache=True, share_samples=False, fallback="none",
        structured_output="none",
    )  # fmt: skip
    overridden = llm_settings(flags, config, tmp_path)
    assert overridden is not None
    assert (overridden.api_base, overridden.concurrency, overridden.max_retries) == (
        "http://gpu:11434",
        16,
        0,
    )
    assert (overridden.repair_rounds, overridden.max_cost, overridden.cache) == (0, 2.0, True)
    assert (overridden.share_samples, overridden.fallback, overridden.structured_output) == (
        False,
        "none",
        "none",
    )


def test_the_files_api_base_stays_with_the_files_model(tmp_path: Path) -> None:
    config = CartridgeConfig(model="ollama/qwen2.5-coder", api_base="http://localhost:11434")
    settings = llm_settings(ProjectOptions(model="openai/gpt-4.1"), config, tmp_path)
    assert settings is not None and settings.api_base is None


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("concurrency: 0\n", "concurrency"),
        ("max_cost: -1\n", "max_cost"),
        ("fallback: llm\n", "fallback"),
        ("cache: sometimes\n", "cache"),
        ("api_key: sk-nope\n", "api_key"),
        ("llm_batch_tokens: 10\n", "llm_batch_tokens"),
        ("llm_structured_output: tools\n", "llm_structured_output"),
    ],
)
def test_bad_llm_keys_are_named(tmp_path: Path, text: str, culprit: str) -> None:
    (tmp_path / "cartridge.yml").write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=culprit):
        load_config(tmp_path)


def _params(command: str) -> dict[str, Any]:
    group: Any = typer.main.get_command(app)  # typer's own click group
    return {p.name: p for p in group.commands[command].params if p.name}


@pytest.mark.parametrize("command", ["plan", "generate"])
def test_plan_and_generate_take_the_llm_flags(command: str) -> None:
    params = _params(command)
    for name in (
        "model",
        "api_base",
        "share_samples",
        "concurrency",
        "max_retries",
        "max_cost",
        "no_cache",
        "fallback",
        "structured_output",
    ):
        assert name in params, name
    assert params["model"].envvar == "CARTRIDGE_MODEL"
    assert ("repair_rounds" in params) == (command == "generate")  # plan never builds, so never repairs


def test_demo_takes_a_model() -> None:
    params = _params("demo")
    assert params["model"].envvar == "CARTRIDGE_MODEL" and "api_base" in params


def test_show_usage_per_phase_and_total() -> None:
    ledger = UsageLedger()
    ledger.record("plan", ChatReply("{}", input_tokens=1200, output_tokens=300, cost=0.0048))
    ledger.record("staging", ChatReply("{}", input_tokens=800, output_tokens=200, cost=0.0032))
    ledger.record("staging", ChatReply("{}", cost=0.0, cached=True))
    ledger.record("staging", ChatReply("{}", input_tokens=900, output_tokens=100, cost=0.001), reask=True)
    console = Console(record=True, width=140)
    show_usage(console, ledger)
    text = console.export_text()
    assert "re-asks" in text
    rows = [line.replace("│", " ").split() for line in text.splitlines()]
    lines = {row[0]: row[1:] for row in rows if row}
    assert lines["plan"] == ["1", "0", "0", "1,200", "300", "$0.0048"]
    assert lines["staging"] == ["3", "1", "1", "1,700", "300", "$0.0042"]
    assert lines["total"] == ["4", "1", "1", "2,900", "600", "$0.0090"]
    assert text.index("plan") < text.index("staging")


def test_show_usage_says_unknown_for_an_unpriced_model() -> None:
    ledger = UsageLedger()
    ledger.record("plan", ChatReply("{}", input_tokens=10, output_tokens=5, cost=None))
    console = Console(record=True, width=120)
    show_usage(console, ledger)
    text = console.export_text()
    assert [line.split()[-1] for line in text.splitlines() if line.split()[:1] in (["plan"], ["total"])] == [
        "unknown", "unknown"
    ]  # fmt: skip
