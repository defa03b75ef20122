"""The planner registry: each planner's name mapped to how a run makes it, its repairer and its usage ledger.

Adding a planner is its folder under `planning/` (a class with `name` and `draft`, see `planning.planner`)
plus one line in `PLANNERS`; `--planner NAME` and `planner:` in cartridge.yml then select it, and the API,
the CLI and the configuration need no change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cartridge_bridge.config import LLM_REPAIR_ROUNDS, CartridgeConfig
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import UsageError
from cartridge_bridge.options import ProjectOptions
from cartridge_bridge.planning.llm.chat import ChatModel, LLMSettings, UsageLedger
from cartridge_bridge.planning.llm.planner import LLMPlanner
from cartridge_bridge.planning.planner import Planner
from cartridge_bridge.planning.rules.planner import PLANNER_NAME as RULES
from cartridge_bridge.planning.rules.planner import RulesPlanner
from cartridge_bridge.progress import Progress
from cartridge_bridge.verify.llm_repairer import LLMRepairer
from cartridge_bridge.verify.repair import RelaxFailingTests, Repairer

LLM = "llm"
LLM_CACHE_DIR = Path(".cartridge") / "llm-cache"


@dataclass
class PlannerChoice:
    """Who plans and who repairs, with the usage ledger and settings of a planner that calls a model."""

    planner: Planner
    repairer: Repairer
    usage: UsageLedger | None = None  # None: a planner that calls no model, nothing to count
    settings: LLMSettings | None = None


@dataclass(frozen=True)
class PlannerRequest:
    """What a planner is made from: the command's options over the project's cartridge.yml."""

    options: ProjectOptions
    config: CartridgeConfig
    project_dir: Path
    progress: Progress


PlannerFactory = Callable[[PlannerRequest], PlannerChoice]


def llm_settings(options: ProjectOptions, config: CartridgeConfig, project_dir: Path) -> LLMSettings | None:
    """How the LLM path runs, flags over cartridge.yml; None when no model is chosen."""
    model = options.model or config.model
    if not model:
        return None
    # The file's api_base belongs to the file's model: --model openai/gpt-4.1 must not go to a local server.
    api_base = options.api_base or (config.api_base if model == config.model else None)
    if options.repair_rounds is not None:
        rounds = options.repair_rounds
    else:
        rounds = config.repair_rounds if "repair_rounds" in config.model_fields_set else LLM_REPAIR_ROUNDS
    return LLMSettings(
        model=model,
        api_base=api_base,
        timeout_seconds=config.llm_timeout_seconds,
        structured_output=options.structured_output or config.llm_structured_output,
        max_retries=config.max_retries if options.max_retries is None else options.max_retries,
        concurrency=config.concurrency if options.concurrency is None else options.concurrency,
        batch_tokens=config.llm_batch_tokens,
        repair_rounds=rounds,
        max_cost=config.max_cost if options.max_cost is None else options.max_cost,
        cache=config.cache if options.cache is None else options.cache,
        cache_dir=str(project_dir.resolve() / LLM_CACHE_DIR),
        share_samples=config.share_samples if options.share_samples is None else options.share_samples,
        fallback=options.fallback or config.fallback,
    )


def make_chat_model(settings: LLMSettings, ledger: UsageLedger) -> ChatModel:
    """The litellm-backed model for these settings (imports litellm now, not before)."""
    from cartridge_bridge.planning.llm.client import LiteLLMChat

    return LiteLLMChat(settings, ledger)


def make_llm_planner(settings: LLMSettings, chat: ChatModel, progress: Progress | None = None) -> Planner:
    """The LLM planner over a chat model: outline, specs, tests and docs, each answer checked by the plan's seam."""
    return LLMPlanner(chat, settings, progress)


def make_llm_repairer(
    settings: LLMSettings, chat: ChatModel, context: ProjectContext | None = None
) -> Repairer:
    """The LLM repairer: model errors and failing data tests sent back to the model (with `context`'s profile
    counts), failing tests it does not settle relaxed."""
    return LLMRepairer(chat, settings, RelaxFailingTests(), context)


def _rules(_request: PlannerRequest) -> PlannerChoice:
    return PlannerChoice(RulesPlanner(), RelaxFailingTests())


def _llm(request: PlannerRequest) -> PlannerChoice:
    settings = llm_settings(request.options, request.config, request.project_dir)
    if settings is None:
        raise UsageError("the llm planner needs a model: pass --model, or set model: in cartridge.yml")
    usage = UsageLedger()
    chat = make_chat_model(settings, usage)
    planner = make_llm_planner(settings, chat, request.progress)
    return PlannerChoice(planner, make_llm_repairer(settings, chat), usage, settings)


# Every planner by the name --planner and `planner:` take.
PLANNERS: dict[str, PlannerFactory] = {
    RULES: _rules,
    LLM: _llm,
}


def planner_name(options: ProjectOptions, config: CartridgeConfig) -> str:
    """The planner a run uses: --planner, else a --model flag's LLM planner, else cartridge.yml's `planner:`,
    else its `model:`'s LLM planner, else the rules; an unknown name is refused naming the known ones."""
    if options.planner:
        name, where = options.planner, "--planner"
    elif options.model:
        name, where = LLM, "--model"
    elif config.planner:
        name, where = config.planner, "planner: in cartridge.yml"
    else:
        name, where = (LLM if config.model else RULES), "model: in cartridge.yml"
    if name not in PLANNERS:
        known = ", ".join(sorted(PLANNERS))
        raise UsageError(f"{where}: unknown planner {name!r}; the known planners are {known}")
    return name


def choose_planner(
    options: ProjectOptions, config: CartridgeConfig, project_dir: Path, progress: Progress
) -> PlannerChoice:
    """The planner and repairer the registry makes for the name `planner_name` picks."""
    return PLANNERS[planner_name(options, config)](PlannerRequest(options, config, project_dir, progress))
