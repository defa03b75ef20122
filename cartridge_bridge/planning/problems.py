"""A problem found in a plan, as data: which action, which field, what is wrong, what would be right."""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.errors import PlanError, shown

PLAN_LEVEL = "(plan)"
# A problem's own text may quote a value from the plan: long enough to explain, never a 100 KB line.
_TEXT_LIMIT = 400


@dataclass(frozen=True)
class PlanProblem:
    """One thing wrong with a plan, precise enough to show a user or send back to a model."""

    action: str  # the action's name, or "(plan)" for the document as a whole
    field: str  # e.g. `spec.columns[order_id].expression`
    problem: str
    expected: str | None = None

    def line(self) -> str:
        """`action: field: problem (expected …)` on one line; names from the plan are cut and escaped."""
        action, field = shown(self.action), shown(self.field)
        where = f"{action}: {field}" if field else action
        hint = f" (expected {shown(self.expected, limit=_TEXT_LIMIT)})" if self.expected else ""
        return f"{where}: {shown(self.problem, limit=_TEXT_LIMIT)}{hint}"


def plan_error(problems: list[PlanProblem], what: str = "the plan") -> PlanError:
    """One PlanError listing every problem, one per line after a count."""
    if len(problems) == 1:
        return PlanError(f"{what} has a problem: {problems[0].line()}", problems)
    listed = "\n".join(f"  - {p.line()}" for p in problems)
    return PlanError(f"{what} has {len(problems)} problems:\n{listed}", problems)
