"""Build the ProjectContext: what exists in the project, its conventions, and the raw tables to model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.convention_evidence import InferredConventions, apply_pinned, pinned_settings
from cartridge_bridge.context.convention_rules import configured_materialization, infer_conventions
from cartridge_bridge.context.existing_models import ExistingModelFacts, ExistingModels, stale_findings
from cartridge_bridge.context.key_facts import SchemaKeys, schema_keys
from cartridge_bridge.context.key_owners import KeyOwner, key_owners
from cartridge_bridge.context.relevance import DEFAULT_BUDGET, RelevantSlice, relevant_slice
from cartridge_bridge.errors import ProjectError, UsageError
from cartridge_bridge.files.yaml_merge import read_yaml_file
from cartridge_bridge.gather.facts import GATHER_VERSION, RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import Manifest, Node
from cartridge_bridge.sql.naming import snake_case, without_prefix


class RawSchema(BaseModel):
    """A raw schema and the source name its tables are declared under."""

    model_config = ConfigDict(extra="forbid")

    schema_name: str
    source_name: str
    database: str | None = None
    relations: list[RawRelation]
    covered: list[str] = []  # identifiers already in the project: declared as sources, or its seeds
    seeds: list[str] = []  # the covered identifiers that are the project's seeds (`dbt seed` loaded them)
    staged_by: dict[str, list[str]] = {}  # covered identifier → the project's models that select from it
    # The new tables' keys and foreign keys with how each is known: what every planner and view reads.
    keys: SchemaKeys = SchemaKeys()


class ProjectContext(BaseModel):
    """Everything the planners need to know about the host project and the new raw tables."""

    model_config = ConfigDict(extra="forbid")

    project_name: str
    project_dir: str
    adapter_type: str
    model_path: str  # the first of the project's model-paths; generated files go under it
    strategy: Literal["greenfield", "brownfield"]
    existing_models: list[str]
    existing_sources: list[str]  # as "source_name.table_name"
    # Source name → the schema the project declares it for: new tables of another schema need another source.
    existing_source_schemas: dict[str, str] = {}
    conventions: Conventions  # what the planner follows: pinned settings over inferred ones
    convention_findings: InferredConventions  # each convention with its evidence and confidence
    configured_materializations: dict[str, str]  # layer folder → materialization set in dbt_project.yml
    nested_test_arguments: bool = True  # dbt's require_generic_test_arguments_property for this project
    raw_schemas: list[RawSchema]
    # Brownfield: the existing models related to the new tables, within a token budget (None when greenfield).
    relevant: RelevantSlice | None = None
    # Key column → the existing, built models whose primary key it is (new tables join and test against them).
    existing_keys: dict[str, KeyOwner] = {}
    # The existing models the planners see (the relevant slice's and the keys' owners) as they really are:
    # real columns with types, grain, reads, transforms; what every planner and prompt reads of them.
    existing: dict[str, ExistingModelFacts] = {}
    # Columns those models' YAML documents and the models do not have: findings, never columns.
    stale_docs: list[str] = []
    doc_blocks: list[
        str
    ] = []  # the names of the project's own `{% docs %}` blocks: what a plan may reference
    # The project's semantic layer: names taken by kind (semantic model, measure, metric), and its time spine.
    semantic_names: dict[str, list[str]] = {}
    time_spine: str | None = None
    semantic_models: bool = (
        True  # whether planners describe marts to the semantic layer (see semantic_models_on)
    )
    incremental_min_rows: int | None = None  # cartridge.yml's: a fact from this many rows is incremental


def read_project_file(project_dir: Path) -> dict[str, Any]:
    """The project's dbt_project.yml as plain data."""
    path = project_dir / "dbt_project.yml"
    if not path.is_file():
        raise ProjectError(f"{project_dir} is not a dbt project (no dbt_project.yml); pass --project-dir")
    data = read_yaml_file(path, ProjectError)
    if not isinstance(data, dict) or not data.get("name"):
        raise ProjectError(f"{path} has no project name")
    return data


def _relation_key(node: Node) -> tuple[str, str]:
    """(schema, identifier) of a model, seed or snapshot, lower-cased as the warehouse compares them."""
    return ((node.schema_ or "").lower(), (node.alias or node.name).lower())


def default_source_name(schema_name: str) -> str:
    """`raw_stripe` → `stripe`; other schema names are used as they are, in snake_case."""
    name = snake_case(schema_name)
    for prefix in ("raw_", "src_", "source_"):
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name


def same_schema(declared: str, schema_name: str) -> bool:
    """True when a source's declared schema is this raw schema (warehouses compare unquoted names up to case)."""
    return declared.lower() == schema_name.lower()


def _check_source_name(source_name: str, source_schemas: dict[str, str], schema_name: str) -> None:
    """A configured source name that the project declares for another schema would capture this schema's tables."""
    declared = source_schemas.get(source_name)
    if declared is not None and not same_schema(declared, schema_name):
        raise UsageError(
            f"source {source_name!r} (--source-name or cartridge.yml) is the project's source for schema "
            f"{declared!r}, not {schema_name!r}; name another source for {schema_name!r} with --source-name"
        )


def build_context(
    project_dir: Path,
    manifest: Manifest,
    facts: WarehouseFacts | None,
    conventions: Conventions,
    source_name: str | None = None,
    nested_test_arguments_default: bool = True,
    min_confidence: float = 0.5,
    budget_tokens: int = DEFAULT_BUDGET,
    semantic_models: bool | None = None,
) -> ProjectContext:
    """Combine the manifest, dbt_project.yml, the warehouse facts and the conventions into one context.

    `conventions` are the settings of cartridge.yml: those the user wrote beat what is inferred.
    """
    project_file = read_project_file(project_dir)
    findings = apply_pinned(
        infer_conventions(manifest, project_file, project_dir), pinned_settings(conventions)
    )
    conventions = findings.conventions(min_confidence)
    if facts is None:
        facts = WarehouseFacts(
            cartridge_gather_version=GATHER_VERSION,
            adapter_type=manifest.metadata.adapter_type or "unknown",
            schemas=[],
            relations=[],
        )
    if source_name and len(facts.schemas) > 1:
        raise UsageError("--source-name names one source, but several schemas were given; use cartridge.yml")
    models = sorted(n.name for n in manifest.root_models())
    semantic_names = manifest.semantic_names()
    sources = manifest.root_sources()
    source_schemas = {s.source_name: s.schema_ for s in sources}
    if source_name and facts.schemas:
        _check_source_name(source_name, source_schemas, facts.schemas[0])
    declared = {(s.schema_.lower(), s.identifier.lower()): s.unique_id for s in sources}
    seeds = {_relation_key(n): n.unique_id for n in manifest.root_nodes("seed")}
    # The project's own models and snapshots may share a schema with the raw data (seeds, as in
    # jaffle_shop): they are what the project built, not raw tables to model.
    built = {_relation_key(n) for kind in ("model", "snapshot") for n in manifest.root_nodes(kind)}
    readers: dict[str, list[str]] = {}
    for node in manifest.root_models():
        for parent in node.depends_on.nodes:
            if parent.startswith(("source.", "seed.")):
                readers.setdefault(parent, []).append(node.name)
    raw_schemas = []
    for schema_name in facts.schemas:
        # Warehouses compare unquoted names case-insensitively, so `RAW.ORDERS` covers `raw.orders`.
        relations = [
            r
            for r in facts.relations
            if r.schema_ == schema_name and (schema_name.lower(), r.identifier.lower()) not in built
        ]
        place = {r.identifier: (schema_name.lower(), r.identifier.lower()) for r in relations}
        source_of = {i: declared.get(key) or seeds.get(key) for i, key in place.items()}
        covered = [identifier for identifier, node_id in source_of.items() if node_id]
        staged_by = {i: sorted(readers[s]) for i, s in source_of.items() if s is not None and s in readers}
        raw_schemas.append(
            RawSchema(
                schema_name=schema_name,
                source_name=source_name or default_source_name(schema_name),
                database=facts.database,
                relations=relations,
                covered=covered,
                seeds=[i for i in covered if place[i] in seeds and place[i] not in declared],
                staged_by=staged_by,
                keys=schema_keys(
                    [r for r in relations if r.identifier not in covered],
                    conventions.strip_prefix,
                    [r.identifier for r in relations],
                ),
            )
        )
    model_path = (project_file.get("model-paths") or ["models"])[0]
    layer_dirs = {
        "staging": conventions.staging_dir.split("/")[0],
        "intermediate": conventions.intermediate_dir,
        "marts": conventions.marts_dir,
    }
    configured = {
        layer: found
        for layer, folder in layer_dirs.items()
        if (found := configured_materialization(project_file, folder)) is not None
    }
    # New tables are related to existing models by the names the project would give them (`raw_` dropped).
    new_relations = [
        r.model_copy(update={"identifier": without_prefix(r.identifier, conventions.strip_prefix)})
        for raw in raw_schemas
        for r in raw.relations
        if r.identifier not in raw.covered
    ]
    existing = ExistingModels(manifest, facts.graph, facts.adapter_type)
    relevant = (
        relevant_slice(manifest, new_relations, budget_tokens, existing) if models and new_relations else None
    )
    owners = key_owners(manifest, facts.graph) if models else {}
    shown = [e.name for e in relevant.entries] if relevant else []
    shown += [name for o in owners.values() for name in (o.staging, o.mart) if name]
    known = existing.some(shown)
    return ProjectContext(
        project_name=project_file["name"],
        project_dir=str(project_dir),
        adapter_type=facts.adapter_type,
        model_path=model_path,
        strategy="brownfield" if models else "greenfield",
        existing_models=models,
        existing_sources=sorted(f"{s.source_name}.{s.name}" for s in sources),
        existing_source_schemas=source_schemas,
        conventions=conventions,
        convention_findings=findings,
        configured_materializations=configured,
        nested_test_arguments=bool(
            (project_file.get("flags") or {}).get(
                "require_generic_test_arguments_property", nested_test_arguments_default
            )
        ),
        raw_schemas=raw_schemas,
        relevant=relevant,
        existing_keys=owners,
        existing=known,
        stale_docs=stale_findings(known),
        doc_blocks=sorted({d.name for d in manifest.root_docs()}),
        semantic_names={kind: sorted(names) for kind, names in semantic_names.items()},
        time_spine=manifest.time_spine(),
        semantic_models=semantic_models_on(semantic_models, semantic_names, bool(models), facts.adapter_type),
    )


# The warehouses MetricFlow queries (dbt-metricflow's adapters); elsewhere semantic models are only asked for.
METRICFLOW_ADAPTERS = frozenset(
    {"postgres", "duckdb", "snowflake", "bigquery", "redshift", "databricks", "trino"}
)


def semantic_models_on(
    setting: bool | None, names: dict[str, set[str]], has_models: bool, adapter_type: str
) -> bool:
    """The setting when given; else on when the project has semantic models already, or has no models yet on a
    warehouse MetricFlow queries.

    A project with models and no semantic layer chose not to have one: a time spine and metrics in it are
    asked for (`--semantic-models`), not imposed.
    """
    if setting is not None:
        return setting
    return bool(names.get("semantic model")) or (not has_models and adapter_type in METRICFLOW_ADAPTERS)
