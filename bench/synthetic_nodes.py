"""The JSON objects of a synthetic dbt manifest (schema v12): models, data tests, sources, macros, metadata."""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from bench import synthetic_sql as sql

PROJECT = "acme_analytics"
PACKAGE = "fivetran_stripe"  # an installed package: its models are never the project's own
SCHEMA_URL = "https://schemas.getdbt.com/dbt/manifest/v12.json"
CREATED_AT = 1_735_689_600.0
FINANCE_GROUP = {
    "name": "finance",
    "resource_type": "group",
    "package_name": PROJECT,
    "path": "models/marts/finance/_groups.yml",
    "original_file_path": "models/marts/finance/_groups.yml",
    "unique_id": f"group.{PROJECT}.finance",
    "owner": {"email": "finance-data@acme.example", "name": "Finance data"},
    "description": "Models the finance team owns and answers for.",
    "config": {"meta": {}},
}
_ATTRIBUTES = {name: (data_type, description) for name, data_type, description in sql.ATTRIBUTES}


@dataclass
class SyntheticModel:
    """What the generator decided about one model; the node objects are rendered from it."""

    name: str
    layer: str
    folder: str
    entity: str
    keys: list[str]  # every `<x>_id` the model carries, grain key first
    attributes: list[str]
    parents: list[tuple[str, str]] = field(default_factory=list)  # (model name, join key)
    source: tuple[str, str] | None = None
    documented: str = "all"  # all | attributes | none
    star: bool = False  # `select *` from the first parent: columns known only from the docs
    package: str = PROJECT


def uid(model: SyntheticModel) -> str:
    """The unique_id dbt gives the model."""
    return f"model.{model.package}.{model.name}"


def metadata(rng: random.Random) -> dict[str, Any]:
    """The manifest header dbt 1.10 writes."""
    invocation = f"{rng.getrandbits(128):032x}"
    return {
        "dbt_schema_version": SCHEMA_URL,
        "dbt_version": "1.10.13",
        "generated_at": "2025-01-01T00:00:00.000000Z",
        "invocation_id": str(uuid.UUID(invocation)),
        "invocation_started_at": "2025-01-01T00:00:00.000000Z",
        "env": {},
        "project_name": PROJECT,
        "project_id": hashlib.md5(PROJECT.encode()).hexdigest(),
        "user_id": None,
        "send_anonymous_usage_stats": False,
        "adapter_type": "postgres",
        "quoting": {"database": True, "schema": True, "identifier": True, "column": None},
    }


def _columns(model: SyntheticModel, lean: bool) -> dict[str, Any]:
    if model.documented == "none":
        return {}
    names = model.attributes if model.documented == "attributes" else model.keys + model.attributes
    return {name: {"name": name} if lean else _column(name) for name in names}


@cache
def _column(name: str) -> dict[str, Any]:
    # Shared between models: the document is only ever encoded, never mutated.
    data_type, description = _ATTRIBUTES.get(
        name, ("bigint", f"Key of the {name[:-3].replace('_', ' ')} of the row.")
    )
    return {
        "name": name,
        "description": description,
        "meta": {},
        "data_type": data_type,
        "constraints": [],
        "quote": None,
        "config": {"meta": {}, "tags": []},
        "tags": [],
        "granularity": None,
        "doc_blocks": [],
    }


def model_node(model: SyntheticModel, lean: bool = False) -> dict[str, Any]:
    """A model node; `lean` keeps only the fields the relevant slice reads."""
    path = f"{model.folder}/{model.name}.sql"
    if model.source:
        raw = sql.staging_sql(model.source, model.keys, model.attributes, model.entity, jinja=True)
        depends = [f"source.{model.package}.{model.source[0]}.{model.source[1]}"]
    else:
        first = model.parents[0][0]
        raw = (
            sql.star_sql(first, _jinja_ref)
            if model.star
            else sql.derived_sql(model.parents, model.keys, model.attributes, model.entity, _jinja_ref)
        )
        depends = [f"model.{PROJECT}.{p}" for p, _ in model.parents]
    materialized = {"staging": "view", "intermediate": "ephemeral", "marts": "table"}[model.layer]
    node = {
        "database": sql.DATABASE,
        "schema": sql.SCHEMA,
        "name": model.name,
        "resource_type": "model",
        "package_name": model.package,
        "path": path,
        "original_file_path": f"models/{path}",
        "unique_id": uid(model),
        "config": _config(materialized, model.layer),
        "columns": _columns(model, lean),
        "raw_code": raw,
        "depends_on": {"macros": ["macro.dbt.is_incremental"], "nodes": depends},
    }
    return node if lean else {**node, **_model_extras(model, path, raw)}


def _model_extras(model: SyntheticModel, path: str, raw: str) -> dict[str, Any]:
    if model.source:
        compiled = sql.staging_sql(model.source, model.keys, model.attributes, model.entity, jinja=False)
        refs, sources = [], [list(model.source)]
    else:
        compiled = (
            sql.star_sql(model.parents[0][0], sql.relation_name)
            if model.star
            else sql.derived_sql(model.parents, model.keys, model.attributes, model.entity, sql.relation_name)
        )
        refs, sources = [{"name": p, "package": None, "version": None} for p, _ in model.parents], []
    return {
        "fqn": [model.package, *model.folder.split("/"), model.name],
        "alias": model.name,
        "checksum": {"name": "sha256", "checksum": hashlib.sha256(raw.encode()).hexdigest()},
        "tags": [model.layer],
        "description": f"One row per {model.entity.replace('_', ' ')}, built in the {model.layer} layer.",
        "meta": {},
        "group": None,
        "docs": {"show": True, "node_color": None},
        "patch_path": f"{model.package}://models/{model.folder}/_{model.folder.split('/')[-1]}__models.yml",
        "build_path": None,
        "unrendered_config": {"tags": [model.layer], "persist_docs": {"relation": True}},
        "created_at": CREATED_AT,
        "relation_name": sql.relation_name(model.name),
        "doc_blocks": [],
        "language": "sql",
        "refs": refs,
        "sources": sources,
        "metrics": [],
        "functions": [],
        "compiled_path": f"target/compiled/{model.package}/models/{path}",
        "compiled": True,
        "compiled_code": compiled,
        "extra_ctes_injected": True,
        "extra_ctes": [],
        "contract": {"enforced": False, "alias_types": True, "checksum": None},
        "access": "protected",
        "constraints": [],
        "version": None,
        "latest_version": None,
        "deprecation_date": None,
        "primary_key": [model.keys[0]],
        "time_spine": None,
    }


@cache
def _config(materialized: str, layer: str) -> dict[str, Any]:
    return sql.model_config(materialized, [layer])


def _jinja_ref(name: str) -> str:
    return f"{{{{ ref('{name}') }}}}"


def test_node(model: SyntheticModel, number: int) -> dict[str, Any]:
    """The model's `number`-th data test: not_null then unique on each of its columns in turn."""
    columns = model.keys + model.attributes
    column, kind = columns[number // 2 % len(columns)], ("not_null", "unique")[number % 2]
    name = f"{kind}_{model.name}_{column}" + (f"_{number}" if number >= 2 * len(columns) else "")
    test_id = f"test.{PROJECT}.{name}.{hashlib.md5(name.encode()).hexdigest()[:10]}"
    path = f"{model.folder}/_{model.folder.split('/')[-1]}__models.yml"
    return {
        "database": sql.DATABASE,
        "schema": "dbt_prod_dbt_test__audit",
        "name": name,
        "resource_type": "test",
        "package_name": PROJECT,
        "path": f"{name}.sql",
        "original_file_path": f"models/{path}",
        "unique_id": test_id,
        "fqn": [PROJECT, *model.folder.split("/"), name],
        "alias": name,
        "checksum": {"name": "none", "checksum": ""},
        "config": sql.test_config(),
        "tags": [],
        "description": "",
        "columns": {},
        "meta": {},
        "group": None,
        "docs": {"show": True, "node_color": None},
        "patch_path": None,
        "build_path": None,
        "unrendered_config": {},
        "created_at": CREATED_AT,
        "relation_name": None,
        "raw_code": sql.test_sql(kind, model.name, column, jinja=True),
        "doc_blocks": [],
        "language": "sql",
        "refs": [{"name": model.name, "package": None, "version": None}],
        "sources": [],
        "metrics": [],
        "functions": [],
        "depends_on": {
            "macros": [f"macro.dbt.test_{kind}", "macro.dbt.get_where_subquery"],
            "nodes": [uid(model)],
        },
        "compiled_path": f"target/compiled/{PROJECT}/models/{path}/{name}.sql",
        "compiled": True,
        "compiled_code": sql.test_sql(kind, model.name, column, jinja=False),
        "extra_ctes_injected": True,
        "extra_ctes": [],
        "contract": {"enforced": False, "alias_types": True, "checksum": None},
        "column_name": column,
        "file_key_name": f"models.{model.name}",
        "attached_node": uid(model),
        "test_metadata": {
            "name": kind,
            "kwargs": {"column_name": column, "model": f"{{{{ get_where_subquery(ref('{model.name}')) }}}}"},
            "namespace": None,
        },
    }


def source_node(model: SyntheticModel) -> dict[str, Any]:
    """The source table a staging model selects from."""
    assert model.source is not None
    source_name, table = model.source
    raw_columns = ["id", *model.keys[1:], *model.attributes]
    return {
        "database": "raw",
        "schema": f"raw_{source_name}",
        "name": table,
        "resource_type": "source",
        "package_name": model.package,
        "path": f"models/staging/{source_name}/_{source_name}__sources.yml",
        "original_file_path": f"models/staging/{source_name}/_{source_name}__sources.yml",
        "unique_id": f"source.{model.package}.{source_name}.{table}",
        "fqn": [model.package, "staging", source_name, source_name, table],
        "source_name": source_name,
        "source_description": f"Raw {source_name} data loaded by Fivetran every hour.",
        "loader": "fivetran",
        "identifier": table,
        "quoting": {"database": None, "schema": None, "identifier": None, "column": None},
        "loaded_at_field": "_fivetran_synced",
        "freshness": {
            "warn_after": {"count": 12, "period": "hour"},
            "error_after": {"count": 24, "period": "hour"},
        },
        "external": None,
        "description": f"The {table} table as replicated from {source_name}.",
        "columns": {
            c: {
                "name": c,
                "description": f"Raw `{c}` as delivered by the connector.",
                "meta": {},
                "data_type": None,
            }
            for c in raw_columns
        },
        "meta": {},
        "source_meta": {},
        "tags": [],
        "config": {"enabled": True, "event_time": None, "freshness": None, "meta": {}, "tags": []},
        "patch_path": None,
        "unrendered_config": {},
        "relation_name": f'"raw"."raw_{source_name}"."{table}"',
        "created_at": CREATED_AT,
        "unrendered_database": None,
        "unrendered_schema": None,
        "doc_blocks": [],
    }


@cache
def _raw_column(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"Raw `{name}` as delivered by the connector.",
        "meta": {},
        "data_type": None,
    }


def macro_node(index: int) -> dict[str, Any]:
    """A macro of the project or of an installed package."""
    package = PROJECT if index % 5 == 0 else ("dbt", "dbt_postgres", "dbt_utils")[index % 3]
    stem = ("cents_to_dollars", "safe_divide", "generate_surrogate_key", "date_spine", "pivot")[index % 5]
    name = f"{stem}_{index}"
    return {
        "name": name,
        "resource_type": "macro",
        "package_name": package,
        "path": f"macros/{name}.sql",
        "original_file_path": f"macros/{name}.sql",
        "unique_id": f"macro.{package}.{name}",
        "macro_sql": sql.macro_sql(name, index),
        "depends_on": {"macros": [f"macro.{package}.default__{name}"]},
        "description": "Round a column of cents to dollars on every supported adapter.",
        "meta": {},
        "docs": {"show": True, "node_color": None},
        "patch_path": None,
        "arguments": [
            {"name": "column_name", "type": "string", "description": "The column to convert."},
            {"name": "precision", "type": "integer", "description": "Digits after the decimal point."},
        ],
        "created_at": CREATED_AT,
        "supported_languages": None,
    }


def exposure_node(parents: list[str]) -> dict[str, Any]:
    """The revenue dashboard, built on a few marts."""
    return {
        "name": "revenue_dashboard",
        "resource_type": "exposure",
        "package_name": PROJECT,
        "path": "marts/finance/_exposures.yml",
        "original_file_path": "models/marts/finance/_exposures.yml",
        "unique_id": f"exposure.{PROJECT}.revenue_dashboard",
        "fqn": [PROJECT, "marts", "finance", "revenue_dashboard"],
        "type": "dashboard",
        "owner": {"email": "finance-data@acme.example", "name": "Finance data"},
        "description": "Daily revenue, refunds and margin by region; the CFO's morning read.",
        "label": "Revenue dashboard",
        "maturity": "high",
        "meta": {},
        "tags": ["finance"],
        "config": {"enabled": True, "tags": ["finance"], "meta": {}},
        "unrendered_config": {},
        "url": "https://bi.acme.example/dashboards/42",
        "depends_on": {"macros": [], "nodes": parents},
        "refs": [{"name": p.rsplit(".", 1)[-1], "package": None, "version": None} for p in parents],
        "sources": [],
        "metrics": [],
        "created_at": CREATED_AT,
    }
