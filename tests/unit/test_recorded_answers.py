"""The LLM quality run's recorded answers: a relay folder replayed by what each request asks, not by its wording."""

from __future__ import annotations

from pathlib import Path

from llm_answers import RulesMirror
from llm_fakes import QueueChat

from bench.recorded_answers import RecordedAnswers, request_key
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.llm.chat import LLMSettings
from cartridge_bridge.planning.llm.planner import LLMPlanner


def bodies(context: ProjectContext) -> list[dict]:
    """Every request of a planner run, as the OpenAI chat bodies a server would receive."""
    chat = QueueChat(responder=RulesMirror(context))
    LLMPlanner(chat, LLMSettings(model="fake/model", batch_tokens=900)).draft(context)
    return [{"model": "scripted", "messages": r.messages} for r in chat.requests]


def test_a_request_is_keyed_by_answer_type_subject_and_round(context: ProjectContext) -> None:
    keys = [request_key(b) for b in bodies(context)]
    assert keys[0] == "PlanOutline|outline|0"
    assert "StagingAnswer|stg_shop__orders|0" in keys
    batches = [k for k in keys if k.startswith("DocsAndTestsAnswer|")]
    assert len(batches) > 1 and all(k.endswith("|0") for k in batches)
    assert len(set(keys)) == len(keys)  # each request answered by its own recording


def test_recorded_answers_are_replayed_whatever_the_wording(context: ProjectContext, tmp_path: Path) -> None:
    folder = tmp_path / "relay"
    recorder = RecordedAnswers(folder)
    first, *rest = bodies(context)
    recorder.write(first, '{"models": []}')
    recorder.write(rest[0], "second")
    assert sorted(p.name for p in (folder / "q").iterdir()) == ["001.json", "002.json"]
    assert (folder / "a" / "002.txt").read_text() == "second"
    replay = RecordedAnswers(folder)
    reworded = {"messages": [{**m, "content": m["content"].replace("Plan the dbt", "Design the dbt")}
                             for m in first["messages"]]}  # fmt: skip
    assert replay.answer(reworded) == '{"models": []}'
    reasked = {"messages": [*first["messages"], {"role": "assistant", "content": "?"}, first["messages"][1]]}
    assert replay.answer(reasked) is None  # another round: not recorded
    assert replay.answer(rest[1]) is None
    RecordedAnswers(folder).write(rest[1], "third")  # numbering goes on after what the folder holds
    assert (folder / "a" / "003.txt").read_text() == "third"
