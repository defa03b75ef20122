"""What a repair round builds again: what the last build did not pass, and every model the repair rewrote."""

from __future__ import annotations

from typing import Any

from cartridge_bridge.dbt.runner import BuildSummary
from cartridge_bridge.planning.plan import (
    DataTest,
    ExecutionPlan,
    ModelTest,
    PlanAction,
    SourceSpec,
    output_columns,
)

# A node that ended so needs nothing more; any other (fail, error, skipped) is built again.
_DONE = {"success", "pass", "warn", "no-op"}


def rerun_selection(build: BuildSummary, before: ExecutionPlan, after: ExecutionPlan) -> list[str]:
    """dbt `--select` arguments for the round after `build`: its unfinished nodes, and changed models with all after them.

    A relaxed test changes only its severity, so it reruns as the failed node it was; a model whose spec the
    repair rewrote (an LLM correction) is rebuilt with everything that reads it, even what passed before.
    """
    selection = [node.name for node in build.nodes if node.status not in _DONE]
    earlier = {action.name: _unrelaxed(action) for action in before.models()}
    for action in after.models():
        if earlier.get(action.name) != _unrelaxed(action):
            selection.append(f"{action.name}+")
    return list(dict.fromkeys(selection))


def _unrelaxed(action: PlanAction) -> dict[str, Any]:
    """The action as it would be with every test at its planned severity: relaxing is not a change to rebuild for."""
    copy = action.model_copy(deep=True)
    tests: list[DataTest | ModelTest] = list(copy.tests)
    if not isinstance(copy.spec, SourceSpec):
        tests += [test for column in output_columns(copy.spec) for test in column.tests]
    for test in tests:
        test.severity, test.note, test.relaxed_reason = "error", None, None
    return copy.model_dump()
