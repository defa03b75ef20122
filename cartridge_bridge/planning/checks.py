"""Validate an execution plan against the project before anything is written, reporting every problem at once."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from cartridge_bridge.context.project_context import ProjectContext, RawSchema, same_schema
from cartridge_bridge.planning.dependencies import plan_cycle_problems
from cartridge_bridge.planning.in_place import in_place_problems
from cartridge_bridge.planning.join_checks import refuted_keys
from cartridge_bridge.planning.plan import (
    PLAN_VERSION,
    READABLE_PLAN_VERSIONS,
    SPEC_KINDS_OF_TYPE,
    ExecutionPlan,
    PlanAction,
    SourceSpec,
    action_inputs,
    output_columns,
)
from cartridge_bridge.planning.problems import PLAN_LEVEL, PlanProblem, plan_error
from cartridge_bridge.planning.semantic_checks import semantic_layer_problems
from cartridge_bridge.planning.spec_checks import Inputs, SpecChecker
from cartridge_bridge.sql.identifiers import DOC_NAME, PATH_PART, name_problem


def validate_plan(plan: ExecutionPlan, context: ProjectContext, what: str = "the plan") -> None:
    """Raise one PlanError listing every problem of the plan, or return when there is none."""
    problems = plan_problems(plan, context)
    if problems:
        raise plan_error(problems, what)


def plan_problems(plan: ExecutionPlan, context: ProjectContext) -> list[PlanProblem]:
    """Every problem of the plan: names, types, paths, references, dependencies, cycles, SQL fragments."""
    problems: list[PlanProblem] = []
    if plan.plan_version not in READABLE_PLAN_VERSIONS:
        problems.append(
            PlanProblem(
                PLAN_LEVEL,
                "plan_version",
                f"version {plan.plan_version} is not supported",
                f"{PLAN_VERSION}; make the plan again with `cartridge plan`",
            )
        )
    if plan.project_name != context.project_name:
        problems.append(
            PlanProblem(
                PLAN_LEVEL,
                "project_name",
                f"the plan was made for project {plan.project_name!r}",
                repr(context.project_name),
            )
        )
    if context.adapter_type != "unknown" and plan.adapter_type != context.adapter_type:
        problems.append(
            PlanProblem(
                PLAN_LEVEL,
                "adapter_type",
                f"the plan was made for {plan.adapter_type!r}",
                repr(context.adapter_type),
            )
        )
    problems += _name_problems(plan, context)
    problems += _warehouse_problems(plan, context)
    inputs = _inputs(plan, context)
    for action in plan.actions:
        problems += _action_problems(action, context)
        problems += _dependency_problems(action, inputs)
        problems += SpecChecker(action, plan.adapter_type, inputs).check()
    problems += in_place_problems(plan, context)
    problems += _doc_problems(plan, context)
    problems += _file_problems(plan)
    problems += plan_cycle_problems(plan)
    existing = {kind: set(names) for kind, names in context.semantic_names.items()}
    problems += semantic_layer_problems(plan, existing, context.time_spine is not None)
    return problems


def _doc_problems(plan: ExecutionPlan, context: ProjectContext) -> list[PlanProblem]:
    """A column's `description_doc` names one of the project's own doc blocks, and nothing else."""
    problems = []
    known = set(context.doc_blocks)
    for action in plan.actions:
        spec = action.spec
        columns = (
            [c for t in spec.tables for c in t.columns]
            if isinstance(spec, SourceSpec)
            else output_columns(spec)
        )
        for column in columns:
            doc = column.description_doc
            if doc is not None and (doc not in known or not DOC_NAME.fullmatch(doc)):
                problems.append(
                    PlanProblem(
                        action.name,
                        f"spec.columns[{column.name}].description_doc",
                        f"{column.description_doc!r} is not a doc block of the project",
                        f"one of: {', '.join(sorted(known))}"
                        if known
                        else "no doc block (the project has none)",
                    )
                )
    return problems


def _name_problems(plan: ExecutionPlan, context: ProjectContext) -> list[PlanProblem]:
    problems = []
    seen: set[str] = set()
    for action in plan.models():
        if action.name in seen:
            problems.append(PlanProblem(action.name, "name", f"the plan creates {action.name!r} twice"))
        seen.add(action.name)
        problem = name_problem(action.name, plan.adapter_type)
        if problem:
            problems.append(PlanProblem(action.name, "name", problem, "a lower-case snake_case model name"))
        if action.name in context.existing_models and action.type != "modify_in_place":
            problems.append(
                PlanProblem(
                    action.name,
                    "name",
                    f"model {action.name!r} already exists in the project",
                    "another name, or leave the table out with --exclude",
                )
            )
    existing = set(context.existing_sources)
    for action in plan.actions:
        if isinstance(action.spec, SourceSpec):
            for table in action.spec.tables:
                if f"{action.spec.source_name}.{table.name}" in existing:
                    problems.append(
                        PlanProblem(
                            action.name,
                            f"spec.tables[{table.name}]",
                            f"source {action.spec.source_name}.{table.name} is already declared",
                        )
                    )
    return problems


def _warehouse_problems(plan: ExecutionPlan, context: ProjectContext) -> list[PlanProblem]:
    """A source names only what the run gathered: its schema, database, relations and their columns."""
    problems = []
    raw_schemas = {raw.schema_name: raw for raw in context.raw_schemas}
    for action in plan.actions:
        spec = action.spec
        if not isinstance(spec, SourceSpec):
            continue
        declared = context.existing_source_schemas.get(spec.source_name)
        if declared is not None and not same_schema(declared, spec.schema_name):
            problems.append(
                PlanProblem(
                    action.name,
                    "spec.source_name",
                    f"the project declares source {spec.source_name!r} for schema {declared!r}, "
                    f"not {spec.schema_name!r}",
                    "another source name for this schema",
                )
            )
        raw = raw_schemas.get(spec.schema_name)
        if raw is None:
            gathered = ", ".join(repr(s) for s in raw_schemas) or "none"
            problems.append(
                PlanProblem(
                    action.name, "spec.schema_name", f"{spec.schema_name!r} is not a raw schema of this run",
                    f"one of: {gathered}",
                )
            )  # fmt: skip
            continue
        if spec.database is not None and spec.database != raw.database:
            problems.append(
                PlanProblem(action.name, "spec.database", f"{spec.database!r} is not the gathered database",
                            repr(raw.database))
            )  # fmt: skip
        problems += _relation_problems(action.name, spec, raw)
    return problems


def _relation_problems(action: str, spec: SourceSpec, raw: RawSchema) -> list[PlanProblem]:
    """Each table of a source is a relation of its raw schema, and each column one of that relation's."""
    problems = []
    relations = {r.identifier: r for r in raw.relations}
    for table in spec.tables:
        at = f"spec.tables[{table.name}]"
        relation = relations.get(table.identifier)
        if relation is None:
            problems.append(
                PlanProblem(
                    action, f"{at}.identifier", f"{raw.schema_name}.{table.identifier} is not a raw relation"
                )
            )
            continue
        columns = {c.name for c in relation.columns}
        problems += [
            PlanProblem(action, f"{at}.columns.name", f"{column.name!r} is not a column of {raw.schema_name}.{table.identifier}")
            for column in table.columns
            if column.name not in columns
        ]  # fmt: skip
    return problems


def _inputs(plan: ExecutionPlan, context: ProjectContext) -> Inputs:
    """Everything a spec may read: the plan's models and sources with their columns, the project's by name."""
    inputs = Inputs.of_plan(plan, context.existing_models, context.existing_sources)
    for name, facts in context.existing.items():
        if facts.columns_from != "unknown" and inputs.models.get(name) is None:
            # Its real columns (a YAML-only one is no column): as spelled, and as unquoted SQL names them.
            inputs.models[name] = {c.name for c in facts.columns} | {c.name.lower() for c in facts.columns}
    # The project's models are unique on their grain (tests or constraints); one the context does not hold has
    # no key a join could rely on.
    for name in context.existing_models:
        existing = context.existing.get(name)
        grain = existing.grain if existing is not None else []
        inputs.keys.setdefault(name, [frozenset(grain)] if grain else [])
    for name, refuted in refuted_keys(plan, context).items():
        inputs.keys[name] = [key for key in inputs.keys.get(name, []) if key not in refuted]
    return inputs


def _action_problems(action: PlanAction, context: ProjectContext) -> list[PlanProblem]:
    """The action's type against its spec, and its paths inside the model path."""
    problems = []
    expected_kinds = SPEC_KINDS_OF_TYPE[action.type]
    if action.spec.kind not in expected_kinds:
        problems.append(
            PlanProblem(
                action.name,
                "spec.kind",
                f"{action.type} carries a {action.spec.kind!r} spec",
                " or ".join(repr(kind) for kind in expected_kinds),
            )
        )
    is_source = action.type == "create_source"
    for field, path in (("file_path", action.file_path), ("properties_path", action.properties_path)):
        if path is None:
            if field == "properties_path" and not is_source:
                problems.append(PlanProblem(action.name, field, "a model needs a properties file"))
            continue
        problem = path_problem(path, context)
        if problem:
            problems.append(PlanProblem(action.name, field, problem, f"a path under {context.model_path}/"))
            continue
        suffix = ".sql" if field == "file_path" and not is_source else ".yml"
        if PurePosixPath(path).suffix != suffix:
            problems.append(PlanProblem(action.name, field, f"{path!r} should end in {suffix}"))
    if not is_source and PurePosixPath(action.file_path).stem != action.name:
        problems.append(
            PlanProblem(action.name, "file_path", "dbt names a model after its file", f"{action.name}.sql")
        )
    if is_source and action.properties_path is not None:
        problems.append(PlanProblem(action.name, "properties_path", "a source is declared in its file_path"))
    return problems + _semantic_file_problems(action, context)


def _semantic_file_problems(action: PlanAction, context: ProjectContext) -> list[PlanProblem]:
    """The files a semantic model and its metrics go to: a mart's with a semantic model, YAML inside the model path."""
    problems = []
    for field, path in (
        ("semantic_model_path", action.semantic_model_path),
        ("metrics_path", action.metrics_path),
    ):
        if path is None:
            continue
        if action.semantic_model is None:
            problems.append(
                PlanProblem(action.name, field, "only a model with a semantic_model has one", "null")
            )
            continue
        problem = path_problem(path, context)
        if problem:
            problems.append(PlanProblem(action.name, field, problem, f"a path under {context.model_path}/"))
        elif PurePosixPath(path).suffix not in (".yml", ".yaml"):
            problems.append(PlanProblem(action.name, field, f"{path!r} should end in .yml or .yaml"))
    return problems


def path_problem(path: str, context: ProjectContext) -> str | None:
    """Why a planned path may not be written, or None: it must stay inside the model path, symlinks included."""
    pure = PurePosixPath(path)
    root = PurePosixPath(context.model_path)
    if "\\" in path or pure.is_absolute() or ".." in pure.parts or root not in pure.parents:
        return f"{path!r} is not inside the model path {context.model_path!r}"
    if not all(PATH_PART.fullmatch(part) for part in pure.relative_to(root).parts):
        return f"{path!r} has a folder or file name with characters other than letters, digits, _ . -"
    project = Path(context.project_dir)
    try:
        inside = (project / path).resolve().is_relative_to((project / context.model_path).resolve())
    except (OSError, RuntimeError):  # a symlink loop
        inside = False
    if not inside:
        return f"{path!r} leads outside the model path {context.model_path!r} through a symlink"
    return None


def _dependency_problems(action: PlanAction, inputs: Inputs) -> list[PlanProblem]:
    """Dependencies are what the spec selects from, nothing more or less, and each exists."""
    if isinstance(action.spec, SourceSpec):
        if action.dependencies:
            return [PlanProblem(action.name, "dependencies", "a source depends on nothing", "[]")]
        return []
    derived = action_inputs(action)
    problems = []
    if sorted(action.dependencies) != sorted(derived):
        problems.append(
            PlanProblem(
                action.name,
                "dependencies",
                f"{action.dependencies} is not what the spec selects from",
                str(derived),
            )
        )
    for dependency in derived:
        if dependency not in inputs.models and dependency not in inputs.sources:
            problems.append(
                PlanProblem(
                    action.name, "dependencies", f"{dependency!r} is neither planned nor in the project"
                )
            )
    return problems


def _file_problems(plan: ExecutionPlan) -> list[PlanProblem]:
    """No two models write one SQL file, and no YAML file is also a model's SQL file."""
    problems = []
    sql_files: dict[str, str] = {}
    for action in plan.models():
        if action.file_path in sql_files:
            problems.append(
                PlanProblem(
                    action.name, "file_path", f"{sql_files[action.file_path]} writes {action.file_path!r} too"
                )
            )
        sql_files.setdefault(action.file_path, action.name)
    for action in plan.actions:
        yaml_path = action.file_path if action.type == "create_source" else action.properties_path
        if yaml_path in sql_files:
            problems.append(
                PlanProblem(action.name, "file_path", f"{yaml_path!r} is also a model's SQL file")
            )
        for field in ("semantic_model_path", "metrics_path"):
            path = getattr(action, field)
            if path is not None and path in sql_files:
                problems.append(PlanProblem(action.name, field, f"{path!r} is also a model's SQL file"))
    return problems
