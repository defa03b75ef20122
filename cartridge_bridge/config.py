"""Project settings from `cartridge.yml` at the project root, strictly validated; flags override them."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cartridge_bridge.errors import UsageError, first_problem

CONFIG_FILE = "cartridge.yml"
DEFAULT_VENDOR_DIR = "vendor/cartridge"

# Defaults shared by cartridge.yml and the LLM path's settings, defined here once.
# Failed builds repaired and built again: the rules planner relaxes tests for free, so it gets more rounds than
# a model, whose every round is a set of paid calls.
RULES_REPAIR_ROUNDS = 4
# Off: new measures at an existing mart's grain go to a narrow model of their own, and the user's SQL is never
# edited; on (`--modify-existing`), to the mart itself, shown as a diff, journaled and undone byte for byte.
MODIFY_EXISTING = False
LLM_REPAIR_ROUNDS = 2
LLM_TIMEOUT_SECONDS = 120.0  # per call (litellm's own default is 6000 s)
LLM_MAX_RETRIES = 2  # re-asks after an answer that fails validation
LLM_CONCURRENCY = 8  # calls in flight at once; dbt calls stay serialized
LLM_BATCH_TOKENS = 12000  # estimated tokens of data in one tests-and-documentation request


# The periods dbt's freshness thresholds take, and a bound on the count (a year in minutes): any larger count is
# a typo, and a threshold dbt would never reach.
FreshnessPeriod = Literal["minute", "hour", "day"]
FRESHNESS_COUNT_LIMIT = 525_600


class FreshnessThreshold(BaseModel):
    """How old a source's newest row may be: `{count: 24, period: hour}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # hashable: thresholds are tallied as conventions

    count: int = Field(ge=1, le=FRESHNESS_COUNT_LIMIT)
    period: FreshnessPeriod

    def minutes(self) -> int:
        """The threshold in minutes, to compare a warning's with an error's."""
        return self.count * {"minute": 1, "hour": 60, "day": 1440}[self.period]

    def __str__(self) -> str:
        return f"{self.count} {self.period}{'s' if self.count > 1 else ''}"


class SourceFreshness(BaseModel):
    """dbt's freshness thresholds of a source table: a warning after one age, an error after another."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A threshold left out is none (dbt checks only the other), so a block states all it asks for.
    warn_after: FreshnessThreshold | None = None
    error_after: FreshnessThreshold | None = None

    @model_validator(mode="after")
    def _warns_before_it_fails(self) -> SourceFreshness:
        if self.warn_after is None and self.error_after is None:
            raise ValueError("needs warn_after, error_after or both; to write no freshness, set it to false")
        if self.warn_after and self.error_after and self.warn_after.minutes() > self.error_after.minutes():
            raise ValueError("warn_after is longer than error_after: the error would come before the warning")
        return self

    def __str__(self) -> str:
        # What `cartridge context` shows: `warn after 24 hours, error after 48 hours`.
        limits = (("warn", self.warn_after), ("error", self.error_after))
        return ", ".join(f"{word} after {limit}" for word, limit in limits if limit)


# A loader that syncs daily is late after a day and broken after two.
DEFAULT_FRESHNESS = SourceFreshness(
    warn_after=FreshnessThreshold(count=24, period="hour"),
    error_after=FreshnessThreshold(count=48, period="hour"),
)


def check_list_indents(sequence: int | None, offset: int) -> int:
    """The dash's offset, when a list item's content starts two or more columns right of it (`- name`)."""
    if sequence is not None and sequence < offset + 2:
        raise ValueError(
            f"{offset} leaves no room before yaml_sequence_indent ({sequence}): "
            "an item starts after its dash and a space, at least 2 columns right of it"
        )
    return offset


class Conventions(BaseModel):
    """How generated models are named and laid out; the defaults are dbt Labs' structure guide."""

    model_config = ConfigDict(extra="forbid")

    staging_model: str = "stg_{source}__{table}"
    # What the project's staging models drop from raw table names (`raw_` when `raw_orders` → `stg_orders`).
    strip_prefix: str = Field(default="", pattern=r"^(?:[a-z0-9][a-z0-9_]*_)?$")
    staging_dir: str = "staging/{source}"
    sources_file: str = "_{source}__sources.yml"
    staging_properties_file: str = "_{source}__models.yml"
    intermediate_model: str = "int_{child}_aggregated_to_{parent}"
    intermediate_dir: str = "intermediate"
    intermediate_properties_file: str = "_intermediate__models.yml"
    dimension_model: str = "dim_{table}"
    fact_model: str = "fct_{table}"
    marts_dir: str = "marts"
    marts_properties_file: str = "_marts__models.yml"
    sources_dir: str = "staging/{source}"
    staging_materialized: str = "view"
    intermediate_materialized: str = "view"
    marts_materialized: str = "table"
    sql_import_ctes: bool = True
    sql_leading_commas: bool = False
    sql_keyword_case: Literal["lower", "upper"] = "lower"
    sql_indent: int = Field(default=4, ge=1, le=8)
    test_primary_keys: bool = True
    test_relationships: bool = True
    describe_models: bool = True
    describe_columns: bool = True
    # Where the project tests its marts' foreign keys against the marts that hold the keys, new marts do too
    # (off: each foreign key is tested once, in staging).
    test_mart_relationships: bool = False
    # Whether new category columns (few distinct text values, read from the local profile) get accepted_values.
    test_accepted_values: bool = False
    # The dialect of the property files cartridge writes: the key tests go under (`tests` before dbt 1.8),
    # a `version: 2` header, `data_type` on columns, and the indentation (ruamel's terms: where a list item's
    # content and its dash start, and where a nested mapping's keys start, counted from their key).
    yaml_test_key: Literal["data_tests", "tests"] = "data_tests"
    yaml_version_header: bool = False
    yaml_column_types: bool = True
    yaml_sequence_indent: int = Field(default=4, ge=2, le=12)
    yaml_sequence_offset: int = Field(default=2, ge=0, le=10)
    yaml_mapping_indent: int = Field(default=2, ge=1, le=8)
    # accepted_values' values as one flow list of quoted strings (`['placed', 'shipped']`), not a block list.
    yaml_flow_values: bool = False
    # Where new semantic models go, relative to the model path, with {model} (the mart), {semantic_model} and
    # {folder} (the mart's folder): `semantic_models/sem_{model}.yml`, one shared `marts/_semantic_models.yml`.
    # Empty: in the mart's properties file, beside the mart.
    semantic_models_file: str = ""
    # Where their metrics go, with the same placeholders (`metrics/_metrics.yml`). Empty: with their semantic model.
    metrics_file: str = ""
    # The freshness thresholds written on each new source table that has a loader's timestamp; false writes none.
    source_freshness: SourceFreshness | None = DEFAULT_FRESHNESS

    @field_validator("source_freshness", mode="before")
    @classmethod
    def _false_is_off(cls, value: Any) -> Any:
        # `true` asks for the defaults, `false` for none: the switch a user reaches for before `null`.
        if value is True:
            return DEFAULT_FRESHNESS
        return None if value is False else value

    @field_validator("yaml_sequence_offset")
    @classmethod
    def _dash_left_of_items(cls, offset: int, info: ValidationInfo) -> int:
        return check_list_indents(info.data.get("yaml_sequence_indent"), offset)

    def fill(self, setting: str, **values: str) -> str:
        """A naming setting with its placeholders filled, e.g. `stg_{source}__{table}` → `stg_shop__orders`."""
        template = str(getattr(self, setting))
        try:
            return template.format_map(values)
        except KeyError as missing:
            known = ", ".join(f"{{{key}}}" for key in values)
            raise UsageError(
                f"conventions.{setting} ({template!r}) uses {{{missing.args[0]}}}; there it can use {known}"
            ) from None
        except (ValueError, IndexError) as error:
            raise UsageError(
                f"conventions.{setting} ({template!r}) is not a valid name template: {error}"
            ) from None


class PackageInstall(BaseModel):
    """How `cartridge init` lists the cartridge dbt package: a copy inside the project, or a pinned git revision."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["vendored", "git"] = "vendored"
    path: str = DEFAULT_VENDOR_DIR  # vendored: the copy's folder, relative to the project
    git: str | None = None  # git: the repository's URL
    revision: str | None = None  # git: the tag, branch or commit dbt checks out
    subdirectory: str | None = None  # git: the folder holding dbt_project.yml inside the repository

    @model_validator(mode="after")
    def _fits_its_mode(self) -> PackageInstall:
        if self.mode == "git":
            if not self.git:
                raise ValueError("mode git needs `git`, the repository URL")
            if not self.revision:
                raise ValueError(
                    "mode git needs `revision` (a tag or commit) so every checkout gets the same package"
                )
            if "path" in self.model_fields_set:
                raise ValueError("`path` is the vendored copy's folder; mode git has none")
            if self.subdirectory is not None:
                check_relative(self.subdirectory, "subdirectory")
        else:
            for key in ("git", "revision", "subdirectory"):
                if getattr(self, key) is not None:
                    raise ValueError(f"`{key}` goes with mode git, not mode vendored")
            check_relative(self.path, "path")
        return self


def check_relative(path: str, name: str) -> None:
    """Refuse a folder that is empty, absolute, climbs with `..` or is spelled with backslashes."""
    if not path.strip() or PurePosixPath(path) == PurePosixPath("."):
        raise ValueError(f"`{name}` must name a folder, got {path!r}")
    if "\\" in path or PurePosixPath(path).is_absolute() or PureWindowsPath(path).drive:
        raise ValueError(f"`{name}` must be a relative path with / separators, got {path!r}")
    if ".." in PurePosixPath(path).parts:
        raise ValueError(f"`{name}` must stay inside its root (no `..`), got {path!r}")


class CartridgeConfig(BaseModel):
    """The whole `cartridge.yml`: pinned conventions and defaults for the command line."""

    model_config = ConfigDict(extra="forbid")

    schemas: list[str] = []
    source_name: str | None = None
    select: list[str] = []
    exclude: list[str] = []
    conventions: Conventions = Conventions()
    # Inferred conventions weaker than this (0–1, a Wilson bound: 1 of 1 ≈ 0.38, 2 of 2 ≈ 0.55, 4 of 5 ≈ 0.51) give way
    # to dbt Labs' defaults, except one that every example follows (2 or more models, none against): that one is kept.
    convention_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    # How much of the existing project a planner sees (estimated tokens; see relevance.estimate_tokens).
    context_budget_tokens: int = Field(default=6000, ge=500)
    # Who plans: a name in the planner registry (`planners.PLANNERS`: rules, llm); --planner and --model override
    # it. None: the LLM planner when a model is set, else the rules.
    planner: str | None = None
    # The LLM planner: a litellm model string (none → the rules planner) and how it runs; flags override these,
    # and CARTRIDGE_MODEL overrides `model` here (not --model). `api_base` goes with this file's `model` only.
    model: str | None = None
    api_base: str | None = None
    share_samples: bool = False  # sample and top values may go into prompts
    # Read row, null and distinct counts (one query per raw table, plus one per table whose composite key needs
    # checking) to find keys on the data; no values are read. Off: keys from declarations and names only.
    profile: bool = True
    concurrency: int = Field(default=LLM_CONCURRENCY, ge=1, le=64)  # LLM calls in flight at once
    max_retries: int = Field(
        default=LLM_MAX_RETRIES, ge=0, le=10
    )  # re-asks after an answer that fails validation
    max_cost: float | None = Field(default=None, ge=0)  # USD; the run stops before a call would pass it
    cache: bool = True  # answers cached by content under .cartridge/llm-cache/
    fallback: Literal["none", "rules"] = (
        "none"  # models the LLM could not produce: none, or the rules planner's
    )
    llm_timeout_seconds: float = Field(default=LLM_TIMEOUT_SECONDS, gt=0)  # per LLM call
    # Tests and documentation are asked for several models per request: models are added to a request until its
    # data would pass this many tokens (estimated at 4 characters a token; a larger model goes alone).
    llm_batch_tokens: int = Field(default=LLM_BATCH_TOKENS, ge=500)
    # How the answer's JSON schema goes to the model: auto (see client.structured_output_mode), json_schema
    # (in response_format), json_object (response_format json_object, schema in the prompt) or none (in the prompt).
    llm_structured_output: Literal["auto", "json_schema", "json_object", "none"] = "auto"
    on_conflict: Literal["fail", "skip", "overwrite"] = "fail"
    build: bool = True
    # How many times a failing build may be repaired (failing data tests relaxed) and built again. A failure
    # skips what depends on it, so each round can uncover the next layer's tests: staging, intermediate, marts.
    # With a model the default is LLM_REPAIR_ROUNDS unless this key is set.
    repair_rounds: int = Field(default=RULES_REPAIR_ROUNDS, ge=0, le=10)
    package_install: PackageInstall = PackageInstall()
    # Semantic models and metrics for the marts, and a time spine when the project has none. Unset: on when the
    # project already has semantic models or has no models yet, off for a project that chose to have none.
    semantic_models: bool | None = None
    # The rules planner makes a fact incremental when its raw table has at least this many rows (the gather's
    # profile) and a column that only grows (a loader's timestamp, an event time). Below a million rows a whole
    # rebuild takes seconds on any warehouse and needs no full refresh after a change; above it, every run
    # re-reading every row is what incremental models exist to save. null: never incremental.
    incremental_min_rows: int | None = Field(default=1_000_000, ge=1)
    # Add new measures to an existing mart's own SQL and YAML where it can be wrapped safely (see MODIFY_EXISTING).
    modify_existing: bool = MODIFY_EXISTING


def load_config(project_dir: Path) -> CartridgeConfig:
    """Read `cartridge.yml` when the project has one, naming the bad key when it is invalid."""
    path = project_dir / CONFIG_FILE
    if not path.is_file():
        return CartridgeConfig()
    # Imported here: the plan's model uses this module's freshness types, and `cartridge undo` reads plans
    # without ever needing the round-trip YAML library.
    from cartridge_bridge.files.yaml_merge import read_yaml_file

    data = read_yaml_file(path) or {}
    try:
        return CartridgeConfig.model_validate(data)
    except ValidationError as error:
        where, problem = first_problem(error)
        raise UsageError(f"{path}: {where or '(top level)'}: {problem}") from None
