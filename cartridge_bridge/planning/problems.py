"""A problem found in a plan, as data: which action, which field, what is wrong, what would be right."""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.errors import PlanError

PLAN_LEVEL = "(plan)"


@dataclass(frozen=True)
class PlanProblem:
    """One thing wrong with a plan, precise enough to show a user or send back to a model."""

    action: str  # the action's name, or "(plan)" for the document as a whole
    field: str  # e.g. `spec.columns[order_id].expression`
    problem: str
    expected: str | None = None

    def line(self) -> str:
        """`action: field: problem (expected …)` on one line."""
        where = f"{self.action}: {self.field}" if self.field else self.action
        hint = f" (expected {self.expected})" if self.expected else ""
        return f"{where}: {self.problem}{hint}"


def plan_error(problems: list[PlanProblem], what: str = "the plan") -> PlanError:
    """One PlanError listing every problem, one per line after a count."""
    if len(problems) == 1:
        return PlanError(f"{what} has a problem: {problems[0].line()}", problems)
    listed = "\n".join(f"  - {p.line()}" for p in problems)
    return PlanError(f"{what} has {len(problems)} problems:\n{listed}", problems)
