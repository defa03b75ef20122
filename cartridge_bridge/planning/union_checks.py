"""Check a union spec: several models stacked, each input mapped onto the union's declared columns.

Each input's mapping is a set of scalar expressions confined to THAT input's columns (no aggregate, no window:
a branch keeps its input's rows one for one), every output column declares the type every branch is cast to,
and each input's label, written into the SQL as a string literal, is plain text that stays one literal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from cartridge_bridge.planning.plan import LABEL_LIMIT, UnionInput, UnionSpec
from cartridge_bridge.sql.identifiers import JINJA_OPENERS
from cartridge_bridge.sql.sql_fragments import (
    cast_type_problem,
    expression_problem,
    literal_problem,
    parse_expression,
)
from cartridge_bridge.sql.sql_types import type_family

if TYPE_CHECKING:  # spec_checks calls in here for a union
    from cartridge_bridge.planning.spec_checks import SpecChecker


def source_label(branch: UnionInput) -> str:
    """The value of the union's source column on this input's rows: its label, or its model's name."""
    return branch.model if branch.label is None else branch.label


def label_problem(value: str, adapter_type: str) -> str | None:
    """Why `value` cannot be an input's label (a string literal in the model's SQL), or None.

    Quotes and backslashes are refused rather than escaped: the restyler's literal spans and every adapter's
    escaping then agree on where the literal ends, and the label reads back as written.
    """
    if not value or len(value) > LABEL_LIMIT or not value.isprintable():
        return f"{value!r} is not a printable label of 1 to {LABEL_LIMIT} characters"
    if any(opener in value for opener in JINJA_OPENERS) or "'" in value or "\\" in value:
        return f"{value!r} holds Jinja, a quote or a backslash"
    # Written as `cast('<label>' as <type>)`, it passes the fragment checks like any expression (no `;`, `--`).
    return literal_problem(value, adapter_type) or expression_problem(f"'{value}'", adapter_type)


def check_union(checker: SpecChecker, spec: UnionSpec, outputs: set[str]) -> None:
    """Record every problem of a union spec on `checker` (its action's problems)."""
    declared: dict[str, str | None] = {}
    for column in spec.columns:
        at = f"spec.columns[{column.name}]"
        if column.expression is not None or column.source_column is not None or column.cast_to is not None:
            checker.add(at, "a union column is mapped in each input's `columns`, not here", "only data_type")
        if column.data_type is None:
            checker.add(
                f"{at}.data_type", "a union column declares the type every input is cast to", "a type"
            )
        elif problem := cast_type_problem(column.data_type, checker.adapter):
            checker.add(f"{at}.data_type", problem, "a plain SQL type")
        declared[column.name] = column.data_type
    checker.name("spec.source_column", spec.source_column)
    if spec.source_column not in declared:
        checker.add("spec.source_column", f"{spec.source_column!r} is not one of the union's columns")
    elif (data_type := declared[spec.source_column]) and type_family(data_type) != "text":
        checker.add(
            f"spec.columns[{spec.source_column}].data_type", f"{data_type} holds no label", "a text type"
        )
    mapped = [name for name in declared if name != spec.source_column]
    if len(spec.inputs) < 2:
        checker.add("spec.inputs", "a union stacks at least two inputs")
    labels: set[str] = set()
    for index, branch in enumerate(spec.inputs):
        at = f"spec.inputs[{index}]"
        columns = checker.model_columns(f"{at}.model", branch.model)
        label = source_label(branch)
        if problem := label_problem(label, checker.adapter):
            checker.add(f"{at}.label", problem, "plain text, the input's name")
        if label in labels:
            checker.add(
                f"{at}.label", f"two inputs are labelled {label!r}: their rows could not be told apart"
            )
        labels.add(label)
        for name in [n for n in mapped if n not in branch.columns]:
            checker.add(f"{at}.columns", f"maps no expression to {name!r}", "an expression, or null")
        for name, expression in branch.columns.items():
            where = f"{at}.columns[{name}]"
            if name not in mapped:
                checker.add(where, f"{name!r} is not a column the union maps", f"one of: {', '.join(mapped)}")
                continue
            checker.fragment(where, expression, {None: columns})
            tree = parse_expression(expression, checker.adapter)[0]
            if tree is not None and tree.find(exp.AggFunc, exp.Window):
                checker.add(where, f"{expression!r} aggregates: a union keeps each input's rows as they are")
    if not spec.grain:
        checker.add("spec.grain", "a union declares its grain", f"[{spec.source_column!r}, the inputs' key]")
    elif not _grain_tested(checker, spec.grain):
        checker.add(
            "tests",
            f"the union's grain {spec.grain} is not tested",
            "a unique_combination_of_columns test of the grain (a unique test for a grain of one column)",
        )


def _grain_tested(checker: SpecChecker, grain: list[str]) -> bool:
    """True when a model test (or, for one column, a column test) makes the grain unique."""
    if any(
        t.name == "unique_combination_of_columns" and set(t.columns) == set(grain)
        for t in checker.action.tests
    ):
        return True
    spec = checker.action.spec
    columns = spec.columns if isinstance(spec, UnionSpec) else []
    return len(grain) == 1 and any(
        c.name == grain[0] and any(t.name == "unique" for t in c.tests) for c in columns
    )
