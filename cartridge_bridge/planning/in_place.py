"""`--modify-existing`: a planned narrow model at an existing mart's grain turned into an edit of the mart itself.

Either planner may propose the narrow model (the mart's key and the new measures, joined on the key); this step
turns it into a `modify_in_place` action that keeps the mart's SQL verbatim as its first CTE and left-joins the
new measures onto it. Where the mart cannot be wrapped safely the narrow model stays and the plan says why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cartridge_bridge.context.existing_models import raw_query
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.gather.manifest import Manifest, Node
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    ExecutionPlan,
    JoinCondition,
    MartSpec,
    ModifiedFile,
    PlanAction,
    action_inputs,
)
from cartridge_bridge.planning.problems import PlanProblem
from cartridge_bridge.sql.sql_fragments import SQLGLOT_DIALECTS

# The CTE the mart's own SQL becomes; the new measures join onto it.
EXISTING_ALIAS = "existing"


@dataclass
class InPlaceEdits:
    """What the step reads of the project: its models' files and configs as the manifest holds them."""

    project_dir: Path
    manifest: Manifest


def sha256_text(text: str) -> str:
    """The hex SHA-256 of a file's text as it is written (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def in_place_files(plan: ExecutionPlan) -> set[str]:
    """The project files the plan's in-place edits change: each edited mart's SQL and properties file."""
    return {
        path
        for action in plan.actions
        if action.type == "modify_in_place"
        for path in (action.file_path, action.properties_path)
        if path is not None
    }


def wrap_refusal(sql: str, adapter_type: str) -> str | None:
    """Why a model's SQL cannot become a CTE as it is, or None: Jinja control flow, not one plain select."""
    if "{%" in sql:
        return "its SQL has Jinja control flow ({% … %})"
    if sql.rstrip().endswith(";"):
        return "its SQL ends with a semicolon"
    if raw_query(sql, SQLGLOT_DIALECTS.get(adapter_type)) is None:
        return (
            "its SQL is not a plain select (macros other than ref, source and config, or several statements)"
        )
    return None


def extend_in_place(plan: ExecutionPlan, context: ProjectContext, edits: InPlaceEdits) -> ExecutionPlan:
    """The plan with each narrow model at an existing mart's grain made an edit of that mart where it can be."""
    nodes = {n.name: n for kind in ("model", "snapshot", "seed") for n in edits.manifest.root_nodes(kind)}
    actions: list[PlanAction] = []
    skipped = list(plan.skipped)
    for action in plan.actions:
        key = _narrow_key(action, context)
        if key is None:
            actions.append(action)
            continue
        assert isinstance(action.spec, MartSpec)
        mart = action.spec.base_model
        node = nodes.get(mart)
        original, refusal = _mart_sql(node, edits.project_dir, key, action, context)
        if refusal is not None or node is None or original is None:
            skipped.append(
                f"{mart}: not modified in place ({refusal}); its new measures are in {action.name}"
            )
            actions.append(action)
            continue
        actions.append(_in_place_action(action, node, key, original, _counted(plan)))
    return plan.model_copy(update={"actions": actions, "skipped": skipped})


def _counted(plan: ExecutionPlan) -> set[tuple[str, str]]:
    """(model, column) of every count or sum the plan's aggregates compute: 0, not null, where a row has none."""
    return {
        (action.name, column.name)
        for action in plan.actions
        if isinstance(action.spec, AggregateSpec)
        for column in action.spec.columns
        if (column.computed() or "").strip().lower().startswith(("count(", "sum("))
    }


def _narrow_key(action: PlanAction, context: ProjectContext) -> str | None:
    """The key of a narrow model at an existing mart's grain (its only own column, every join on it), or None."""
    spec = action.spec
    if action.type != "create_mart" or not isinstance(spec, MartSpec) or spec.filter or not spec.joins:
        return None
    if spec.base_model not in context.existing_models or len(spec.grain) != 1 or len(spec.columns) != 1:
        return None
    key = spec.grain[0]
    if spec.columns[0].name != key or spec.columns[0].expression != f"{spec.base_alias}.{key}":
        return None
    for join in spec.joins:
        if join.join_type != "left" or [(c.left_alias, c.left_column) for c in join.on] != [
            (spec.base_alias, key)
        ]:
            return None
    return key


def _mart_sql(
    node: Node | None, project_dir: Path, key: str, action: PlanAction, context: ProjectContext
) -> tuple[str | None, str | None]:
    """The mart's SQL text, or why it cannot be wrapped: not a SQL model, incremental, no such key, a column of
    the new ones it has already, SQL that is not one plain select."""
    if node is None or node.resource_type != "model":
        kind = node.resource_type if node is not None else "not in the manifest"
        return None, f"it is a {kind}, not a model" if node is not None else "it is not in the manifest"
    if node.language != "sql":
        return None, f"it is a {node.language} model"
    if node.materialized in ("incremental", "snapshot", "seed"):
        return None, f"it is materialized as {node.materialized}"
    facts = context.existing.get(node.name)
    if facts is None or facts.columns_from == "unknown":
        return None, "its columns are unknown (build it, or let its SQL be parsed)"
    if facts.column(key) is None:
        return None, f"its key {key!r} is not a column of the relation"
    assert isinstance(action.spec, MartSpec)
    taken = [c.name for j in action.spec.joins for c in j.columns if facts.column(c.name) is not None]
    if taken:
        return None, f"it has a column named {taken[0]!r} already"
    path = project_dir / node.original_file_path
    try:
        original = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None, f"{node.original_file_path} cannot be read as UTF-8 text"
    refusal = wrap_refusal(original, context.adapter_type)
    return (None, refusal) if refusal else (original, None)


def _in_place_action(
    narrow: PlanAction, node: Node, key: str, original: str, counted: set[tuple[str, str]]
) -> PlanAction:
    """The edit of the mart: its file, the new measures' joins onto its SQL, and the hash of the SQL as planned.

    A count or sum a planner joined bare is coalesced to 0: the mart's rows without new rows have none of them.
    """
    assert isinstance(narrow.spec, MartSpec)
    joins = []
    for join in narrow.spec.joins:
        columns = []
        for column in join.columns:
            bare = (column.expression or "").split(".")
            if len(bare) == 2 and bare[0] == join.alias and (join.model, bare[1]) in counted:
                column = column.model_copy(update={"expression": f"coalesce({column.expression}, 0)"})
            columns.append(column)
        on = [
            JoinCondition(left_alias=EXISTING_ALIAS, left_column=c.left_column, right_column=c.right_column)
            for c in join.on
        ]
        joins.append(join.model_copy(update={"on": on, "columns": columns}))
    key_column = ColumnSpec(name=key, expression=f"{EXISTING_ALIAS}.{key}", description="")
    spec = narrow.spec.model_copy(
        update={"base_alias": EXISTING_ALIAS, "columns": [key_column], "joins": joins}
    )
    added = ", ".join(f"`{c.name}`" for j in joins for c in j.columns)
    action = PlanAction(
        step_id=narrow.step_id,
        type="modify_in_place",
        name=node.name,
        file_path=node.original_file_path,
        properties_path=node.patch_file or narrow.properties_path,
        description=f"Adds {added} to `{node.name}` (joined on `{key}`); its own SQL is kept as it is.",
        spec=spec,
        modifies=ModifiedFile(path=node.original_file_path, sha256=sha256_text(original)),
    )
    return action.model_copy(update={"dependencies": action_inputs(action)})


def in_place_problems(plan: ExecutionPlan, context: ProjectContext) -> list[PlanProblem]:
    """The checks of an in-place edit a plan file asks for: an existing model's own file, still as planned."""
    problems = []
    for action in plan.actions:
        if action.type != "modify_in_place":
            if action.modifies is not None:
                problems.append(
                    PlanProblem(action.name, "modifies", "only modify_in_place edits a file", "null")
                )
            continue
        problems += _edit_problems(action, context)
    return problems


def _edit_problems(action: PlanAction, context: ProjectContext) -> list[PlanProblem]:
    """One in-place edit: of an existing model, at its own SQL file, which still has the planned text."""
    if action.name not in context.existing_models:
        return [PlanProblem(action.name, "name", f"{action.name!r} is not a model of the project")]
    modifies = action.modifies
    if modifies is None:
        return [
            PlanProblem(action.name, "modifies", "an in-place edit names the file it modifies and its hash")
        ]
    if modifies.path != action.file_path:
        return [PlanProblem(action.name, "modifies.path", f"{modifies.path!r} is not the action's file_path")]
    facts = context.existing.get(action.name)
    if facts is not None and facts.path is not None and facts.path != action.file_path:
        return [PlanProblem(action.name, "file_path", f"{action.name!r} is defined in {facts.path!r}")]
    spec = action.spec
    if not isinstance(spec, MartSpec) or spec.base_model != action.name or spec.base_alias != EXISTING_ALIAS:
        return [
            PlanProblem(
                action.name, "spec.base_model", "an in-place edit selects from the model it edits",
                f"base_model {action.name!r}, base_alias {EXISTING_ALIAS!r}",
            )
        ]  # fmt: skip
    problems = []
    if [c.name for c in spec.columns] != spec.grain or len(spec.grain) != 1:
        problems.append(PlanProblem(action.name, "spec.columns", "an in-place edit's own column is its key"))
    path = Path(context.project_dir) / action.file_path
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return [*problems, PlanProblem(action.name, "modifies.path", f"{action.file_path} does not exist")]
    except (OSError, UnicodeDecodeError):
        return [*problems, PlanProblem(action.name, "modifies.path", f"{action.file_path} is not UTF-8 text")]
    if sha256_text(text) != modifies.sha256:
        problems.append(
            PlanProblem(
                action.name, "modifies.sha256",
                f"{action.file_path} changed since the plan was made", "make the plan again",
            )
        )  # fmt: skip
    elif refusal := wrap_refusal(text, context.adapter_type):
        problems.append(PlanProblem(action.name, "modifies.path", f"{action.file_path}: {refusal}"))
    if action.semantic_model is not None or action.tests:
        problems.append(PlanProblem(action.name, "semantic_model", "an in-place edit adds columns only"))
    return problems
