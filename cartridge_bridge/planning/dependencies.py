"""The one cycle check and the one dependency order, for a plan, an outline, a repair and placement alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from graphlib import CycleError, TopologicalSorter
from typing import TypeVar

from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.planning.problems import PLAN_LEVEL, PlanProblem

Item = TypeVar("Item")


def cycle(graph: Mapping[str, Iterable[str]]) -> str | None:
    """A cycle of a `name → what it depends on` graph, written `a → b → a`; None when there is none."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        return " → ".join(error.args[1])
    return None


def plan_cycle_problems(plan: ExecutionPlan) -> list[PlanProblem]:
    """The problem of a plan whose models depend on each other in a circle, or none."""
    found = cycle({a.name: list(a.dependencies) for a in plan.models()})
    if found is None:
        return []
    return [PlanProblem(PLAN_LEVEL, "dependencies", f"the plan's dependencies form a cycle: {found}")]


def dependency_order(
    items: Sequence[Item], name: Callable[[Item], str], needs: Callable[[Item], Iterable[str]]
) -> list[Item]:
    """The items in their order, except that none comes before the names it needs.

    Stable, unlike a plain topological sort: what depends on nothing stays where the planner put it, so a
    plan's order (and its files) change only where a dependency forces it. Items in a cycle keep their
    order at the end, for the cycle check to report.
    """
    placed: list[Item] = []
    done: set[str] = set()
    pending = list(items)
    while pending:
        ready = next((item for item in pending if all(d in done for d in needs(item))), None)
        if ready is None:
            return placed + pending
        pending.remove(ready)
        placed.append(ready)
        done.add(name(ready))
    return placed
