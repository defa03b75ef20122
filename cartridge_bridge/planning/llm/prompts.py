"""The prompts: `.j2` package data rendered by one strict jinja2 Environment, variable data only in data blocks.

Whatever a prompt says that did not come from cartridge (warehouse names and comments, the project's
model names, dbt's messages, a model's own earlier answer) is rendered as JSON between `<data>` and
`</data>`, and the system prompt says that text there is data, never instructions. Inside the JSON,
`<`, `>` and `&` are written as unicode escapes, so no text can close the block early.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel

from cartridge_bridge.sql.identifiers import identifier_limit

DATA_OPEN = "<data>"
DATA_CLOSE = "</data>"
SYSTEM_TEMPLATE = "planner_system.j2"
PHASE_TEMPLATES = {
    "plan": "planner_user.j2",
    "staging": "staging.j2",
    "intermediate": "intermediate.j2",
    "mart": "mart.j2",
    "docs_tests": "docs_tests.j2",
    "repair": "repair.j2",
    "history": "history.j2",
    "periodic_snapshot": "periodic_snapshot.j2",
    "union": "union.j2",
}


def data_json(value: Any) -> str:
    """Data as one line of JSON that cannot contain the data block's delimiters."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_none=True)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def data_block(value: Any) -> str:
    """Data between the delimiters the system prompt names."""
    return f"{DATA_OPEN}\n{data_json(value)}\n{DATA_CLOSE}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Environment over cartridge_bridge/planning/llm/prompts, strict about undefined names."""
    env = Environment(
        loader=PackageLoader("cartridge_bridge.planning.llm", "prompts"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )
    env.filters["data_block"] = data_block
    return env


def render_prompt(template: str, **values: Any) -> str:
    """One prompt template rendered with typed values."""
    return environment().get_template(template).render(**values).strip() + "\n"


def phase_messages(
    phase: str, task: BaseModel, answer_type: type[BaseModel], adapter_type: str
) -> list[dict[str, str]]:
    """The system prompt and the phase's user prompt for one task.

    The prompt names the answer type only: its JSON schema goes with the request once, in response_format or
    in the system message, as the client's structured-output mode says.
    """
    system = render_prompt(
        SYSTEM_TEMPLATE, adapter_type=adapter_type, name_limit=identifier_limit(adapter_type)
    )
    user = render_prompt(
        PHASE_TEMPLATES[phase], task=task, schema_name=answer_type.__name__, adapter_type=adapter_type
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
