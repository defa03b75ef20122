"""The few errors cartridge raises on purpose; each message is one sentence a user can act on."""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic import ValidationError


class CartridgeError(Exception):
    """Base of every error cartridge reports to a user instead of a traceback."""

    exit_code = 1


class UsageError(CartridgeError):
    """Bad command-line usage, a bad argument or a bad input file (exit code 2)."""

    exit_code = 2


class ProjectError(UsageError):
    """The dbt project, its profile or its manifest cannot be used as they are (exit code 2)."""


class PlanError(UsageError):
    """A plan is malformed or would break the project: duplicate names, bad paths, missing refs.

    `problems` holds every problem found, as data (planning.problems.PlanProblem), so that a caller
    can show them all or send them back to the model that wrote the plan.
    """

    def __init__(self, message: str, problems: list[Any] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class PlannerPlanError(PlanError):
    """A planner's own drafts failed the plan checks once placed: failed work, not bad input (exit code 1).

    A plan file someone edited is input (PlanError, exit 2); what a planner made is checked by the same checks,
    once, where every planner's drafts are placed (api.make_plan)."""

    exit_code = 1


class ConflictError(UsageError):
    """A file the plan writes already exists and the conflict policy is `fail`."""


class WriteError(CartridgeError):
    """A file could not be written (read-only, no permission, a folder that is a file); the project was restored."""


class RunInProgress(UsageError):
    """Another cartridge run holds the project's lock, or an interrupted run must be undone first (exit 2)."""


class DbtError(CartridgeError):
    """A dbt invocation failed; the message carries dbt's own error lines (exit code 1)."""


class VerificationError(CartridgeError):
    """The generated models did not pass dbt; the project was rolled back (exit code 1)."""


# How much of an untrusted value a message echoes: enough to recognize it, never a 100 KB line.
SHOWN_LIMIT = 120
# Controls (C0, C1), format characters (bidi overrides, zero-width marks), line and paragraph separators
# and lone surrogates: what can move the cursor, recolour a terminal or reorder what a reader sees.
_UNSHOWN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def shown(text: str, limit: int | None = SHOWN_LIMIT, keep: str = "") -> str:
    """Untrusted text made safe to echo: control and bidi characters escaped, cut to `limit` characters.

    Escapes (`\\x1b`, `\\n`, `\\u202e`) keep an ESC, a newline or a direction override from reaching a
    terminal or a log as such; the characters in `keep` (a newline, a tab) stay as they are.
    """
    safe = "".join(
        char
        if char in keep or unicodedata.category(char) not in _UNSHOWN
        else char.encode("unicode_escape", "backslashreplace").decode("ascii")
        for char in text
    )
    if limit is not None and len(safe) > limit:
        return safe[: limit - 1] + "…"
    return safe


def first_problem(error: ValidationError) -> tuple[str, str]:
    """Where the first validation problem is (`a.b.0`, empty at the top level) and what it is, for one line."""
    first = error.errors()[0]
    return ".".join(str(part) for part in first["loc"]), first["msg"].removeprefix("Value error, ")


class LLMError(CartridgeError):
    """The model could not be reached or used: authentication, unknown model, timeout, context length (exit 1)."""


class BudgetExceeded(LLMError):
    """The next call would take the run past --max-cost; nothing was written."""


class LLMAnswerError(LLMError):
    """The model's answers still failed validation after the re-asks; names what stayed wrong (exit 1)."""


def one_line(text: str) -> str:
    """A message of several lines (dbt's) as one line, its lines joined by `; `."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
