"""What a command asks for: the project, the tables, how to write, and which planner with which settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cartridge_bridge.files.yaml_merge import ConflictPolicy
from cartridge_bridge.planning.llm.chat import StructuredOutput


@dataclass
class ProjectOptions:
    """Where the project is and what to model; None means "take it from cartridge.yml"."""

    project_dir: Path = Path(".")
    profiles_dir: Path | None = None
    target: str | None = None
    schemas: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    source_name: str | None = None
    on_conflict: ConflictPolicy | None = None
    dry_run: bool = False
    build: bool | None = None
    repair_rounds: int | None = None
    # Who plans: a name in the planner registry (`planners.PLANNERS`); None: `planner:` in cartridge.yml, else
    # the LLM planner when a model is chosen, else the rules.
    planner: str | None = None
    # The LLM planner's settings (None: take it from cartridge.yml); see planners.llm_settings.
    model: str | None = None
    api_base: str | None = None
    share_samples: bool | None = None
    concurrency: int | None = None
    max_retries: int | None = None
    max_cost: float | None = None
    cache: bool | None = None
    fallback: Literal["none", "rules"] | None = None
    structured_output: StructuredOutput | None = None
    profile: bool | None = (
        None  # read row, null and distinct counts to find keys (see CartridgeConfig.profile)
    )
    semantic_models: bool | None = None  # semantic models and metrics for the marts (see CartridgeConfig)
    modify_existing: bool | None = None  # new measures into the existing mart itself (see CartridgeConfig)
