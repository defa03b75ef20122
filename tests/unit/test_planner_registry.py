"""The planner registry: which name a run plans with, flags over cartridge.yml, and an unknown name refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartridge_bridge.api import ProjectOptions, check_planner
from cartridge_bridge.config import CartridgeConfig
from cartridge_bridge.errors import UsageError
from cartridge_bridge.planners import PLANNERS, choose_planner, planner_name
from cartridge_bridge.planning.llm.planner import LLMPlanner
from cartridge_bridge.planning.rules.planner import RulesPlanner
from cartridge_bridge.progress import SilentProgress
from cartridge_bridge.verify.llm_repairer import LLMRepairer
from cartridge_bridge.verify.repair import RelaxFailingTests


@pytest.mark.parametrize(
    ("options", "config", "expected"),
    [
        (ProjectOptions(), CartridgeConfig(), "rules"),
        (ProjectOptions(), CartridgeConfig(model="openai/gpt-4.1"), "llm"),
        (ProjectOptions(model="openai/gpt-4.1"), CartridgeConfig(), "llm"),
        # --model still implies the LLM planner over the file's `planner:`; --planner wins over both.
        (ProjectOptions(model="openai/gpt-4.1"), CartridgeConfig(planner="rules"), "llm"),
        (ProjectOptions(planner="rules", model="openai/gpt-4.1"), CartridgeConfig(), "rules"),
        (ProjectOptions(), CartridgeConfig(planner="rules", model="openai/gpt-4.1"), "rules"),
        (ProjectOptions(planner="llm"), CartridgeConfig(model="openai/gpt-4.1"), "llm"),
    ],
)
def test_the_planner_name_takes_flags_over_the_file(
    options: ProjectOptions, config: CartridgeConfig, expected: str
) -> None:
    assert planner_name(options, config) == expected


def test_an_unknown_planner_is_refused_naming_it_where_it_came_from_and_the_known_ones() -> None:
    with pytest.raises(UsageError) as flag:
        planner_name(ProjectOptions(planner="ruels"), CartridgeConfig())
    assert str(flag.value) == "--planner: unknown planner 'ruels'; the known planners are llm, rules"
    assert flag.value.exit_code == 2
    with pytest.raises(UsageError, match=r"^planner: in cartridge.yml: unknown planner 'gpt'"):
        planner_name(ProjectOptions(), CartridgeConfig(planner="gpt"))


def test_check_planner_reads_the_projects_file_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: p\n", encoding="utf-8")
    (tmp_path / "cartridge.yml").write_text("planner: toy\n", encoding="utf-8")
    with pytest.raises(UsageError, match="unknown planner 'toy'"):
        check_planner(ProjectOptions(project_dir=tmp_path))
    assert check_planner(ProjectOptions(project_dir=tmp_path, planner="rules")) == "rules"


def test_the_registry_makes_each_planner_with_its_repairer(tmp_path: Path) -> None:
    rules = choose_planner(ProjectOptions(), CartridgeConfig(), tmp_path, SilentProgress())
    assert isinstance(rules.planner, RulesPlanner) and type(rules.repairer) is RelaxFailingTests
    assert rules.usage is None and rules.settings is None
    llm = choose_planner(
        ProjectOptions(model="openai/gpt-4.1", cache=False), CartridgeConfig(), tmp_path, SilentProgress()
    )
    assert isinstance(llm.planner, LLMPlanner) and isinstance(llm.repairer, LLMRepairer)
    assert llm.usage is not None and llm.settings is not None and llm.settings.model == "openai/gpt-4.1"


def test_the_llm_planner_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="the llm planner needs a model"):
        choose_planner(ProjectOptions(planner="llm"), CartridgeConfig(), tmp_path, SilentProgress())


def test_every_registered_planner_is_named_in_the_docs() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in PLANNERS:
        assert f"`{name}`" in docs


def test_plan_and_generate_take_the_one_list_of_planner_flags() -> None:
    import typer

    from cartridge_bridge.cli.app import _PLANNER_FLAGS, app

    group = typer.main.get_command(app)
    shared = set(_PLANNER_FLAGS)
    for name in ("plan", "generate"):
        command = group.commands[name]  # type: ignore[attr-defined]
        assert shared <= {p.name for p in command.params}, name
    assert "--planner" in {o for p in group.commands["demo"].params for o in p.opts}  # type: ignore[attr-defined]


def test_the_planner_flags_reach_the_options_and_absent_ones_leave_the_file_its_say() -> None:
    from cartridge_bridge.cli.app import Fallback, PlannerFlags

    flags = PlannerFlags(
        planner="rules", model="", api_base=None, share_samples=True, concurrency=3, max_retries=None,
        max_cost=0.5, no_cache=True, fallback=Fallback.rules, structured_output=None, semantic_models=False,
        modify_existing=True,
    )  # fmt: skip
    options = flags.apply_to(ProjectOptions(), repair_rounds=1)
    assert (options.planner, options.model, options.share_samples, options.concurrency) == (
        "rules",
        None,
        True,
        3,
    )
    assert (options.max_retries, options.max_cost, options.cache, options.fallback) == (
        None,
        0.5,
        False,
        "rules",
    )
    assert (options.repair_rounds, options.semantic_models, options.structured_output) == (1, False, None)
    assert options.modify_existing is True


def test_a_planners_drafts_are_checked_once_where_they_are_placed_and_a_misfit_is_failed_work(
    tmp_path: Path,
) -> None:
    from support import shop_project
    from unit.test_rules_extensions_rollups import DESK

    from cartridge_bridge.api import make_plan
    from cartridge_bridge.config import Conventions
    from cartridge_bridge.context.project_context import build_context
    from cartridge_bridge.errors import PlannerPlanError
    from cartridge_bridge.gather.facts import ProfileSettings, WarehouseFacts
    from cartridge_bridge.gather.manifest import Manifest, Metadata
    from cartridge_bridge.planning.planner import PlanDraft

    facts = WarehouseFacts(
        cartridge_gather_version=1,
        adapter_type="postgres",
        schemas=["raw"],
        relations=list(DESK),
        profile=ProfileSettings(top_values_limit=10),
    )
    context = build_context(
        shop_project(tmp_path), Manifest(metadata=Metadata(project_name="shop")), facts, Conventions()
    )

    class TwiceTheFirstModel:
        """A planner whose drafts name one model twice: its own output, not the user's input."""

        name = "twice"

        def draft(self, context):  # type: ignore[no-untyped-def]
            draft: PlanDraft = RulesPlanner().draft(context)
            draft.models.append(draft.models[0])
            return draft

    assert make_plan(context, RulesPlanner()).actions  # the rules' own drafts fit
    with pytest.raises(PlannerPlanError) as misfit:
        make_plan(context, TwiceTheFirstModel())
    assert misfit.value.exit_code == 1
    assert str(misfit.value).startswith("the twice planner's plan has")
    assert str(misfit.value).endswith("nothing was written")
    assert misfit.value.problems
