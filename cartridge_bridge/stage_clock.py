"""Where a command's wall time goes: one clock for the command, and the seconds each pipeline stage took.

The report's "Done in" is the clock's total, from the command's start (whatever the planner, planning
included); the per-stage line reads `seconds`. Stages may nest (the parse inside an apply's first
step): the inner stage's time is taken from the outer one's, so no second is counted twice and the
stages never add up to more than the total. Time outside every stage (importing litellm, saving the
report) is in the total only. The pipeline runs its stages on one thread; LLM calls in worker threads
count in the stage that waits for them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

Stage = Literal["gather", "context", "plan", "write", "parse", "build", "repair"]
STAGES: tuple[Stage, ...] = get_args(Stage)  # the pipeline's order, as a report lists them


def process_started() -> float | None:
    """When this process started, on time.perf_counter's scale; None where the system does not say (not Linux).

    Linux gives the start in clock ticks since boot (/proc/self/stat, field 22) and the time since boot
    (/proc/uptime), both to a hundredth of a second.
    """
    try:
        stat = Path("/proc/self/stat").read_text(encoding="ascii")
        uptime = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
        # After the command name (in parentheses, and it may hold spaces) come fields 3, 4, …: 22 is at 19.
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        age = uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return time.perf_counter() - age if age >= 0 else None


class StageClock:
    """Wall time since `started`, with the seconds spent in each stage."""

    def __init__(self, started: float | None = None):
        self.started = time.perf_counter() if started is None else started
        self.seconds: dict[Stage, float] = {}
        self._running: list[
            tuple[Stage, float]
        ] = []  # the open stages, innermost last, each with its lap start

    @contextmanager
    def stage(self, name: Stage) -> Iterator[None]:
        """Count the block's wall time to `name` (and not to a stage it runs inside)."""
        now = time.perf_counter()
        if self._running:
            outer, since = self._running[-1]
            self._add(outer, now - since)
        self._running.append((name, now))
        try:
            yield
        finally:
            now = time.perf_counter()
            _, since = self._running.pop()
            self._add(name, now - since)
            if self._running:
                self._running[-1] = (self._running[-1][0], now)

    def _add(self, name: Stage, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def total(self) -> float:
        """Seconds since the clock started."""
        return time.perf_counter() - self.started

    def stages(self) -> dict[Stage, float]:
        """The seconds of each stage that ran, in the pipeline's order."""
        return {name: self.seconds[name] for name in STAGES if name in self.seconds}
