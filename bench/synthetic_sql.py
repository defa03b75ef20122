"""The text of synthetic dbt nodes: model SQL (raw and compiled), test SQL, macro bodies and node configs."""

from __future__ import annotations

from collections.abc import Callable

DATABASE = "analytics"
SCHEMA = "dbt_prod"

# (name, data type, description) of the non-key columns a synthetic model may carry.
ATTRIBUTES = [
    ("created_at", "timestamp", "When the row was created in the source system, in UTC."),
    ("updated_at", "timestamp", "When the row was last changed in the source system, in UTC."),
    ("deleted_at", "timestamp", "When the row was soft-deleted upstream; null while it is live."),
    ("status", "text", "Lifecycle status as reported by the source, lower-cased and trimmed."),
    ("amount", "numeric(18,2)", "Gross amount in the row's currency, before discounts and taxes."),
    ("amount_usd", "numeric(18,2)", "Gross amount converted to US dollars at the daily closing rate."),
    ("currency", "text", "ISO 4217 currency code of the amounts on this row."),
    ("email", "text", "Contact e-mail address; personally identifiable, masked outside prod."),
    ("full_name", "text", "Display name as entered by the user, not normalised."),
    ("country_code", "text", "ISO 3166-1 alpha-2 country code derived from the billing address."),
    ("is_active", "boolean", "True while the record is active and visible to customers."),
    ("is_test", "boolean", "True for rows created by internal QA accounts; excluded from marts."),
    ("quantity", "integer", "Number of units on the line; negative for returns and corrections."),
    ("discount_amount", "numeric(18,2)", "Total discount applied, in the row's currency."),
    ("tax_amount", "numeric(18,2)", "Tax charged on the row, in the row's currency."),
    ("channel", "text", "Acquisition or sales channel (web, app, retail, partner)."),
    ("source_system", "text", "Which upstream system the row was loaded from."),
    ("loaded_at", "timestamp", "When the EL tool loaded the row into the warehouse."),
    ("valid_from", "timestamp", "Start of the validity window of this version of the row."),
    ("valid_to", "timestamp", "End of the validity window; null for the current version."),
    ("notes", "text", "Free-text notes from operators; may contain anything, never parse it."),
    ("priority", "integer", "Priority from 1 (urgent) to 5 (whenever), as set by the owner."),
    ("score", "double precision", "Model score between 0 and 1 produced by the nightly scoring job."),
    ("first_seen_at", "timestamp", "First time this entity appeared in any event stream."),
    ("last_seen_at", "timestamp", "Most recent time this entity appeared in any event stream."),
    ("lifetime_value", "numeric(18,2)", "Sum of net revenue attributed to the entity since creation."),
    ("order_count", "integer", "Number of completed orders attributed to the entity."),
    ("region_name", "text", "Sales region name as maintained by the revenue operations team."),
    ("utm_source", "text", "UTM source of the first touch, if tracked."),
    ("utm_campaign", "text", "UTM campaign of the first touch, if tracked."),
    ("external_ref", "text", "Identifier in the upstream system, kept for support look-ups."),
    ("version_number", "integer", "Monotonic version of the row in the upstream system."),
    ("billing_city", "text", "City of the billing address, as typed by the customer."),
    ("postal_code", "text", "Postal code of the billing address; not validated upstream."),
    ("phone_number", "text", "Phone number in E.164 format when the source provides one."),
    ("gross_margin", "numeric(18,2)", "Net revenue minus cost of goods sold, in US dollars."),
    ("cost_amount", "numeric(18,2)", "Landed cost of goods, including freight and duties."),
    ("net_revenue", "numeric(18,2)", "Revenue after discounts, refunds and chargebacks, in US dollars."),
    ("fiscal_quarter", "text", "Fiscal quarter label (FY25-Q1), from the finance calendar seed."),
    ("days_to_close", "integer", "Days between creation and closing; null while still open."),
]

_CASTS = {name: f"cast({name} as {data_type}) as {name}" for name, data_type, _ in ATTRIBUTES}
VERBS = ("joined", "pivoted", "aggregated", "enriched", "deduplicated", "unioned", "filtered", "daily")


def relation_name(name: str) -> str:
    """The quoted warehouse relation a model or source compiles to."""
    return f'"{DATABASE}"."{SCHEMA}"."{name}"'


def model_config(materialized: str, tags: list[str]) -> dict[str, object]:
    """A full model config as dbt 1.10 writes it into the manifest."""
    return {
        "enabled": True,
        "alias": None,
        "schema": None,
        "database": None,
        "tags": tags,
        "meta": {"owner": "analytics-engineering", "tier": "gold" if "marts" in tags else "silver"},
        "group": None,
        "materialized": materialized,
        "incremental_strategy": None,
        "batch_size": None,
        "lookback": 1,
        "begin": None,
        "persist_docs": {"relation": True, "columns": True},
        "post-hook": [],
        "pre-hook": [],
        "quoting": {},
        "column_types": {},
        "full_refresh": None,
        "unique_key": None,
        "on_schema_change": "ignore",
        "on_configuration_change": "apply",
        "grants": {"select": ["reporter", "bi_service"]},
        "packages": [],
        "docs": {"show": True, "node_color": None},
        "contract": {"enforced": False, "alias_types": True},
        "event_time": None,
        "concurrent_batches": None,
        "access": "protected",
        "freshness": None,
    }


def test_config() -> dict[str, object]:
    """A full data-test config as dbt writes it into the manifest."""
    return {
        "enabled": True,
        "alias": None,
        "schema": "dbt_test__audit",
        "database": None,
        "tags": [],
        "meta": {},
        "group": None,
        "materialized": "test",
        "severity": "ERROR",
        "store_failures": None,
        "store_failures_as": None,
        "where": None,
        "limit": None,
        "fail_calc": "count(*)",
        "warn_if": "!= 0",
        "error_if": "!= 0",
    }


def staging_sql(
    source: tuple[str, str], keys: list[str], attributes: list[str], entity: str, jinja: bool
) -> str:
    """A staging model: rename the raw table's columns, cast them, drop deleted rows."""
    origin = f"{{{{ source('{source[0]}', '{source[1]}') }}}}" if jinja else relation_name(source[1])
    header = "{{ config(materialized='view', tags=['staging']) }}\n\n" if jinja else ""
    renamed = [f"id as {keys[0]}", *keys[1:]]
    renamed += [_CASTS[a] for a in attributes]
    body = ",\n        ".join(renamed)
    return (
        f"{header}-- Staging model for {source[0]}.{source[1]}: one row per {entity}.\n"
        f"-- {entity}_id_legacy and {entity}_idx were retired in 2023; do not reintroduce them.\n"
        f"with source as (\n\n    select * from {origin}\n\n),\n\n"
        f"renamed as (\n\n    select\n        {body},\n        _fivetran_synced as loaded_at\n\n"
        f"    from source\n    where not coalesce(_fivetran_deleted, false)\n\n)\n\n"
        f"select * from renamed\n"
    )


def derived_sql(
    parents: list[tuple[str, str]],
    keys: list[str],
    attributes: list[str],
    grain: str,
    ref: Callable[[str], str],
) -> str:
    """An intermediate or mart model: one CTE per (parent, join key), joined to the first parent."""
    ctes = ",\n\n".join(f"{p} as (\n\n    select * from {ref(p)}\n\n)" for p, _ in parents)
    first = parents[0][0]
    joins = "".join(f"\n    left join {p}\n        on {first}.{key} = {p}.{key}" for p, key in parents[1:])
    selected = [f"{first}.{k}" for k in keys]
    selected += [f"max({first}.{a}) as {a}" for a in attributes[:4]] + [
        f"{first}.{a}" for a in attributes[4:]
    ]
    grouped = ", ".join(str(i) for i in range(1, len(keys) + 1))
    return (
        f"-- Grain: one row per {grain}. Keys are tested in the properties file next to this model.\n"
        f"with {ctes},\n\nfinal as (\n\n    select\n        " + ",\n        ".join(selected) + "\n\n"
        f"    from {first}{joins}\n    where {first}.{keys[0]} is not null\n"
        f"    group by {grouped}\n\n)\n\nselect * from final\n"
    )


def star_sql(parent: str, ref: Callable[[str], str]) -> str:
    """A model that passes its parent through: its columns are known only from its documentation."""
    return f"-- Thin pass-through kept for the BI tool's old dashboards.\nselect * from {ref(parent)}\n"


def test_sql(kind: str, model: str, column: str, jinja: bool) -> str:
    """The raw or compiled SQL of a not_null or unique generic test."""
    if jinja:
        return f"{{{{ test_{kind}(**_dbt_generic_test_kwargs) }}}}"
    relation = relation_name(model)
    if kind == "not_null":
        return f"\n    \n    \n\n\n\nselect {column}\nfrom {relation}\nwhere {column} is null\n\n\n"
    return (
        f"\n    \n    \n\nselect\n    {column} as unique_field,\n    count(*) as n_records\n\n"
        f"from {relation}\nwhere {column} is not null\n\ngroup by {column}\nhaving count(*) > 1\n\n\n"
    )


def macro_sql(name: str, index: int) -> str:
    """A realistic macro body of a few hundred bytes to a few kilobytes."""
    branches = "\n".join(
        f"    {{%- elif target.type == '{adapter}' -%}}\n"
        f"        {{{{ return(adapter.dispatch('{name}', 'acme')(column_name, {i})) }}}}"
        for i, adapter in enumerate(
            ("snowflake", "bigquery", "redshift", "databricks", "duckdb", "spark", "trino", "fabric")[
                : 3 + index % 6
            ]
        )
    )
    return (
        f"{{% macro {name}(column_name, precision=2) -%}}\n"
        f"    {{#- Shared helper #{index}: keeps the rounding rules of finance in one place. -#}}\n"
        f"    {{%- if target.type == 'postgres' -%}}\n"
        f"        round(({{{{ column_name }}}} / 100)::numeric, {{{{ precision }}}})\n"
        f"{branches}\n"
        f"    {{%- else -%}}\n"
        f"        {{{{ exceptions.raise_compiler_error('{name}: unsupported adapter ' ~ target.type) }}}}\n"
        f"    {{%- endif -%}}\n{{%- endmacro %}}\n"
    )
