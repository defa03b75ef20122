"""Check a plan outline before any spec is asked for: names, layers, inputs that exist, no cycle, every table covered,
raw tables described once."""

from __future__ import annotations

from collections.abc import Collection

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.dependencies import cycle
from cartridge_bridge.planning.llm.answers import OutlineModel, PlanOutline
from cartridge_bridge.planning.plan import SPEC_KINDS_OF_TYPE
from cartridge_bridge.planning.problems import PLAN_LEVEL, PlanProblem
from cartridge_bridge.sql.identifiers import name_problem


def outline_problems(
    outline: PlanOutline,
    context: ProjectContext,
    source_tables: list[str],
    history_tables: Collection[str] = (),
) -> list[PlanProblem]:
    """Every problem of the outline, each naming the model and the field, as the re-ask sends them.

    `history_tables` are the source tables whose key has a `history` of versions: what a history model reads.
    """
    problems: list[PlanProblem] = []
    planned = {m.name for m in outline.models}
    seen: set[str] = set()
    for index, model in enumerate(outline.models):
        where = model.name if isinstance(model.name, str) and model.name else f"models[{index}]"
        problem = name_problem(model.name, context.adapter_type)
        if problem:
            problems.append(PlanProblem(where, "name", problem, "a lower-case snake_case model name"))
        if model.name in seen:
            problems.append(PlanProblem(where, "name", f"the outline plans {model.name!r} twice"))
        seen.add(model.name)
        if model.name in context.existing_models:
            problems.append(
                PlanProblem(
                    where, "name", f"model {model.name!r} already exists in the project", "another name"
                )
            )
        problems += _layer_problems(where, model, source_tables)
        problems += _kind_problems(where, model, outline, history_tables)
        for name in model.inputs:
            if name == model.name:
                problems.append(PlanProblem(where, "inputs", "a model cannot select from itself"))
            elif name in source_tables:
                problems.append(
                    PlanProblem(
                        where, "inputs", f"{name!r} is a source table; only its staging model reads it"
                    )
                )
            elif name not in planned and name not in context.existing_models:
                problems.append(
                    PlanProblem(
                        where,
                        "inputs",
                        f"{name!r} is neither planned in this outline nor a model of the project",
                        "a planned model, or an existing model listed in the data",
                    )
                )
    problems += _coverage_problems(outline, source_tables)
    problems += _description_problems(outline)
    problems += _cycle_problems(outline)
    return problems


def _description_problems(outline: PlanOutline) -> list[PlanProblem]:
    """Each raw table described at most once, and only one the outline stages (a description may be left out)."""
    staged = {m.source_table for m in outline.models if m.layer == "staging"}
    problems = []
    seen: set[str] = set()
    for index, described in enumerate(outline.source_tables):
        where = f"source_tables[{index}]"
        if described.source_table not in staged:
            problems.append(
                PlanProblem(
                    PLAN_LEVEL, where, f"{described.source_table!r} is not a table the outline stages"
                )
            )
        elif described.source_table in seen:
            problems.append(PlanProblem(PLAN_LEVEL, where, f"{described.source_table!r} is described twice"))
        seen.add(described.source_table)
    return problems


def _layer_problems(where: str, model: OutlineModel, source_tables: list[str]) -> list[PlanProblem]:
    problems = []
    if model.layer == "staging":
        if model.source_table not in source_tables:
            problems.append(
                PlanProblem(
                    where,
                    "source_table",
                    f"{model.source_table!r} is not one of the new source tables",
                    f"one of: {', '.join(source_tables)}",
                )
            )
        if model.inputs:
            problems.append(PlanProblem(where, "inputs", "a staging model reads its source table only", "[]"))
    elif model.source_table is not None:
        problems.append(PlanProblem(where, "source_table", "only staging models read a source table", "null"))
    if model.layer == "intermediate" and model.model_kind() == "aggregate" and len(model.inputs) != 1:
        problems.append(
            PlanProblem(
                where, "inputs", "an intermediate model re-grains exactly one model", "one model name"
            )
        )
    if model.layer == "marts" and not model.inputs:
        problems.append(PlanProblem(where, "inputs", "a mart reads at least its base model"))
    if (model.layer == "marts") != (model.role is not None):
        expected = "dimension or fact" if model.layer == "marts" else "null"
        problems.append(PlanProblem(where, "role", "marts, and only marts, have a role", expected))
    return problems


# The plan's action type of each layer, whose SPEC_KINDS_OF_TYPE entry says which kinds the layer carries.
_TYPE_OF_LAYER = {"intermediate": "create_intermediate", "marts": "create_mart"}


def _kind_problems(
    where: str, model: OutlineModel, outline: PlanOutline, history_tables: Collection[str]
) -> list[PlanProblem]:
    """A kind the layer may carry, with the inputs it needs: a history reads one staging model of a versioned
    table, a union stacks two or more models, a snapshot reads its events (and what it crosses them with)."""
    if model.kind is None:
        return []
    if model.layer == "staging":
        return [PlanProblem(where, "kind", "a staging model has no kind", "null")]
    kinds = SPEC_KINDS_OF_TYPE[_TYPE_OF_LAYER[model.layer]]
    if model.kind not in kinds:
        return [
            PlanProblem(
                where, "kind", f"{model.kind!r} is not a kind of the {model.layer} layer", " or ".join(kinds)
            )
        ]
    if model.kind == "union" and len(model.inputs) < 2:
        return [PlanProblem(where, "inputs", "a union stacks at least two models", "two or more model names")]
    if model.kind == "mart" and not model.inputs:
        return [PlanProblem(where, "inputs", "a mart reads at least its base model")]
    if model.kind == "periodic_snapshot" and not model.inputs:
        return [
            PlanProblem(where, "inputs", "a periodic snapshot reads its event model", "the event model first")
        ]
    if model.kind == "history":
        staging = {m.name: m.source_table for m in outline.models if m.layer == "staging"}
        versioned = [n for n, table in staging.items() if table in history_tables]
        expected = " or ".join(versioned) or "no history at all: no table's key has a `history`"
        if len(model.inputs) != 1:
            return [PlanProblem(where, "inputs", "a history reads exactly one staging model", expected)]
        if staging.get(model.inputs[0], "") not in history_tables:
            return [
                PlanProblem(
                    where,
                    "inputs",
                    f"{model.inputs[0]!r} is not the staging model of a table whose `key` has a `history`",
                    expected,
                )
            ]
    return []


def _coverage_problems(outline: PlanOutline, source_tables: list[str]) -> list[PlanProblem]:
    """Each source table is staged exactly once, or skipped with a reason."""
    problems = []
    staged: dict[str, str] = {}
    for model in outline.models:
        if model.layer != "staging" or model.source_table is None:
            continue
        if model.source_table in staged:
            problems.append(
                PlanProblem(
                    model.name,
                    "source_table",
                    f"{model.source_table!r} is already staged by {staged[model.source_table]}",
                    "one staging model per source table",
                )
            )
        staged.setdefault(model.source_table, model.name)
    skipped = {s.source_table for s in outline.skipped}
    for table in sorted(skipped):
        if table not in source_tables:
            problems.append(
                PlanProblem(PLAN_LEVEL, "skipped", f"{table!r} is not one of the new source tables")
            )
        elif table in staged:
            problems.append(PlanProblem(PLAN_LEVEL, "skipped", f"{table!r} is both staged and skipped"))
    for table in source_tables:
        if table not in staged and table not in skipped:
            problems.append(
                PlanProblem(
                    PLAN_LEVEL,
                    "models",
                    f"no staging model for source table {table!r}",
                    "a staging model for it, or an entry in `skipped` with the reason",
                )
            )
    return problems


def _cycle_problems(outline: PlanOutline) -> list[PlanProblem]:
    planned = {m.name for m in outline.models}
    graph = {m.name: [i for i in m.inputs if i in planned and i != m.name] for m in outline.models}
    found = cycle(graph)
    if found is None:
        return []
    return [PlanProblem(PLAN_LEVEL, "inputs", f"the outline's inputs form a cycle: {found}")]
