"""The relations a plan's build creates in the warehouse: found before the build, dropped again on rollback or undo."""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.errors import CartridgeError
from cartridge_bridge.gather.dbt_runner import DbtProject
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

    def drop(self, relations: list[Relation]) -> tuple[list[Relation], list[Relation]]:
        """Drop those of the relations that exist: what was dropped, and what remains (all when unreachable)."""
        if not relations:
            return [], []
        wanted = [
            {"database": r.database or "", "schema": r.schema_name, "identifier": r.identifier}
            for r in relations
        ]
        try:
            found = {(r["schema"], r["identifier"]) for r in self.dbt.existing_relations(wanted, drop=True)}
            left = {(r["schema"], r["identifier"]) for r in self.dbt.existing_relations(wanted)}
        except CartridgeError:
            return [], list(relations)
        dropped = [r for r in relations if (r.schema_name, r.identifier) in found - left]
        return dropped, [r for r in relations if (r.schema_name, r.identifier) in left]
