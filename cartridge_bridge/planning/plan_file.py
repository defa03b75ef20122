"""Plan files: written for review, read back as untrusted input (people edit them, LLMs write them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cartridge_bridge.errors import UsageError
from cartridge_bridge.planning.plan import PLAN_VERSION, READABLE_PLAN_VERSIONS, ExecutionPlan
from cartridge_bridge.planning.problems import PLAN_LEVEL, PlanProblem, plan_error


def read_plan_file(path: Path) -> ExecutionPlan:
    """The plan in `path`, or a PlanError listing every problem pydantic finds in it (exit code 2)."""
    if not path.is_file():
        raise UsageError(f"plan file {path} does not exist")
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"plan file {path} is not JSON: {error}") from None
    return parse_plan(document, f"plan file {path}")


def parse_plan(document: Any, what: str = "the plan") -> ExecutionPlan:
    """Validate a plan document: the version first, then every field at once."""
    if not isinstance(document, dict):
        raise plan_error([PlanProblem(PLAN_LEVEL, "", "is not a JSON object")], what)
    version = document.get("plan_version")
    if version not in READABLE_PLAN_VERSIONS:
        problem = PlanProblem(
            PLAN_LEVEL,
            "plan_version",
            f"version {version!r} is not supported",
            f"{PLAN_VERSION}; make the plan again with `cartridge plan`",
        )
        raise plan_error([problem], what)
    try:
        plan = ExecutionPlan.model_validate(document)
    except ValidationError as error:
        raise plan_error(validation_problems(error, document), what) from None
    # Version 3 only added kinds and fields, so a version-2 plan means the same as version 3 and is one from now on.
    plan.plan_version = PLAN_VERSION
    return plan


def validation_problems(error: ValidationError, document: dict[str, Any]) -> list[PlanProblem]:
    """pydantic's errors as PlanProblems, each under the name of the action it is in."""
    listed = document.get("actions")
    actions: list[Any] = listed if isinstance(listed, list) else []
    problems = []
    for item in error.errors():
        location = list(item["loc"])
        action = PLAN_LEVEL
        if len(location) >= 2 and location[0] == "actions" and isinstance(location[1], int):
            index = location[1]
            found = actions[index] if index < len(actions) else None
            name = found.get("name") if isinstance(found, dict) else None
            action = name if isinstance(name, str) and name else f"actions[{index}]"
            location = location[2:]
        # The discriminated union adds the spec kind to the path; it says nothing a user needs.
        field = ".".join(
            str(part) for part in location if part not in ("source", "staging", "aggregate", "mart")
        )
        problems.append(PlanProblem(action, field, item["msg"].removeprefix("Value error, ")))
    return problems
