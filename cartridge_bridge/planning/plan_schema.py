"""The plan file's published JSON Schema, generated from `ExecutionPlan` so that it cannot drift from the model.

Editors validate plan files against it and any planner can target it. The output is deterministic (sorted keys,
two-space indent, one trailing newline): regenerating after a change to the plan's models shows exactly that
change. Regenerate with `python -m cartridge_bridge.planning.plan_schema` from the repository's root.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cartridge_bridge.planning.plan import PLAN_VERSION, READABLE_PLAN_VERSIONS, ExecutionPlan

SCHEMA_FILE = f"schemas/plan.v{PLAN_VERSION}.schema.json"  # relative to the repository's root
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def plan_json_schema() -> dict[str, Any]:
    """The JSON Schema of a plan file this version of cartridge reads."""
    schema = ExecutionPlan.model_json_schema(mode="validation")
    # The model takes any integer and the reader refuses the versions it cannot read: say which in the schema.
    schema["properties"]["plan_version"]["enum"] = list(READABLE_PLAN_VERSIONS)
    title = f"cartridge plan file, version {PLAN_VERSION}"
    return {"$schema": _DIALECT, "$id": SCHEMA_FILE, **schema, "title": title}


def plan_schema_text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(plan_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the schema to the path given, or to `schemas/plan.v<version>.schema.json` under the current folder."""
    arguments = sys.argv[1:] if argv is None else argv
    path = Path(arguments[0] if arguments else SCHEMA_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plan_schema_text(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
