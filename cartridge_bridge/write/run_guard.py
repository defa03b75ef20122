"""What every command that touches a project does first: take the project's lock and deal with an interrupted run."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from cartridge_bridge.progress import Progress, SilentProgress
from cartridge_bridge.write.journal import sweep_interrupted_writes
from cartridge_bridge.write.project_lock import hold, let_go
from cartridge_bridge.write.transaction import recover

Result = TypeVar("Result")


def exclusive_run(recover_first: bool = True) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Run an API function holding its project's lock, after recovering from an interrupted run.

    The project is the function's `options.project_dir` or its `project_dir` argument; `progress`, when the
    function takes one, hears about a stale lock or a rollback that was finished. A folder that is not a
    dbt project is left alone (the function itself says so). Calls nested in one process share the lock.
    """

    def decorate(function: Callable[..., Result]) -> Callable[..., Result]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Result:
            arguments = signature.bind_partial(*args, **kwargs).arguments
            project_dir = getattr(arguments.get("options"), "project_dir", None) or arguments.get(
                "project_dir"
            )
            progress: Progress = arguments.get("progress") or SilentProgress()
            if project_dir is None or not (Path(project_dir) / "dbt_project.yml").is_file():
                return function(*args, **kwargs)
            project = Path(project_dir).resolve()
            lock = hold(project)
            try:
                if lock is not None and lock.stale is not None:
                    progress.step(
                        f"cleared a stale lock left by a run that is gone ({lock.stale.describe()})"
                    )
                if lock is not None:  # no other run is writing: what a killed one left half-written goes
                    sweep_interrupted_writes(project)
                if lock is not None and recover_first:
                    recover(project, progress.step)
                return function(*args, **kwargs)
            finally:
                let_go(project)

        return guarded

    return decorate
