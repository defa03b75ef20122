"""Classify warehouse types: numeric, temporal, collections."""

from __future__ import annotations

import re

_NUMERIC_TYPE = re.compile(
    r"u?(small|big|huge|tiny)?int(eger)?\d*\b|numeric|decimal|number|double|real|float|money", re.IGNORECASE
)
_TEMPORAL_TYPE = re.compile(r"timestamp|date\b|datetime", re.IGNORECASE)
_COLLECTION_TYPE = re.compile(r"\[\]\s*$|^\s*(array|list|map|struct)\b", re.IGNORECASE)


def is_numeric(data_type: str) -> bool:
    """True for integer, decimal and floating-point types."""
    return _NUMERIC_TYPE.match(data_type.strip()) is not None and not _COLLECTION_TYPE.search(data_type)


def is_temporal(data_type: str) -> bool:
    """True for date and timestamp types."""
    return _TEMPORAL_TYPE.match(data_type.strip()) is not None and not _COLLECTION_TYPE.search(data_type)
