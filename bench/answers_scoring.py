"""Score one answer of the generated layer against the vendor's answer file (bench/answers.py's yardstick).

Rows are matched on their keys; numbers agree within 0.01; a date and a timestamp at midnight are the same
day; an empty cell is a null. The verdicts, worst first: WRONG (a value the layer gave differs from the
vendor's, or one key comes back twice), PARTIAL (nothing differs, but rows or columns are missing or
extra), EXACT, and NOT ANSWERABLE (the layer lacks what the question needs; decided by the question file).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

EXACT, PARTIAL, WRONG, NOT_ANSWERABLE = "EXACT", "PARTIAL", "WRONG", "NOT ANSWERABLE"
VERDICTS = (WRONG, PARTIAL, EXACT, NOT_ANSWERABLE)  # worst first: the order of every listing
ERROR = "ERROR"  # the bench could not ask the question (build failed, query refused): a fault to fix, never a score
TOLERANCE = 0.01

Value = str | float | bool | dt.date | dt.datetime | None
Row = dict[str, Value]

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}(:?\d{2})?|Z)?")
_BOOLEANS = {"t": True, "true": True, "f": False, "false": False}


@dataclass
class Score:
    """One question's verdict, what it rests on, and the differing values (question's key, column, vendor, layer)."""

    verdict: str
    detail: str
    differences: list[str] = field(default_factory=list)


def canonical(value: object) -> Value:
    """A cell from a CSV or a database row as one comparable value (text that reads as a number is one)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:  # answers are UTC
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.date() if value.time() == dt.time() else value
    if isinstance(value, dt.date):
        return value
    text = str(value)
    if _NUMBER.fullmatch(text):
        return float(text)
    if text.lower() in _BOOLEANS:
        return _BOOLEANS[text.lower()]
    if _DATE.fullmatch(text) or _DATETIME.fullmatch(text):
        return canonical(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    return text


def same(expected: Value, got: Value) -> bool:
    """Whether two canonical values agree: numbers within the tolerance, anything else equal."""
    if isinstance(expected, float) and isinstance(got, float):
        return abs(expected - got) <= TOLERANCE + 1e-9
    return type(expected) is type(got) and expected == got


def read_answer(path: Path) -> tuple[list[str], list[Row]]:
    """The vendor's answer file: its columns and its rows as canonical values."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [{c: canonical(v) for c, v in row.items()} for row in reader]
        return list(reader.fieldnames or []), rows


def default_keys(columns: Sequence[str], rows: Iterable[Row]) -> list[str]:
    """The answer's non-numeric columns: what a row is about rather than what it counts."""
    rows = list(rows)
    return [c for c in columns if not all(isinstance(r[c], float | type(None)) for r in rows)]


def _key(row: Mapping[str, Value], keys: Sequence[str]) -> tuple[object, ...]:
    # Numbers as rounded text so 10001.0 and 10001 are one key; everything else as it is.
    return tuple(f"{row[k]:.2f}" if isinstance(row[k], float) else row[k] for k in keys)


def score(
    expected_columns: Sequence[str],
    expected: Sequence[Row],
    got: Sequence[Mapping[str, object]],
    keys: Sequence[str],
    unanswered: Mapping[str, str] | None = None,
) -> Score:
    """Compare the layer's rows (columns named as in the answer file) with the vendor's, on their keys."""
    unanswered = dict(unanswered or {})
    got_rows = [{c: canonical(v) for c, v in row.items()} for row in got]
    answered = [c for c in expected_columns if c not in keys and c not in unanswered]
    by_key: dict[tuple[object, ...], Row] = {}
    twice = []
    for row in got_rows:
        key = _key(row, keys)
        if key in by_key:
            twice.append(key)
        by_key[key] = row
    differences = [f"{key} appears {1 + twice.count(key)} times in the layer's answer" for key in set(twice)]
    matched = 0
    for row in expected:
        key = _key(row, keys)
        mine = by_key.pop(key, None)
        if mine is None:
            continue
        matched += 1
        differences += [
            f"{', '.join(str(k) for k in key)}: {c} vendor {row[c]} layer {mine.get(c)}"
            for c in answered
            if not same(row[c], mine.get(c))
        ]
    if differences:
        return Score(WRONG, f"{len(differences)} value(s) differ", differences)
    parts = []
    if matched < len(expected) or by_key:
        parts.append(f"{matched}/{len(expected)} rows" + (f", {len(by_key)} extra" if by_key else ""))
    if unanswered:
        parts.append(
            f"{len(answered)}/{len(answered) + len(unanswered)} columns; not answerable: "
            + "; ".join(f"{c} ({why})" for c, why in unanswered.items())
        )
    if parts:
        return Score(PARTIAL, "; ".join(parts))
    return Score(EXACT, f"{matched} rows, {len(answered)} columns")
