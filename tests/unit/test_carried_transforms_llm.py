"""The LLM planner is shown the project's staging transforms, told to apply them, and asked again when it does not."""

from __future__ import annotations

import json
from typing import Any

from llm_answers import RulesMirror, Scripted, request_data, task_models
from llm_fakes import QueueChat

from cartridge_bridge.api import make_plan
from cartridge_bridge.context.existing_models import ExistingColumn, ExistingModelFacts
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.llm.chat import LLMSettings
from cartridge_bridge.planning.llm.planner import LLMPlanner
from cartridge_bridge.planning.plan import StagingSpec

# An existing staging model of the project rounding its `unit_price`, as the context knows it.
LEGACY = ExistingModelFacts(
    name="stg_legacy__charges",
    layer="staging",
    columns_from="sql",
    columns=[
        ExistingColumn(name="charge_id"),
        ExistingColumn(name="unit_price", expression="ROUND(unit_price, 2)"),
    ],
)


def test_the_staging_prompt_shows_the_transform_and_an_answer_without_it_is_asked_again(
    context: ProjectContext,
) -> None:
    converting = context.model_copy(update={"existing": {**context.existing, LEGACY.name: LEGACY}})
    mirror = RulesMirror(converting)
    draft = mirror.drafts["stg_shop__order_items"]
    assert isinstance(draft.spec, StagingSpec)
    right = json.loads(mirror.answer_for("staging", draft))
    price = next(c for c in right["columns"] if c["name"] == "unit_price")
    assert price["expression"] == "ROUND(unit_price, 2)"  # the rules planner's own answer carries it

    def unrounded(document: dict[str, Any]) -> None:
        column = next(c for c in document["columns"] if c["name"] == "unit_price")
        column.pop("expression", None)
        column["source_column"] = "unit_price"

    wrong = dict(right)
    unrounded(wrong)
    chat = QueueChat(responder=Scripted(mirror, {("staging", "stg_shop__order_items"): [json.dumps(wrong)]}))
    plan = make_plan(converting, LLMPlanner(chat, LLMSettings(model="fake/model")))

    staging = [r for r in chat.requests if r.phase == "staging"]
    first = staging[0]
    assert request_data(first)["project_transforms"] == [
        {"column": "unit_price", "expression": "ROUND(unit_price, 2)", "models": ["stg_legacy__charges"]}
    ]
    assert "must be made the same way" in first.messages[-1]["content"]
    reasked = [m["content"] for r in staging for m in r.messages[2:] if m["role"] == "user"]
    assert any(
        "unit check: `stg_shop__order_items.unit_price` is not converted like the project's `ROUND(unit_price, 2)` in "
        "stg_legacy__charges" in text
        for text in reasked
    ), reasked
    assert sum(n == "stg_shop__order_items" for r in staging for n in task_models(r)) == 2
    payments = next(a for a in plan.actions if a.name == "stg_shop__order_items")
    assert isinstance(payments.spec, StagingSpec)
    assert (
        next(c for c in payments.spec.columns if c.name == "unit_price").expression == "ROUND(unit_price, 2)"
    )


def test_without_a_matching_transform_the_staging_prompt_is_unchanged(context: ProjectContext) -> None:
    chat = QueueChat(responder=RulesMirror(context))
    make_plan(context, LLMPlanner(chat, LLMSettings(model="fake/model")))
    for request in (r for r in chat.requests if r.phase == "staging"):
        assert "project_transforms" not in request_data(request)
        assert "project_transforms" not in request.messages[-1]["content"]
