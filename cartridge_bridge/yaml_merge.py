"""Add-only merges of generated entries into dbt property YAML, keeping the user's comments and layout."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Literal

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .errors import ConflictError, UsageError

ConflictPolicy = Literal["fail", "skip", "overwrite"]


@dataclass
class MergeResult:
    """The merged text and what happened to each entry."""

    text: str
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # differing entries left as the user wrote them


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # long descriptions stay on one line instead of folding mid-sentence
    yaml.preserve_quotes = True
    return yaml


def dump_yaml(data: Any) -> str:
    """YAML text in dbt's usual layout (two-space indents, indented sequences)."""
    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    return buffer.getvalue()


def load_yaml(text: str, path: str) -> Any:
    """Round-trip load of a YAML mapping, naming the file when it is not one."""
    try:
        document = _yaml().load(text)
    except YAMLError as error:
        raise UsageError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if document is None:
        return CommentedMap()
    if not isinstance(document, dict):
        raise UsageError(f"{path} is not a YAML mapping at its top level")
    return document


def _plain(value: Any) -> Any:
    """Comparable plain data from ruamel's commented containers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def merge_properties(
    existing: str | None,
    path: str,
    models: list[dict[str, Any]],
    sources: list[dict[str, Any]],
    policy: ConflictPolicy,
) -> MergeResult:
    """Merge model and source entries into a property file's text; conflicts follow the policy."""
    document = load_yaml(existing, path) if existing else CommentedMap()
    result = MergeResult(text="")
    if models:
        _merge_named(document, "models", models, path, policy, result, label="model ")
    for source in sources:
        _merge_source(document, source, path, policy, result)
    result.text = (
        existing if existing is not None and not (result.added or result.replaced) else dump_yaml(document)
    )
    return result


def _entries(document: Any, key: str) -> Any:
    entries = document.get(key)
    if entries is None:
        entries = CommentedSeq()
        document[key] = entries
    return entries


def _merge_named(
    parent: Any,
    key: str,
    entries: list[dict[str, Any]],
    path: str,
    policy: ConflictPolicy,
    result: MergeResult,
    label: str,
) -> None:
    current = _entries(parent, key)
    for entry in entries:
        name = entry["name"]
        index = next(
            (i for i, item in enumerate(current) if isinstance(item, dict) and item.get("name") == name), None
        )
        if index is None:
            current.append(entry)
            result.added.append(f"{label}{name}")
        elif _plain(current[index]) == _plain(entry):
            result.unchanged.append(f"{label}{name}")
        elif policy == "overwrite":
            current[index] = entry
            result.replaced.append(f"{label}{name}")
        elif policy == "skip":
            result.kept.append(f"{label}{name}")
        else:
            raise ConflictError(
                f"{path} already defines {label}{name} differently; "
                "rerun with --on-conflict skip or --on-conflict overwrite"
            )


def _merge_source(
    document: Any, source: dict[str, Any], path: str, policy: ConflictPolicy, result: MergeResult
) -> None:
    current = _entries(document, "sources")
    existing = next((s for s in current if isinstance(s, dict) and s.get("name") == source["name"]), None)
    if existing is None:
        current.append(source)
        result.added.append(f"source {source['name']}")
        return
    _merge_named(
        existing, "tables", source["tables"], path, policy, result, label=f"source table {source['name']}."
    )
