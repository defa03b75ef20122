"""Check a mart's semantic model and the plan's semantic layer as a whole, in the grammar of the rest of the plan.

Inside one action: every name is a plain name, every entity and dimension a column of the mart, every `expr`
one safe row-level expression over the mart's columns (MetricFlow puts the aggregation around it), every
measure dated by a time dimension. Across the plan: the names MetricFlow needs unique are unique, against
the project's own semantic layer too, and no name is an entity in one model and a dimension in another.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlglot import exp

from cartridge_bridge.planning.plan import ExecutionPlan, PlanAction, SemanticModelSpec
from cartridge_bridge.planning.problems import PLAN_LEVEL, PlanProblem
from cartridge_bridge.sql.sql_fragments import parse_expression

# MetricFlow's rule for every element name (dbt-semantic-interfaces' naming validation).
_METRICFLOW_NAME = re.compile(r"[a-z][a-z0-9_]*")

if TYPE_CHECKING:  # spec_checks calls in here for a mart's semantic model
    from cartridge_bridge.planning.spec_checks import SpecChecker


def check_semantic_model(checker: SpecChecker, model: SemanticModelSpec, outputs: set[str]) -> None:
    """Record every problem of one mart's semantic model on `checker` (its action's problems)."""
    at = "semantic_model"
    if checker.action.type != "create_mart":
        checker.add(at, "only a mart carries a semantic model")
    checker.name(f"{at}.name", model.name, reserved_ok=True)
    entities: set[str] = set()
    for entity in model.entities:
        where = f"{at}.entities[{entity.name}]"
        checker.name(f"{where}.name", entity.name, reserved_ok=True)
        _new_name(checker, f"{where}.name", "entity", entity.name, entities)
        checker.columns_in(f"{where}.column", [entity.column], outputs)
    if sum(e.type == "primary" for e in model.entities) > 1:
        checker.add(f"{at}.entities", "a semantic model has at most one primary entity")
    if model.primary_entity is not None:
        checker.name(f"{at}.primary_entity", model.primary_entity, reserved_ok=True)
        if any(e.type == "primary" for e in model.entities):
            checker.add(f"{at}.primary_entity", "is for a model without a primary entity among its entities")
    times: set[str] = set()
    dimensions: set[str] = set()
    for dimension in model.dimensions:
        where = f"{at}.dimensions[{dimension.name}]"
        checker.columns_in(f"{where}.name", [dimension.name], outputs)
        _new_name(checker, f"{where}.name", "dimension", dimension.name, dimensions)
        if dimension.name in entities:
            checker.add(f"{where}.name", f"{dimension.name!r} is an entity of this semantic model")
        if dimension.type == "time":
            times.add(dimension.name)
            if dimension.time_granularity is None:
                checker.add(f"{where}.time_granularity", "a time dimension needs its granularity", "day")
        elif dimension.time_granularity is not None:
            checker.add(f"{where}.time_granularity", "only a time dimension has a granularity")
    if model.agg_time_dimension is not None:
        _one_of(checker, f"{at}.agg_time_dimension", model.agg_time_dimension, times, "time dimension")
    measures: set[str] = set()
    for measure in model.measures:
        where = f"{at}.measures[{measure.name}]"
        checker.name(f"{where}.name", measure.name, reserved_ok=True)
        _new_name(checker, f"{where}.name", "measure", measure.name, measures)
        _check_expr(checker, f"{where}.expr", measure.expr, outputs)
        dated_by = measure.agg_time_dimension or model.agg_time_dimension
        if dated_by is None:
            checker.add(f"{where}.agg_time_dimension", "a measure needs a time dimension to be dated by")
        else:
            _one_of(checker, f"{where}.agg_time_dimension", dated_by, times, "time dimension")
    metrics: set[str] = set()
    for metric in model.metrics:
        where = f"{at}.metrics[{metric.name}]"
        checker.name(f"{where}.name", metric.name, reserved_ok=True)
        _new_name(checker, f"{where}.name", "metric", metric.name, metrics)
        _one_of(checker, f"{where}.measure", metric.measure, measures, "measure")


def _new_name(checker: SpecChecker, where: str, kind: str, name: str, seen: set[str]) -> None:
    """Record a name not seen before in this semantic model, or the problem of naming it twice or in a way
    MetricFlow refuses (dbt parse fails on `_fivetran_synced` as a dimension)."""
    if isinstance(name, str) and not _METRICFLOW_NAME.fullmatch(name):
        checker.add(
            where,
            f"MetricFlow refuses {kind} name {name!r}: it must begin with a lower-case letter",
            "a name like `synced_at` (rename the column in staging), or leave it out",
        )
    if name in seen:
        checker.add(where, f"the semantic model names {kind} {name!r} twice")
    seen.add(name)


def _one_of(checker: SpecChecker, where: str, name: str, allowed: set[str], kind: str) -> None:
    """A reference to a dimension or measure of this semantic model."""
    if name not in allowed:
        checker.add(
            where,
            f"{name!r} is not a {kind} of this semantic model",
            f"one of: {', '.join(sorted(allowed)) or 'none'}",
        )


def _check_expr(checker: SpecChecker, where: str, text: str, outputs: set[str]) -> None:
    """A measure's expression: one safe expression over the mart's columns, aggregated by MetricFlow only."""
    before = len(checker.problems)
    checker.fragment(where, text, {None: outputs})
    if len(checker.problems) > before:
        return
    tree, _ = parse_expression(text, checker.adapter)
    if tree is not None and tree.find(exp.AggFunc, exp.Window) is not None:
        checker.add(
            where,
            f"{text!r} aggregates itself; MetricFlow applies the measure's `agg`",
            "a row-level expression",
        )


def _names(model: SemanticModelSpec, kind: str) -> list[str]:
    if kind == "semantic model":
        return [model.name]
    return [x.name for x in (model.measures if kind == "measure" else model.metrics)]


def semantic_layer_problems(
    plan: ExecutionPlan, existing: Mapping[str, set[str]], has_time_spine: bool
) -> list[PlanProblem]:
    """Across the plan: semantic model, measure and metric names unique (`existing` holds the project's, by
    kind), one element type per name, and at most one time spine, none when the project has one."""
    problems: list[PlanProblem] = []
    models = [(a, a.semantic_model) for a in plan.actions if a.semantic_model is not None]
    for kind in ("semantic model", "measure", "metric"):
        seen: Counter[str] = Counter()
        for action, model in models:
            for name in _names(model, kind):
                seen[name] += 1
                if seen[name] == 2:
                    problems.append(
                        PlanProblem(action.name, "semantic_model", f"the plan names {kind} {name!r} twice")
                    )
                if name in existing.get(kind, set()):
                    problems.append(
                        PlanProblem(
                            action.name, "semantic_model", f"{kind} {name!r} already exists in the project"
                        )
                    )
    problems += _element_type_problems(models)
    labelled: dict[str, str] = {}
    for action, model in models:
        for metric in model.metrics:
            first = labelled.setdefault(metric.label, metric.name)
            if first != metric.name:  # MetricFlow refuses it when dbt parses
                problems.append(
                    PlanProblem(
                        action.name,
                        "semantic_model",
                        f"metrics {first!r} and {metric.name!r} have one label {metric.label!r}",
                    )
                )
    spines = [a for a in plan.actions if a.type == "create_time_spine"]
    if len(spines) > 1:
        problems.append(PlanProblem(PLAN_LEVEL, "actions", "the plan creates more than one time spine"))
    if spines and has_time_spine:
        problems.append(
            PlanProblem(
                spines[0].name, "type", "the project has a time spine already; MetricFlow uses that one"
            )
        )
    return problems


def _element_type_problems(models: list[tuple[PlanAction, SemanticModelSpec]]) -> list[PlanProblem]:
    """MetricFlow refuses a name that is an entity in one semantic model and a dimension or measure in another."""
    kinds: dict[str, set[str]] = {}
    for _, model in models:
        for name in [e.name for e in model.entities] + (
            [model.primary_entity] if model.primary_entity else []
        ):
            kinds.setdefault(name, set()).add("entity")
        for dimension in model.dimensions:
            kinds.setdefault(dimension.name, set()).add("dimension")
        for measure in model.measures:
            kinds.setdefault(measure.name, set()).add("measure")
    return [
        PlanProblem(
            PLAN_LEVEL,
            "semantic_model",
            f"{name!r} is both {' and '.join(sorted(found))} in the plan's semantic models",
        )
        for name, found in sorted(kinds.items())
        if len(found) > 1
    ]
