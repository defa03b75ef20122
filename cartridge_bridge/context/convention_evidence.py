"""What a learnt convention rests on: evidence, a Wilson-bound confidence, and the conventions as a whole."""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cartridge_bridge.config import Conventions, SourceFreshness
from cartridge_bridge.errors import UsageError, first_problem

GUIDE = "default: dbt Labs structure guide"
NO_EVIDENCE = "no evidence: dbt Labs default"
PINNED = "pinned in cartridge.yml"
MANIFEST = "manifest"
PROJECT_FILE = "dbt_project.yml"
# The YAML dialect is read from the property files' text, which the manifest does not keep.
PROPERTY_FILES = "property files"
# A layer with no YAML of its own follows the other layers' properties files.
BORROWED = "the project's other layers"
_OWN_EVIDENCE = (MANIFEST, PROJECT_FILE, PROPERTY_FILES)  # not borrowed from another layer, not a default
_Z = 1.28  # Wilson bound at 80%: three agreeing models are fair evidence, one is weak

V = TypeVar("V")


class Evidence(BaseModel):
    """What a finding rests on: how many agree out of how many, a few examples, and where it came from."""

    model_config = ConfigDict(extra="forbid")

    agree: int
    total: int
    examples: list[str] = []
    basis: str = MANIFEST


class Finding(BaseModel, Generic[V]):
    """One convention: its value, a confidence from 0 to 1, and the evidence."""

    model_config = ConfigDict(extra="forbid")

    value: V
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: Evidence


class InferredConventions(BaseModel):
    """A project's conventions as learnt (brownfield) or taken from dbt Labs' guide (greenfield)."""

    model_config = ConfigDict(extra="forbid")

    origin: Literal["inferred", "default"]
    models: int
    sampled: int = 0  # how many of the models the evidence was read from (all of them up to 1,000)
    staging_prefix: Finding[str]
    intermediate_prefix: Finding[str]
    marts_prefix: Finding[str]
    source_separator: Finding[str]
    properties_file: Finding[str]
    staging_model: Finding[str]
    strip_prefix: Finding[str]
    staging_dir: Finding[str]
    sources_file: Finding[str]
    sources_dir: Finding[str]
    staging_properties_file: Finding[str]
    intermediate_model: Finding[str]
    intermediate_dir: Finding[str]
    intermediate_properties_file: Finding[str]
    dimension_model: Finding[str]
    fact_model: Finding[str]
    marts_dir: Finding[str]
    marts_properties_file: Finding[str]
    staging_materialized: Finding[str]
    intermediate_materialized: Finding[str]
    marts_materialized: Finding[str]
    sql_import_ctes: Finding[bool]
    sql_leading_commas: Finding[bool]
    sql_keyword_case: Finding[Literal["lower", "upper"]]
    sql_indent: Finding[int]
    test_primary_keys: Finding[bool]
    test_relationships: Finding[bool]
    describe_models: Finding[bool]
    describe_columns: Finding[bool]
    test_mart_relationships: Finding[bool]
    test_accepted_values: Finding[bool]
    yaml_test_key: Finding[Literal["data_tests", "tests"]]
    yaml_version_header: Finding[bool]
    yaml_column_types: Finding[bool]
    yaml_sequence_indent: Finding[int]
    yaml_sequence_offset: Finding[int]
    yaml_mapping_indent: Finding[int]
    yaml_flow_values: Finding[bool]
    source_freshness: Finding[SourceFreshness | None]
    semantic_models_file: Finding[str]
    metrics_file: Finding[str]

    def values(self) -> Conventions:
        """Every setting's value, in the shape the planner reads."""
        return Conventions(**{key: getattr(self, key).value for key in Conventions.model_fields})

    def conventions(self, min_confidence: float = 0.0) -> Conventions:
        """The settings to follow: each inferred value that is unanimous or reaches `min_confidence`, else the default.

        A habit every example follows (two or more, none against) is the project's way however few the
        examples: the Wilson bound grows with the sample, so `min_confidence` could otherwise overrule three
        models out of three. Split evidence must reach the bar, and one model alone is weak evidence:
        below the bar dbt Labs' guide is the safer choice.
        """
        defaults = Conventions()

        def followed(finding: Finding[Any]) -> bool:
            return (
                finding.confidence >= min_confidence or finding.evidence.basis == PINNED or unanimous(finding)
            )

        adopted = {key for key in Conventions.model_fields if followed(getattr(self, key))}
        # A layer with no YAML of its own borrows the project's properties file at half the confidence: it is
        # followed whenever the project-wide habit it borrows is (`schema.yml` everywhere → intermediate too).
        adopted |= {
            key
            for key in Conventions.model_fields
            if key.endswith("_properties_file")
            and getattr(self, key).evidence.basis.endswith(BORROWED)
            and followed(self.properties_file)
        }
        # One mart or one source file is weak evidence alone, but not when it keeps the one file name every
        # documented model of the project is in (`schema.yml` in each folder): that layer follows the project.
        project_wide = self.properties_file.value
        if followed(self.properties_file) and project_wide and "{" not in project_wide:
            adopted |= {
                key
                for key in Conventions.model_fields
                if (key.endswith("_properties_file") or key == "sources_file")
                and getattr(self, key).value == project_wide
            }
        values = {
            key: getattr(self, key).value if key in adopted else getattr(defaults, key)
            for key in Conventions.model_fields
        }
        if "sources_dir" not in adopted and "staging_dir" in adopted:
            values["sources_dir"] = values["staging_dir"]  # sources sit with the staging models they feed
        return Conventions(**values)


def unanimous(finding: Finding[Any]) -> bool:
    """True when two or more examples of the project itself (models, dbt_project.yml) all agree."""
    evidence = finding.evidence
    return evidence.basis in _OWN_EVIDENCE and evidence.total >= 2 and evidence.agree == evidence.total


def confidence(agree: int, total: int, tied: bool = False) -> float:
    """Wilson lower bound of the agreeing share; a tie halves it, since the pick between equals is arbitrary."""
    if total <= 0 or agree <= 0:
        return 0.0
    share = agree / total
    spread = _Z * math.sqrt(share * (1 - share) / total + _Z**2 / (4 * total**2))
    bound = (share + _Z**2 / (2 * total) - spread) / (1 + _Z**2 / total)
    return round(bound / 2 if tied else bound, 2)


def tally(observations: Iterable[tuple[V, str]], default: V) -> Finding[V]:
    """The most common value among (value, example) observations, ties broken by value for stability."""
    counts: Counter[Any] = Counter()
    examples: dict[Any, set[str]] = {}
    for value, example in observations:
        counts[value] += 1
        examples.setdefault(value, set()).add(example)
    if not counts:
        return Finding(value=default, confidence=0.0, evidence=Evidence(agree=0, total=0, basis=NO_EVIDENCE))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    value, agree = ranked[0]
    tied = len(ranked) > 1 and ranked[1][1] == agree
    total = sum(counts.values())
    evidence = Evidence(agree=agree, total=total, examples=heapq.nsmallest(3, examples[value]))
    return Finding(value=value, confidence=confidence(agree, total, tied), evidence=evidence)


def default_conventions() -> InferredConventions:
    """dbt Labs' structure guide as conventions, for a project with no models of its own yet."""
    values = Conventions().model_dump()
    values |= {"staging_prefix": "stg_", "intermediate_prefix": "int_", "marts_prefix": "dim_/fct_"}
    values |= {"source_separator": "__", "properties_file": "_{folder}__models.yml"}
    evidence = Evidence(agree=0, total=0, basis=GUIDE).model_dump()
    findings = {key: {"value": v, "confidence": 1.0, "evidence": evidence} for key, v in values.items()}
    return InferredConventions.model_validate({"origin": "default", "models": 0, **findings})


def pinned_settings(conventions: Conventions) -> dict[str, Any]:
    """The settings a user wrote in cartridge.yml (pydantic's `model_fields_set`), with their values."""
    return {key: getattr(conventions, key) for key in sorted(conventions.model_fields_set)}


def apply_pinned(inferred: InferredConventions, pinned: Mapping[str, Any]) -> InferredConventions:
    """The conventions with every pinned setting taking the place of what was inferred."""
    unknown = sorted(set(pinned) - set(Conventions.model_fields))
    if unknown:
        raise UsageError(f"conventions.{unknown[0]} is not a convention cartridge knows")
    try:
        values = Conventions(**{**inferred.values().model_dump(), **pinned})
    except ValidationError as error:
        where, problem = first_problem(error)
        raise UsageError(f"conventions.{where}: {problem}") from None
    evidence = Evidence(agree=0, total=0, basis=PINNED).model_dump()
    updates = {
        key: {"value": getattr(values, key), "confidence": 1.0, "evidence": evidence} for key in pinned
    }
    return InferredConventions.model_validate({**inferred.model_dump(), **updates})
