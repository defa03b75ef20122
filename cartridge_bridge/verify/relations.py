"""The relations a plan's build creates in the warehouse: found before the build, dropped again on rollback or undo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.errors import CartridgeError
from cartridge_bridge.write.journal import Relation

# The package macro that checks (and drops) relations; a project with an older copy of the package lacks it.
MACRO = "_relations"


@dataclass
class WarehouseRelations:
    """Finds and drops a plan's relations through the project's dbt (the only module that runs dbt does it)."""

    dbt: DbtProject

    def locate(self, models: list[str]) -> list[Relation]:
        """Each model's relation as the last parse places it, and whether it exists already."""
        located = self.dbt.relations_of(models)
        existing = {(r["schema"], r["identifier"]) for r in self.dbt.existing_relations(located)}
        return [
            Relation(
                model=r["model"],
                database=r["database"] or None,
                schema_name=r["schema"],
                identifier=r["identifier"],
                existed=(r["schema"], r["identifier"]) in existing,
            )
            for r in located
        ]

    def drop(
        self, relations: list[Relation], gone: Callable[[Relation], None]
    ) -> tuple[list[Relation], list[Relation]]:
        """Drop those of the relations that exist, one at a time and never with `cascade`: dropped, and remaining.

        A relation something else depends on (a user's view over a generated model) fails to drop and remains;
        the others are retried after each pass, since a run's own models depend on each other. `gone` hears
        each relation as soon as it is dropped, or found missing (never built, or dropped by hand).
        """
        if not relations:
            return [], []
        try:
            self.dbt.ensure_parsed()  # one parse: each drop below then takes a fraction of a second
            present = {_key(r) for r in self.dbt.existing_relations([_wanted(r) for r in relations])}
        except CartridgeError:
            return [], list(relations)
        for relation in relations:
            if _key(_wanted(relation)) not in present:
                gone(relation)
        # The plan lists a model before those that select from it: dropping from the end needs fewest passes.
        pending = [r for r in reversed(relations) if _key(_wanted(r)) in present]
        dropped: list[Relation] = []
        while pending:
            failed = []
            for relation in pending:
                try:
                    self.dbt.existing_relations([_wanted(relation)], drop=True)
                except CartridgeError:
                    failed.append(relation)
                    continue
                dropped.append(relation)
                gone(relation)
            if len(failed) == len(pending):
                break
            pending = failed
        return dropped, [r for r in relations if r in pending]


def _wanted(relation: Relation) -> dict[str, str]:
    return {
        "database": relation.database or "",
        "schema": relation.schema_name,
        "identifier": relation.identifier,
    }


def _key(relation: dict[str, str]) -> tuple[str, str]:
    return relation["schema"].lower(), relation["identifier"].lower()
