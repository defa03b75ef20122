"""How long-running steps announce themselves: a small callback interface the CLI implements."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Where long-running steps announce themselves; the CLI shows them, tests may record them."""

    def step(self, message: str) -> None:
        """Announce the step that starts now."""


class SilentProgress:
    """Progress that goes nowhere."""

    def step(self, message: str) -> None:
        """Ignore the step."""
