"""The magnitude check: a measure brought to an existing mart's grain is compared, on the data, with that mart's
own amounts, and a unit mismatch (refunds in cents beside orders in units) fails the run instead of landing.

Which measures: the money columns (named like money, never a count, a quantity or a rate) of each new model
that re-grains rows to the key of an existing mart (`int_<table>_aggregated_to_<entity>`) and of each new model
built on an existing mart (`<mart>_with_<table>`), when they come from a new model and not from the mart.
Compared with: the existing mart's money columns. On: the median of the absolute values of the rows that hold
a number other than zero (nulls and zeros say nothing of a unit, and a refund's sign is its own), and only
columns with at least `MIN_ROWS` such rows (a handful of values has no reliable median).
It fails when the new measure's median is about 100x or 1000x (or 1/100, 1/1000) of EVERY comparable amount of
the mart (within a factor `_BAND` either side): one ordinary amount of the mart in the same unit is enough to
clear it, so a mart holding both small and large amounts does not raise a false alarm.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.errors import DbtError, VerificationError
from cartridge_bridge.planning.plan import AggregateSpec, ExecutionPlan, MartSpec
from cartridge_bridge.planning.rules.measures import is_money_name
from cartridge_bridge.progress import Progress, SilentProgress
from cartridge_bridge.sql.sql_types import is_numeric

MIN_ROWS = 5
_SUSPECT = (100.0, 1000.0)  # the factors between units and cents (or mills)
_BAND = 10**0.35  # ~2.24: 100x means 45x to 224x, so a partial refund in cents is still caught
MEDIANS_MACRO = "cartridge._medians"


@dataclass(frozen=True)
class MagnitudePair:
    """A new money column and the existing mart whose amounts it must be comparable to."""

    model: str  # the new model holding it
    column: str
    mart: str  # the existing mart of that grain
    mart_columns: tuple[str, ...]  # its money columns


@dataclass(frozen=True)
class Median:
    """What the data holds of a column: how many rows with a number other than zero, and their median."""

    rows: int
    median: float | None


def magnitude_pairs(plan: ExecutionPlan, context: ProjectContext) -> list[MagnitudePair]:
    """The new money columns at an existing mart's grain, each with that mart's money columns."""
    # An existing mart the plan edits in place is no new model: its new columns are checked against its own.
    new_models = {a.name for a in plan.models() if a.type != "modify_in_place"}
    pairs = []
    for action in plan.models():
        spec = action.spec
        mart, columns = None, []
        if isinstance(spec, AggregateSpec) and len(spec.group_by) == 1:
            owner = context.existing_keys.get(spec.group_by[0])
            mart = owner.mart if owner is not None else None
            columns = [c for c in spec.columns if c.name not in spec.group_by]
        elif isinstance(spec, MartSpec) and spec.base_model in context.existing_models:
            mart = spec.base_model
            columns = [c for j in spec.joins if j.model in new_models for c in j.columns]
        if mart is None or mart in new_models:
            continue
        theirs = _money_columns(mart, context)
        for column in columns:
            # A column the plan types as anything but a number is no amount, whatever its name.
            numeric = not column.data_type or is_numeric(column.data_type)
            if theirs and numeric and is_money_name(column.name):
                pairs.append(MagnitudePair(action.name, column.name, mart, tuple(theirs)))
    return pairs


def _money_columns(mart: str, context: ProjectContext) -> list[str]:
    facts = context.existing.get(mart)
    if facts is not None:
        typed = [(c.name, c.data_type) for c in facts.columns]
    else:
        owners = [o for o in context.existing_keys.values() if o.mart == mart]
        typed = [(c, None) for c in (owners[0].columns.get(mart, []) if owners else [])]
    return [n for n, t in typed if is_money_name(n) and (t is None or is_numeric(t))]


def mismatch(pair: MagnitudePair, new: Median, existing: dict[str, Median]) -> str | None:
    """The one-line failure when the new column is ~100x/1000x off every comparable amount of the mart, else None."""
    if new.rows < MIN_ROWS or not new.median:
        return None
    comparable = {c: m for c, m in existing.items() if m.rows >= MIN_ROWS and m.median}
    if not comparable:
        return None
    ratios = {c: new.median / m.median for c, m in comparable.items() if m.median}
    if not all(_suspect(r) for r in ratios.values()):
        return None
    column = max(comparable, key=lambda c: (comparable[c].rows, c == pair.column))
    ratio = ratios[column]
    shown = f"{ratio:.0f}x" if ratio >= 1 else f"1/{1 / ratio:.0f}"
    return (
        f"magnitude check: `{pair.model}.{pair.column}` (median {new.median:g}) is {shown} "
        f"`{pair.mart}.{column}` (median {comparable[column].median:g}): a unit mismatch (cents against units?) "
        "at the mart's grain; the project was restored"
    )


def _suspect(ratio: float) -> bool:
    distance = abs(math.log10(ratio))
    return any(abs(distance - math.log10(f)) <= math.log10(_BAND) for f in _SUSPECT)


def check_magnitudes(
    dbt: DbtProject, plan: ExecutionPlan, context: ProjectContext, progress: Progress | None = None
) -> None:
    """Raise a VerificationError naming both columns and the ratio when a new measure is off by a unit."""
    pairs = magnitude_pairs(plan, context)
    if not pairs:
        return
    models = sorted({p.model for p in pairs} | {p.mart for p in pairs})
    where = {r["model"]: r for r in dbt.relations_of(models)}
    wanted = [(p.model, p.column) for p in pairs] + [(p.mart, c) for p in pairs for c in p.mart_columns]
    asked = [
        {k: where[model][k] for k in ("database", "schema", "identifier")} | {"column": column}
        for model, column in dict.fromkeys(wanted)
        if model in where
    ]
    try:
        printed = dbt.run_operation(MEDIANS_MACRO, {"columns": asked})
    except DbtError as error:
        # An adapter without a median (or a package without the macro): the build's own tests still stand.
        (progress or SilentProgress()).step(f"magnitude check skipped: {str(error).splitlines()[0]}")
        return
    lines = printed.strip().splitlines()
    rows = json.loads(lines[-1])["medians"] if lines else []
    identifiers = {(where[m]["schema"].lower(), where[m]["identifier"].lower()): m for m in where}
    medians = {
        (identifiers.get((r["schema"].lower(), r["identifier"].lower())), r["column"]): Median(
            r["n"], r["median"]
        )
        for r in rows
    }
    for pair in pairs:
        new = medians.get((pair.model, pair.column))
        existing = {c: found for c in pair.mart_columns if (found := medians.get((pair.mart, c))) is not None}
        problem = mismatch(pair, new, existing) if new is not None else None
        if problem is not None:
            raise VerificationError(problem)
