"""Classify warehouse types (numeric, temporal, boolean, text, collections) and name the adapters' portable ones."""

from __future__ import annotations

import re

_NUMERIC_TYPE = re.compile(
    r"u?(small|big|huge|tiny)?int(eger)?\d*\b|numeric|decimal|number|double|real|float|money", re.IGNORECASE
)
_WHOLE_NUMBER_TYPE = re.compile(
    r"u?(small|big|huge|tiny)?int(eger)?\d*(\s+unsigned)?|long|(numeric|decimal|number)\s*\(\s*\d+\s*(,\s*0\s*)?\)",
    re.IGNORECASE,
)
_TEMPORAL_TYPE = re.compile(r"timestamp|date\b|datetime", re.IGNORECASE)
_TEXT_TYPE = re.compile(
    r"(character varying|varchar|nvarchar|character|char|nchar|bpchar|text|string)\b", re.I
)
_BOOLEAN_TYPE = re.compile(r"bool(ean)?\b", re.I)
# The type a text timestamp is cast to, per adapter (what dbt's `type_timestamp()` gives).
_TIMESTAMP_TYPES = {"snowflake": "timestamp_ntz"}
_COLLECTION_TYPE = re.compile(r"\[\]\s*$|^\s*(array|list|map|struct)\b", re.IGNORECASE)


def is_numeric(data_type: str) -> bool:
    """True for integer, decimal and floating-point types."""
    return _NUMERIC_TYPE.match(data_type.strip()) is not None and not _COLLECTION_TYPE.search(data_type)


def is_whole_number(data_type: str) -> bool:
    """True for integer types, and decimals of scale 0 (`number(38,0)`, `numeric(12)`)."""
    text = data_type.strip()
    return _WHOLE_NUMBER_TYPE.fullmatch(text) is not None and not _COLLECTION_TYPE.search(text)


def is_temporal(data_type: str) -> bool:
    """True for date and timestamp types."""
    return _TEMPORAL_TYPE.match(data_type.strip()) is not None and not _COLLECTION_TYPE.search(data_type)


def is_boolean(data_type: str) -> bool:
    """True for boolean types."""
    return _BOOLEAN_TYPE.match(data_type.strip()) is not None


def is_text(data_type: str) -> bool:
    """True for character types."""
    return _TEXT_TYPE.match(data_type.strip()) is not None


def type_family(data_type: str) -> str:
    """`number`, `text`, `temporal`, `boolean` or `other`: types of one family compare without a cast."""
    if is_numeric(data_type):
        return "number"
    if is_temporal(data_type):
        return "temporal"
    if is_boolean(data_type):
        return "boolean"
    if is_text(data_type):
        return "text"
    return "other"


def timestamp_type(adapter_type: str) -> str:
    """The adapter's portable timestamp type, as dbt's `type_timestamp()` names it."""
    return _TIMESTAMP_TYPES.get(adapter_type, "timestamp")
