"""The rules planner's shared state: the context being planned, the draft so far, and each staged table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cartridge_bridge.context.key_facts import KeyFacts
from cartridge_bridge.context.key_owners import KeyOwner
from cartridge_bridge.context.keys import KeyEdge, entity_of
from cartridge_bridge.context.project_context import ProjectContext, RawSchema
from cartridge_bridge.gather.facts import RawColumn, RawRelation
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    Layer,
    MartSpec,
    ModelTest,
    SemanticModelSpec,
    StagingSpec,
)
from cartridge_bridge.planning.planner import ModelDraft, PlanDraft
from cartridge_bridge.sql.identifiers import identifier_limit
from cartridge_bridge.sql.naming import fit_name, pick_names


@dataclass
class Staged:
    """A raw table and the staging model planned for it."""

    relation: RawRelation  # as staging reads it: without the columns it drops
    table: str  # snake_case name in the sources YAML
    entity: str
    model: str
    spec: StagingSpec
    renamed: dict[str, str] = field(default_factory=dict)  # raw column → staged column
    model_tests: list[ModelTest] = field(default_factory=list)  # a composite grain, tested as a combination
    dropped: list[RawColumn] = field(
        default_factory=list
    )  # raw columns staging leaves out (soft-delete markers)
    key: KeyFacts | None = None  # the raw table's key as the context found it

    @property
    def entity_history(self) -> bool:
        """A `contact_history` staged as the contacts themselves: every version of an entity with no table of its own
        beside it (see `staging.versioned_entity`)."""
        return self.entity != entity_of(self.relation)

    @property
    def noun(self) -> str:
        """What the models built on this table are named after: the table, or the entity a history of its entity's
        only table holds (`conversation_part_history` → `conversation_part`: `number_of_conversation_parts`)."""
        return self.entity if self.entity_history else self.table


class PlannerState:
    """What the staging and mart rules share while drafting one project: the context, the draft, the key links."""

    def __init__(self, context: ProjectContext):
        self.context = context
        self.conventions = context.conventions
        self.draft = PlanDraft()
        self.roles: dict[KeyEdge, str] = {}
        # (raw table, staged column) → the existing models that own that key
        self.external: dict[tuple[str, str], KeyOwner] = {}
        # The schema being planned: its tables' identifiers without the dropped prefix → as the warehouse has them.
        self.renames: dict[str, str] = {}
        # The schema's version histories (raw identifier) → their type-2 marts, which the marts' rules may write.
        self.type2_marts: dict[str, ModelDraft] = {}

    def original(self, identifier: str) -> str:
        """A planned table's identifier as the warehouse (and the context's keys) spell it."""
        return next((old for old, new in self.renames.items() if new == identifier), identifier)

    def key_edges(self, raw: RawSchema, staged: Mapping[str, object]) -> list[KeyEdge]:
        """The context's foreign keys between tables planned here, under the names the planner gives them."""
        edges = [fk.edge(self.renames) for fk in raw.keys.foreign_keys]
        return [e for e in edges if e.child in staged and e.parent in staged]

    def owned_name(self, setting: str, **values: str) -> str:
        """The project's name for a new model (`conventions.<setting>` filled); when the project already has a model
        of that name — another source's `dim_account` — the same with the source before the table (`dim_zuora_
        account`), so that a second connector never collides with the first (the plan says whose each model is)."""
        name = self.fit(self.conventions.fill(setting, **values))
        template = str(getattr(self.conventions, setting))
        # A name with the source in it (`stg_{source}__{table}`) taken already is this source's table, staged
        # before: the caller skips it rather than staging it twice.
        if name not in self.context.existing_models or not values.get("source") or "{source}" in template:
            return name
        owned = {
            key: f"{values['source']}_{value}" if key in ("table", "child") else value
            for key, value in values.items()
        }
        return self.fit(self.conventions.fill(setting, **owned))

    def fit(self, name: str) -> str:
        """A name within the warehouse's identifier limit (cut with a hash, so cut names stay distinct)."""
        return fit_name(name, identifier_limit(self.context.adapter_type))

    def pick(self, candidates: list[list[str]], taken: set[str]) -> list[str]:
        """One name per item, distinct from `taken` and each other, within the identifier limit (see `pick_names`)."""
        return pick_names(candidates, taken, identifier_limit(self.context.adapter_type))

    def add(
        self,
        name: str,
        layer: Layer,
        description: str,
        spec: StagingSpec | AggregateSpec | MartSpec,
        tests: list[ModelTest] | None = None,
        semantic_model: SemanticModelSpec | None = None,
    ) -> None:
        """Append a model draft to the plan."""
        draft = ModelDraft(
            name=name,
            layer=layer,
            description=description,
            spec=spec,
            tests=tests or [],
            semantic_model=semantic_model,
        )
        self.draft.models.append(draft)
