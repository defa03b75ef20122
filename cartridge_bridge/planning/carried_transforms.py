"""The project's staging transforms carried over to new staged columns like them (`amount / 100` for refunds too).

The rule, from what any schema shows: a new staged column carries a transform of the project when
- an existing staging model (a model of a raw table: it reads only sources and seeds, or is named `stg_`/`base_`)
  makes a column of the same name (after staging's renames) with an expression that is more than a rename;
- the two columns are of one type family (both numbers, both text…), judged on the existing column's type
  (the warehouse's, else the cast's, else numbers for arithmetic);
- every existing staging column of that name makes it the same way: when one model converts `amount` and
  another passes it through (or converts it otherwise), the project has no one convention and nothing is
  copied; the run flags it;
- the column is no key (`…_id`, or in the grain): keys are compared as they are, never converted.
Only a closed set of shapes is copied, one column deep: `col / N`, `col * N`, `N * col`, `cast(col as T)`,
`col::T`, `round(…, k)`, `try_cast`, parentheses, nested in one another. Any other expression (a `case`, a
function of two columns) is not copied: it is flagged, for the user to write.

The same rule checks any plan (the LLM planner's, an edited plan file): a staged column that should carry a
transform and does not is a finding, shown as the first line of the run's summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from cartridge_bridge.context.existing_models import ExistingModelFacts
from cartridge_bridge.planning.plan import ColumnSpec, ExecutionPlan, SourceSpec, StagingSpec
from cartridge_bridge.sql.identifiers import quote
from cartridge_bridge.sql.sql_fragments import SQLGLOT_DIALECTS, parse_expression
from cartridge_bridge.sql.sql_types import is_whole_number, type_family

_ARITHMETIC = (exp.Div, exp.Mul)


@dataclass(frozen=True)
class ProjectTransform:
    """How the project's staging makes a column of this name: the expression, from which models, copyable or not."""

    column: str  # the staged column's name
    expression: str  # as the existing staging model writes it, over its own raw column
    models: tuple[str, ...]  # the staging models that make it so
    family: str  # the type family of the transformed column
    data_type: str | None = None  # the transformed column's type, when the warehouse or a cast says it
    scales: bool = False  # multiplies or divides by a number: a unit conversion
    raw_type: str | None = None  # the type of the raw column the project converts, when the warehouse says it
    problem: str | None = None  # why it is not copied (an unsafe shape, models that disagree), or None

    def apply_to(self, raw_column: str, adapter_type: str) -> str | None:
        """The same transform over `raw_column` (quoted for the adapter), or None when it is not copied."""
        if self.problem is not None:
            return None
        return rewritten(self.expression, raw_column, adapter_type)


def _safe_shape(node: exp.Expr) -> exp.Column | None:
    """The one column of an expression of the safe shapes, or None when it is any other expression."""
    while True:
        if isinstance(node, exp.Column):
            return node if isinstance(node.this, exp.Identifier) else None
        if isinstance(node, exp.Paren | exp.Cast | exp.TryCast):
            node = node.this
        elif isinstance(node, exp.Round):
            decimals = node.args.get("decimals")
            if decimals is not None and not (isinstance(decimals, exp.Literal) and decimals.is_int):
                return None
            node = node.this
        elif isinstance(node, _ARITHMETIC):
            left, right = node.left, node.right
            if _is_number(right):
                node = left
            elif isinstance(node, exp.Mul) and _is_number(left):
                node = right
            else:
                return None
        else:
            return None


def _is_number(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and node.is_number


def _parse(expression: str, adapter_type: str) -> exp.Expr | None:
    try:
        return sqlglot.parse_one(expression, read=SQLGLOT_DIALECTS.get(adapter_type))
    except SqlglotError:
        return None


def rewritten(expression: str, raw_column: str, adapter_type: str) -> str | None:
    """The existing expression with its one column replaced by `raw_column`; None when its shape is not safe."""
    tree = _parse(expression, adapter_type)
    column = _safe_shape(tree) if tree is not None else None
    if tree is None or column is None:
        return None
    replacement = parse_expression(quote(raw_column, adapter_type), adapter_type)[0]
    if replacement is None:
        return None
    if column is tree:
        return None  # a plain column is a rename, no transform
    column.replace(replacement.copy())
    return tree.sql(dialect=SQLGLOT_DIALECTS.get(adapter_type), comments=False)


def _family(column_type: str | None, tree: exp.Expr | None) -> str:
    if column_type:
        return type_family(column_type)
    if isinstance(tree, exp.Cast | exp.TryCast):
        return type_family(tree.to.sql())
    return "number" if tree is not None and tree.find(*_ARITHMETIC, exp.Round) else "other"


def _shape(expression: str, adapter_type: str) -> str | None:
    """The expression with its column made anonymous: two models transform alike when their shapes are equal."""
    tree = _parse(expression, adapter_type)
    column = _safe_shape(tree) if tree is not None else None
    if tree is None or column is None:
        return None
    column.replace(exp.column("_"))
    return tree.sql(comments=False).lower()


def project_transforms(
    existing: dict[str, ExistingModelFacts], adapter_type: str
) -> dict[str, ProjectTransform]:
    """Staged column name → the project's transform of it, from its existing staging models (see the module)."""
    made: dict[str, list[tuple[ExistingModelFacts, str | None, str | None]]] = {}
    raw: dict[str, str] = {}  # column → the raw type the first transforming model reads
    for model in existing.values():
        if model.layer != "staging":
            continue
        for column in model.columns:
            made.setdefault(column.name.lower(), []).append((model, column.expression, column.data_type))
            if column.expression is not None and column.raw_type:
                raw.setdefault(column.name.lower(), column.raw_type)
    found = {}
    for name, ways in made.items():
        transformed = [(m, e, t) for m, e, t in ways if e is not None]
        if not transformed or _is_key(name, [m for m, _, _ in ways]):
            continue
        model, expression, data_type = transformed[0]
        tree = _parse(expression or "", adapter_type)
        models = tuple(sorted(m.name for m, _, _ in transformed))
        problem = None
        if _shape(expression or "", adapter_type) is None:
            problem = f"`{expression}` is not one of the shapes copied (col / N, col * N, casts, round)"
        elif len({_shape(e or "", adapter_type) for _, e, _ in transformed}) > 1:
            problem = f"the project's staging models make `{name}` in {len(transformed)} different ways"
        elif len(transformed) < len(ways):
            passed = sorted(m.name for m, e, _ in ways if e is None)
            problem = f"{', '.join(passed)} pass{'es' if len(passed) == 1 else ''} `{name}` through unchanged"
        found[name] = ProjectTransform(
            column=name,
            expression=expression or "",
            models=models,
            family=_family(data_type, tree),
            data_type=data_type,
            scales=tree is not None and tree.find(*_ARITHMETIC) is not None,
            raw_type=raw.get(name),
            problem=problem,
        )
    return found


def _is_key(name: str, models: list[ExistingModelFacts]) -> bool:
    return name.endswith("_id") or name == "id" or any(name in [g.lower() for g in m.grain] for m in models)


def carry_transforms(
    specs: list[StagingSpec], existing: dict[str, ExistingModelFacts], adapter_type: str
) -> None:
    """Give each staged column that matches a copyable transform of the project that transform, in place.

    Run once the marts are planned: their rules read a staged column's raw column (its profile, its currency).
    """
    transforms = project_transforms(existing, adapter_type)
    for spec in specs if transforms else []:
        for column in spec.columns:
            found = _matching(column, spec.grain, transforms)
            if found is None or column.source_column is None or column.cast_to is not None:
                continue  # a cast of its own (a key's, a timestamp's) says the column is already taken care of
            made = found.apply_to(column.source_column, adapter_type)
            if made is not None:
                column.expression, column.source_column = made, None
                column.data_type = found.data_type or column.data_type


def _matching(
    column: ColumnSpec, grain: list[str], transforms: dict[str, ProjectTransform]
) -> ProjectTransform | None:
    """The project's transform of a column of this name, when the column's (raw) type is of its kind."""
    found = transforms.get(column.name.lower())
    if found is None or column.name in grain or not column.data_type:
        return None
    if type_family(column.data_type) != found.family:
        return None
    # A scale (`/ 100`) converts whole numbers (cents, mills): a decimal amount is already in units, unless the
    # project's own converted column is a decimal too (its loader writes cents as decimals: it divides those).
    project_whole = found.raw_type is None or is_whole_number(found.raw_type)
    return None if found.scales and project_whole and not is_whole_number(column.data_type) else found


def transform_findings(plan: ExecutionPlan, existing: dict[str, ExistingModelFacts]) -> list[str]:
    """One line per new staged column that matches a transform of the project and does not carry it."""
    transforms = project_transforms(existing, plan.adapter_type)
    types = raw_types([a.spec for a in plan.actions if isinstance(a.spec, SourceSpec)])
    return [
        line
        for action in plan.actions
        if isinstance(action.spec, StagingSpec)
        for line in staging_findings(action.name, action.spec, transforms, plan.adapter_type, types)
    ]


def raw_types(sources: list[SourceSpec]) -> dict[tuple[str, str], str]:
    """(`source.table`, raw column) → the raw column's type, as the sources declare it."""
    return {
        (f"{source.source_name}.{table.name}", column.name): column.data_type
        for source in sources
        for table in source.tables
        for column in table.columns
        if column.data_type
    }


def staging_findings(
    model: str,
    spec: StagingSpec,
    transforms: dict[str, ProjectTransform],
    adapter_type: str,
    types: dict[tuple[str, str], str],
    copyable_only: bool = False,
) -> list[str]:
    """The staging model's columns that match a transform of the project and do not carry it, one line each
    (`copyable_only`: only those the transform could be copied to, what an LLM's answer is asked again for)."""
    lines = []
    for column in spec.columns:
        # Judged by its raw column's type (the one it reads, renames or converts), else by its own.
        tree = parse_expression(column.expression, adapter_type)[0] if column.expression else None
        read = _safe_shape(tree) if tree is not None else None
        raw = column.source_column or (read.name if read is not None else None)
        raw_type = types.get((f"{spec.source_name}.{spec.table}", raw or ""))
        typed = column.model_copy(update={"data_type": raw_type or column.data_type})
        found = _matching(typed, spec.grain, transforms)
        if found is None or _carries(column, found, adapter_type) or (copyable_only and found.problem):
            continue
        where = f"`{model}.{column.name}`"
        theirs = f"`{found.expression}` in {', '.join(found.models)}"
        if found.problem is not None:
            lines.append(
                f"unit check: {where} is not converted like the project's {theirs}, and cartridge did not "
                f"copy it ({found.problem}): check its unit"
            )
        else:
            lines.append(f"unit check: {where} is not converted like the project's {theirs}: check its unit")
    return lines


def _carries(column: ColumnSpec, found: ProjectTransform, adapter_type: str) -> bool:
    """Whether the planned column is made the way the project makes its namesake (its raw column aside)."""
    if column.expression is None or _shape(found.expression, adapter_type) is None:
        return False  # a shape cartridge does not copy is for the user to check, whatever the plan wrote
    return _shape(column.expression, adapter_type) == _shape(found.expression, adapter_type)
