"""Deterministic fault injection for the crash tests: a process that SIGKILLs itself at a named step of an apply.

`CARTRIDGE_FAULT_POINT=<step>` is read here and nowhere else. The steps, in the order an apply reaches them:
`journal` (the journal and backups are saved, nothing written yet), `write` (inside the write loop: one
file written, the next one's temporary file created and still empty), `written` (every file written),
`parse` (dbt parse has started) and `build` (dbt build has built its first node). Two more steps are
not an apply's: `record` (a journal or backup is being saved: its temporary file exists, still empty) and
`dropped` (undo has dropped a relation and recorded it, and others remain).
`CARTRIDGE_FAULT_SIGNAL` sends SIGTERM, SIGINT or SIGSTOP there instead of SIGKILL.
"""

from __future__ import annotations

import os
import signal

FAULT_POINTS = ("journal", "write", "written", "parse", "build")
_SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT", "SIGSTOP")


def fault_point(step: str) -> None:
    """Kill this process with SIGKILL (no cleanup at all, like `kill -9` or a power cut) when asked to at `step`."""
    if os.environ.get("CARTRIDGE_FAULT_POINT") != step:
        return
    name = os.environ.get("CARTRIDGE_FAULT_SIGNAL", "SIGKILL")
    os.kill(os.getpid(), signal.Signals[name if name in _SIGNALS else "SIGKILL"])
