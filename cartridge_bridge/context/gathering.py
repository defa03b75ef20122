"""Gathering the facts a context is built from: the package's gather macro, then the profile's data checks.

With a profile, each check (composite keys, category values, foreign keys) is one more macro over what the
first pass found; a check that fails loses only what it would have added, never the rest of the profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cartridge_bridge.config import CartridgeConfig
from cartridge_bridge.context.category_values import MACRO as CATEGORY_MACRO
from cartridge_bridge.context.category_values import category_checks, with_category_values
from cartridge_bridge.context.key_checks import (
    CONTAINED_MACRO,
    combination_checks,
    containment_checks,
    with_combination_counts,
    with_contained_values,
)
from cartridge_bridge.context.key_checks import MACRO as COMBINATIONS_MACRO
from cartridge_bridge.dbt.package_install import PACKAGE_NAME
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.errors import DbtError, ProjectError
from cartridge_bridge.gather.facts import WarehouseFacts, parse_facts
from cartridge_bridge.gather.manifest import Manifest
from cartridge_bridge.progress import Progress


@dataclass
class OpenProject:
    """A parsed project: its dbt handle, its cartridge.yml and its manifest."""

    dbt: DbtProject
    config: CartridgeConfig
    manifest: Manifest


def gather_facts(
    project: OpenProject,
    schemas: list[str],
    select: list[str],
    exclude: list[str],
    profile: bool = False,
    progress: Progress | None = None,
) -> WarehouseFacts:
    """Run the package's gather macro and validate what it printed; profiled, with composite keys counted."""
    if not project.manifest.has_macro(PACKAGE_NAME, "gather"):
        raise ProjectError(
            f"the cartridge dbt package is not installed in {project.dbt.project_dir}; run `cartridge init`"
        )
    args: dict[str, object] = {"schemas": schemas, "select": select, "exclude": exclude}
    if profile:
        try:
            # Counts for keys, and no values: only the category columns' values are read, below.
            profiled = {**args, "profile": True, "top_values_limit": 0}
            facts = parse_facts(
                project.dbt.run_operation("cartridge.gather", profiled), "the output of cartridge.gather"
            )
            checks = combination_checks(facts)
            if checks and project.manifest.has_macro(PACKAGE_NAME, "distinct_combinations"):
                counts = project.dbt.run_operation(COMBINATIONS_MACRO, {"relations": checks})
                facts = with_combination_counts(facts, counts)
        except DbtError:
            # Profiling reads every raw relation; one that cannot be read (a broken view) must not stop the
            # run: keys then come from declarations and names, and the build names the broken relation.
            pass
        else:
            return _with_foreign_key_counts(
                project, _with_category_values(project, facts, progress), progress
            )
    return parse_facts(project.dbt.run_operation("cartridge.gather", args), "the output of cartridge.gather")


def _with_data_check(
    project: OpenProject,
    facts: WarehouseFacts,
    progress: Progress | None,
    macro: str,
    argument: tuple[str, list[dict[str, object]]],
    fold: Callable[[WarehouseFacts, str], WarehouseFacts],
    lost: str,
) -> WarehouseFacts:
    """The facts with what one of the package's check macros printed folded in; when the macro fails, the facts
    as they were and a progress line saying what is `lost` (`{}`: the error's first line), never the rest of the
    profile."""
    name, checks = argument
    if not checks or not project.manifest.has_macro(PACKAGE_NAME, macro.removeprefix(f"{PACKAGE_NAME}.")):
        return facts
    try:
        printed = project.dbt.run_operation(macro, {name: checks})
    except DbtError as error:
        if progress is not None:
            text = str(error).strip()
            progress.step(lost.format(text.splitlines()[0] if text else "dbt failed"))
        return facts
    return fold(facts, printed)


def _with_category_values(
    project: OpenProject, facts: WarehouseFacts, progress: Progress | None
) -> WarehouseFacts:
    """The profiled facts with the values of their category columns (a status, a type): one grouped statement
    per table that has some. When it fails, only the values are lost: amounts with a status stay unsummed."""
    return _with_data_check(
        project,
        facts,
        progress,
        CATEGORY_MACRO,
        ("relations", category_checks(facts)),
        with_category_values,
        "category values not read ({}); amounts with a status are not summed",
    )


def _with_foreign_key_counts(
    project: OpenProject, facts: WarehouseFacts, progress: Progress | None
) -> WarehouseFacts:
    """The profiled facts with every foreign key a name suggests counted (role-named and `<entity>_id`), once
    the composite counts settled every key: one statement for all of them.

    The check reads parents' keys the profile did not; when it fails (a parent the user may not read, two
    types the warehouse will not compare), only the foreign keys' counts are lost: role-named keys are not
    taken and the others stay `named`; the rest of the profile is kept.
    """
    return _with_data_check(
        project,
        facts,
        progress,
        CONTAINED_MACRO,
        ("edges", containment_checks(facts)),
        with_contained_values,
        "foreign keys not checked on the data ({}); they come from names only",
    )
