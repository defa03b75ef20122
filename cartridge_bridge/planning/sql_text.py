"""Small facts about SQL text: quoting identifiers per adapter and classifying warehouse types."""

from __future__ import annotations

import re

from cartridge_bridge.context.naming import needs_quoting

# Adapters that quote identifiers with backticks; every other adapter dbt supports uses double quotes.
_BACKTICK_ADAPTERS = frozenset({"bigquery", "databricks", "spark", "clickhouse", "mysql"})

_NUMERIC_TYPE = re.compile(
    r"u?(small|big|huge|tiny)?int(eger)?\d*\b|numeric|decimal|number|double|real|float|money", re.IGNORECASE
)
_TEMPORAL_TYPE = re.compile(r"timestamp|date\b|datetime", re.IGNORECASE)
_COLLECTION_TYPE = re.compile(r"\[\]\s*$|^\s*(array|list|map|struct)\b", re.IGNORECASE)


def quote(identifier: str, adapter_type: str) -> str:
    """The identifier as written in SQL for this adapter: bare when plain, quoted otherwise."""
    if not needs_quoting(identifier):
        return identifier
    if adapter_type in _BACKTICK_ADAPTERS:
        return "`" + identifier.replace("`", "``") + "`"
    return '"' + identifier.replace('"', '""') + '"'


def is_numeric(data_type: str) -> bool:
    """True for integer, decimal and floating-point types."""
    return _NUMERIC_TYPE.match(data_type.strip()) is not None and not _COLLECTION_TYPE.search(data_type)


def is_temporal(data_type: str) -> bool:
    """True for date and timestamp types."""
    return _TEMPORAL_TYPE.match(data_type.strip()) is not None and not _COLLECTION_TYPE.search(data_type)
