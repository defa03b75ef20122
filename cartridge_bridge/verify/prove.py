"""Prove written files with dbt: parse (every ref and source resolves), then build the new models."""

from __future__ import annotations

from cartridge_bridge.errors import ProjectError, VerificationError
from cartridge_bridge.gather.dbt_runner import BuildSummary, DbtProject
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import Progress


def prove(dbt: DbtProject, plan: ExecutionPlan, build: bool, progress: Progress) -> BuildSummary | None:
    """Parse the project, then (when asked) build the plan's models and their tests."""
    progress.step("dbt parse (checks every ref and source)")
    try:
        dbt.parse()
    except ProjectError as error:
        raise VerificationError(f"the generated files do not parse, so nothing was kept: {error}") from None
    if not build:
        return None
    models = [a.name for a in plan.models()]
    progress.step(f"dbt build on {len(models)} new models and their tests")
    return dbt.build(select=models)


def failure_message(build: BuildSummary) -> str:
    """One sentence naming the first node that failed, for a VerificationError."""
    failed = build.failed
    if not failed:
        return f"dbt build failed and the project was restored: {'; '.join(build.errors[:2]) or 'no message'}"
    first = failed[0]
    detail = (first.message or "").strip().splitlines()
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return (
        f"dbt build failed on {first.name}{more}: {detail[0] if detail else first.status}; "
        "the project was restored"
    )
