"""Add-only merges of generated entries into dbt property YAML, keeping the user's comments and layout."""

from __future__ import annotations

import functools
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml as pyyaml
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import SingleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from cartridge_bridge.errors import ConflictError, UsageError

ConflictPolicy = Literal["fail", "skip", "overwrite"]


@dataclass
class MergeResult:
    """The merged text and what happened to each entry."""

    text: str
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # differing entries left as the user wrote them


_STRING_TAG = "tag:yaml.org,2002:str"
_DBT_RESOLVER = pyyaml.resolver.Resolver()  # asked for every string written: made once


def _read_as_string_by_dbt(value: str) -> bool:
    """True when PyYAML (dbt's reader, YAML 1.1) reads `value` written plain back as this string.

    ruamel writes YAML 1.2, where `yes`, `no`, `on` and `off` are strings: written plain, dbt would read
    them as booleans (an accepted value `yes` becoming `True`, a column `on` named `True`).
    """
    return _DBT_RESOLVER.resolve(pyyaml.nodes.ScalarNode, value, (True, False)) == _STRING_TAG


def _represent_str(representer: RoundTripRepresenter, value: str) -> Any:
    if _read_as_string_by_dbt(value):
        return representer.represent_str(value)
    return representer.represent_scalar(_STRING_TAG, value, style="'")


def _yaml(sequence: int = 4, offset: int = 2, mapping: int | None = None) -> YAML:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=mapping or max(sequence - offset, 2), sequence=sequence, offset=offset)
    yaml.width = 4096  # long descriptions stay on one line instead of folding mid-sentence
    yaml.preserve_quotes = True
    yaml.representer.add_representer(str, _represent_str)
    return yaml


class _DbtLayoutDumper(pyyaml.SafeDumper):
    """PyYAML, the library dbt reads with, writing dbt's usual layout: a list indented under its key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


# dbt's usual layout, as (item, dash, mapping) indents: a list's dashes two spaces right of its key, its
# items four, a mapping's keys two right of theirs.
DBT_INDENT = (4, 2, 2)
_BLOCK_KEY = re.compile(r"^( *)(- +)?[^\s#'\"-][^:#]*:[ \t]*(#.*)?$")
_NESTED_KEY = re.compile(r"^( *)[^\s#'\"-][^:#]*:")
_LIST_ITEM = re.compile(r"^( *)(- +)\S")


def mapping_indent(text: str) -> int | None:
    """How far right of its key a YAML text writes a nested mapping's keys (2 in dbt's layout), the most
    common distance; None when it has no nested mapping. ruamel's guess only measures lists."""
    seen: Counter[int] = Counter()
    for column, following in _nested_lines(text):
        nested = _NESTED_KEY.match(following)
        if nested and len(nested.group(1)) > column:
            seen[len(nested.group(1)) - column] += 1
    return _most_common(seen)


def list_indents(text: str) -> tuple[int, int] | None:
    """Where a YAML text's list items start and where their dashes are, right of the list's key, the most common
    pair ((4, 2) in dbt's layout); None without a block list. What ruamel's guess measures, read from the
    lines alone: the guess parses the whole document, seconds for a file of thousands of lines."""
    seen: Counter[tuple[int, int]] = Counter()
    for column, following in _nested_lines(text):
        item = _LIST_ITEM.match(following)
        if item:
            dash = len(item.group(1))
            seen[(dash + len(item.group(2)) - column, dash - column)] += 1
    return _most_common(seen)


def _nested_lines(text: str) -> Iterator[tuple[int, str]]:
    """(column of a block key, the line after it) for each key that opens a block: `columns:`, `- name:` no."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, following in pairwise(lines):
        if key := _BLOCK_KEY.match(line):
            yield len(key.group(1)) + len(key.group(2) or ""), following


def _most_common(seen: Counter[Any]) -> Any:
    """The most common of the widths seen, the smallest on a tie; None when none was."""
    return min(seen, key=lambda width: (-seen[width], width)) if seen else None


# libyaml's emitter (PyYAML's C extension) when it is built, else PyYAML's own: both write the same text.
FAST_DUMPER: type = getattr(pyyaml, "CSafeDumper", pyyaml.SafeDumper)
_NO_FOLDING = 2**31 - 1  # the widest line libyaml takes: a long description is never folded onto two lines
_LINE_BREAK = re.compile("[\n\r\x85\u2028\u2029]")  # what YAML 1.1 reads as a line break


def _represent_one_line(dumper: pyyaml.SafeDumper, value: str) -> Any:
    # Double quotes escape a line break as `\n`: quoted otherwise, the string would span lines.
    return dumper.represent_scalar(_STRING_TAG, value, style='"' if _LINE_BREAK.search(value) else None)


@functools.cache
def _one_line_dumper(base: type) -> type:
    """`base` writing every string on one line, so that its lists can be indented line by line."""
    dumper: Any = type(f"OneLine{base.__name__}", (base,), {})
    dumper.add_representer(str, _represent_one_line)
    return dumper


def _indent_lists(text: str) -> str | None:
    """PyYAML's text with each list under a key indented two more, as dbt writes them; None when it cannot.

    The emitter writes a list flush with its key and offers no switch in C. With every scalar on one line,
    a line's depth is its indent, so each line moves right by two per list flush with its key that is open
    around it. A complex key (`? key`, a key too long to be simple) breaks that: None, for the slow path.
    """
    lines = text.splitlines(keepends=True)
    flush: list[int] = []  # columns of the open lists written flush with their key
    open_key = -1  # column of the key the line before left without a value (`key:`)
    for index, line in enumerate(lines):
        body = line.lstrip(" ")
        column = len(line) - len(body)
        dash = body.startswith("- ")
        while flush and (flush[-1] > column or (flush[-1] == column and not dash)):
            flush.pop()
        if dash and column == open_key:
            flush.append(column)
        if flush:
            lines[index] = "  " * len(flush) + line
        content = body.rstrip("\n")
        lead = 0
        while content.startswith("- ", lead):
            lead += 2
        if content.startswith(("? ", ": "), lead) or content[lead:] in ("?", ":"):
            return None
        open_key = column + lead if content.endswith(":") else -1
    return "".join(lines)


def dump_new_yaml(data: Any, base: type = FAST_DUMPER) -> str:
    """A new file's text in dbt's layout, written by `base` (libyaml's emitter unless told), one scalar a line.

    A new file has no layout of the user's to keep, so the round-trip library's cost buys nothing there.
    """
    plain = _plain(data)
    text = pyyaml.dump(
        plain, Dumper=_one_line_dumper(base), sort_keys=False, width=_NO_FOLDING, allow_unicode=True
    )
    indented = _indent_lists(text)
    if indented is not None:
        return indented
    return pyyaml.dump(plain, Dumper=_DbtLayoutDumper, sort_keys=False, width=4096, allow_unicode=True)


def dump_yaml(data: Any, like: str | None = None, indent: tuple[int, int, int] = DBT_INDENT) -> str:
    """YAML text in dbt's usual layout, or in the indentation of `like` (the file it came from), or else in
    `indent` (a project's (item, dash, mapping) indents, for a file it does not have yet).

    A new file has no layout of the user's to keep: libyaml writes it (`dump_new_yaml`), many times faster
    than the round-trip library, quoting exactly what dbt's YAML 1.1 reader would misread.
    """
    if not (like and like.strip()) and (indent != DBT_INDENT or _styled(data)):
        buffer = io.StringIO()
        _yaml(*indent).dump(data, buffer)
        return buffer.getvalue()
    if not (like and like.strip()):
        return dump_new_yaml(data)
    _, sequence, offset = load_yaml_guess_indent(like)
    sequence, offset = sequence or 4, offset or 0
    buffer = io.StringIO()
    _yaml(sequence, offset, mapping_indent(like)).dump(data, buffer)
    text = buffer.getvalue()
    return text.replace("\n", "\r\n") if like and "\r\n" in like else text


def read_yaml_file(path: Path, error_type: type[UsageError] = UsageError) -> Any:
    """A YAML file as plain data, with one clear message when it is not UTF-8 or not YAML."""
    try:
        return YAML(typ="safe").load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise error_type(f"{path} is not UTF-8 text") from None
    except YAMLError as error:
        raise error_type(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None


_DOCUMENT_START = re.compile(r"---[ \t]*(#.*)?\r?\n?$")
_DOCUMENT_END = re.compile(r"\.\.\.[ \t]*(#.*)?\r?\n?$")


def _is_blank_or_comment(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def split_markers(text: str, path: str) -> tuple[str, str, str]:
    """The text before the body (up to an explicit `---`), the body, and an explicit `...` with what follows.

    Markers and the comments around them are kept byte for byte; a second document after them is refused.
    """
    lines = text.splitlines(keepends=True)
    start = 0
    for index, line in enumerate(lines):
        if _DOCUMENT_START.match(line):
            start = index + 1
            break
        if not (_is_blank_or_comment(line) or line.startswith("%")):
            break
    end = next((i for i in range(start, len(lines)) if _DOCUMENT_END.match(lines[i])), len(lines))
    if not all(_is_blank_or_comment(line) for line in lines[end + 1 :]):
        raise UsageError(
            f"{path} holds several YAML documents and dbt reads only one per file; "
            "merge them into one, then run cartridge again"
        )
    return "".join(lines[:start]), "".join(lines[start:end]), "".join(lines[end:])


def load_yaml(text: str, path: str) -> Any:
    """Round-trip load of a YAML mapping, naming the file when it is not one (or holds several documents)."""
    try:
        document = _yaml().load(text)
    except YAMLError as error:
        if "expected a single document" in str(error):
            raise UsageError(
                f"{path} holds several YAML documents and dbt reads only one per file; "
                "merge them into one, then run cartridge again"
            ) from None
        raise UsageError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if document is None:
        return CommentedMap()
    if not isinstance(document, dict):
        raise UsageError(f"{path} is not a YAML mapping at its top level")
    return document


def _plain(value: Any) -> Any:
    """Comparable plain data from ruamel's commented containers and styled strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def flow_strings(values: list[str]) -> CommentedSeq:
    """`['a', 'b']`: strings as one flow list, each single-quoted, as dbt's docs write accepted values."""
    styled = CommentedSeq(SingleQuotedScalarString(value) for value in values)
    styled.fa.set_flow_style()
    return styled


def _styled(value: Any) -> bool:
    """Whether data holds a flow list of cartridge's (`flow_strings`), which only the round-trip writer keeps."""
    if isinstance(value, dict):
        return any(_styled(v) for v in value.values())
    if isinstance(value, CommentedSeq) and value.fa.flow_style():
        return True
    return isinstance(value, list) and any(_styled(v) for v in value)


def merge_properties(
    existing: str | None,
    path: str,
    models: list[dict[str, Any]],
    sources: list[dict[str, Any]],
    policy: ConflictPolicy,
    semantic_models: list[dict[str, Any]] | None = None,
    metrics: list[dict[str, Any]] | None = None,
    version: int | None = None,
    indent: tuple[int, int, int] = DBT_INDENT,
    extend: list[dict[str, Any]] | None = None,
) -> MergeResult:
    """Merge model and source entries into a property file's text; conflicts follow the policy.

    A new file starts with `version:` when one is given, and is written in `indent` (the project's
    dialect); a file that exists keeps its own header and indentation, and its own tests key.

    Semantic models and metrics are only ever added: one the file has under the same name stays as it is,
    whatever the policy (people refine their metrics; a regenerated one must not undo that).
    A document-end marker (`...`) and the comments after it are kept as they are, after the merged document.
    `extend` entries add their columns to the file's entry of that model (those it lacks), or are added whole.
    """
    if existing:
        head, body, trailer = split_markers(existing, path)
        if head or trailer:
            merged = merge_properties(
                body, path, models, sources, policy, semantic_models, metrics, extend=extend
            )
            if merged.text == body:
                merged.text = existing
            else:
                newline = "\r\n" if "\r\n" in existing else "\n"
                ending = "" if not trailer or merged.text.endswith(("\n", "\r")) else newline
                merged.text = head + merged.text + ending + trailer
            return merged
    document = load_yaml(existing, path) if existing else CommentedMap()
    keys = _test_keys(document)
    if keys == {"tests"}:
        # The file still says `tests:` (dbt before 1.8): new entries speak its dialect, not `data_tests:`,
        # and put a test's arguments next to its name as its tests do (unless one of them nests them).
        nested = _has_key(document, "arguments")
        models, sources = _old_dialect(models, nested), _old_dialect(sources, nested)
        extend = _old_dialect(extend or [], nested)
    elif keys == {"data_tests"}:
        # A project that mostly says `tests:` may have a file that says `data_tests:`: that file's own key.
        models, sources = _test_key(models, "data_tests"), _test_key(sources, "data_tests")
        extend = _test_key(extend or [], "data_tests")
    result = MergeResult(text="")
    appends: dict[int, Appended] = {}
    if models:
        _merge_named(document, "models", models, path, policy, result, "model ", appends)
    for source in sources:
        _merge_source(document, source, path, policy, result, appends)
    for entry in extend or []:
        _extend_model(document, entry, path, result, appends)
    if semantic_models:
        _merge_named(
            document, "semantic_models", semantic_models, path, "skip", result, "semantic model ", appends
        )
    if metrics:
        _merge_named(document, "metrics", metrics, path, "skip", result, "metric ", appends)
    if existing is not None and not (result.added or result.replaced):
        result.text = existing
    else:
        # Only new entries at the end of lists the file has: insert their text, leave every other byte alone.
        inserted = _insert_entries(existing, document, list(appends.values())) if existing else None
        result.text = (
            inserted
            if inserted and not result.replaced
            else dump_yaml(document, like=existing, indent=indent)
        )
        if not existing and version is not None:
            result.text = (
                f"version: {version}\n\n{result.text}"  # a blank line after it, as dbt's docs write it
            )
    return result


_TEST_KEYS = ("tests", "data_tests")


def _test_keys(node: Any) -> set[str]:
    """Which of `tests` and `data_tests` a property document uses for its entries' and columns' tests."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _TEST_KEYS and isinstance(value, list):
                found.add(key)
            else:
                found |= _test_keys(value)
    elif isinstance(node, list):
        for item in node:
            found |= _test_keys(item)
    return found


def _has_key(node: Any, wanted: str) -> bool:
    """True when a mapping anywhere in the document has the key `wanted`."""
    if isinstance(node, dict):
        return wanted in node or any(_has_key(value, wanted) for value in node.values())
    if isinstance(node, list):
        return any(_has_key(item, wanted) for item in node)
    return False


def _old_dialect(node: Any, nested: bool) -> Any:
    """A copy of plain entries saying `tests` for `data_tests`, each test's `arguments` unnested unless `nested`."""
    if isinstance(node, CommentedSeq):
        return node  # a styled list of values (`flow_strings`): no entries inside, kept as it is
    if isinstance(node, list):
        return [_old_dialect(item, nested) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {
        ("tests" if key == "data_tests" else key): _old_dialect(value, nested) for key, value in node.items()
    }
    if not nested and isinstance(copy.get("tests"), list):
        copy["tests"] = [_unnested(test) for test in copy["tests"]]
    return copy


def _test_key(node: Any, key: str) -> Any:
    """A copy of plain entries with their tests under `key` (`tests` or `data_tests`), whichever they used."""
    if isinstance(node, CommentedSeq):
        return node  # a styled list of values (`flow_strings`): no entries inside, kept as it is
    if isinstance(node, list):
        return [_test_key(item, key) for item in node]
    if not isinstance(node, dict):
        return node
    return {(key if name in _TEST_KEYS else name): _test_key(value, key) for name, value in node.items()}


def _unnested(test: Any) -> Any:
    """`{relationships: {arguments: {to: …}, config: …}}` as `{relationships: {to: …, config: …}}`."""
    if not (isinstance(test, dict) and len(test) == 1):
        return test
    ((name, body),) = test.items()
    if not (isinstance(body, dict) and isinstance(body.get("arguments"), dict)):
        return test
    return {name: {**body["arguments"], **{k: v for k, v in body.items() if k != "arguments"}}}


@dataclass
class Appended:
    """Entries appended to `parent[key]`, a list that held `kept` entries in the file."""

    parent: Any
    key: str
    kept: int
    entries: list[dict[str, Any]] = field(default_factory=list)


def _insert_entries(existing: str, document: Any, appends: list[Appended]) -> str | None:
    """`existing` with each list's new entries inserted as text after its last entry, in that list's own indent.

    None when a list cannot take text (new, empty or in flow style) or the text would not read back as the
    merged document: the caller then writes the whole document again.
    """
    lines = existing.splitlines(keepends=True)
    newline = "\r\n" if "\r\n" in existing else "\n"
    mapping = mapping_indent(existing)
    inserts = []
    for append in appends:
        insert = _entries_insert(lines, append, newline, mapping)
        if insert is None:
            return None
        inserts.append(insert)
    # From the bottom up, so the lines above keep their numbers; at one place, the outer list's text first
    # (each insert lands above the one before it, and an inner list's entries come before the outer's).
    for end, _, text in sorted(inserts, key=lambda insert: (-insert[0], insert[1])):
        if end and not lines[end - 1].endswith(("\n", "\r")):
            lines[end - 1] += newline
        lines[end:end] = [text]
    merged = "".join(lines)
    try:
        same = _plain(load_yaml(merged, "")) == _plain(document)
    except UsageError:
        same = False
    return merged if same else None


def _entries_insert(
    lines: list[str], append: Appended, newline: str, mapping: int | None
) -> tuple[int, int, str] | None:
    """Where a list's last entry ends, its dashes' column, and its new entries' text in the list's indent.

    None when it is not a block list with entries, whose dashes are right of its key.
    """
    current = append.parent.get(append.key)
    if append.kept == 0 or not _is_block(current):
        return None
    line, content = current.lc.item(append.kept - 1)
    before = lines[line][:content].rstrip()
    key = append.parent.lc.key(append.key)[1]
    dash = len(before) - 1
    if not before.endswith("-") or dash < key:
        return None
    buffer = io.StringIO()
    _yaml(sequence=content - key, offset=dash - key, mapping=mapping).dump(append.entries, buffer)
    text = "".join(" " * key + row if row.strip() else row for row in buffer.getvalue().splitlines(True))
    return _block_end(lines, line + 1, dash), dash, text.replace("\n", newline)


def _block_end(lines: list[str], start: int, dash: int) -> int:
    """The line after the last entry of a list whose dashes are at column `dash`, from `start` on."""
    for index in range(start, len(lines)):
        text = lines[index]
        if text.strip() and not text.lstrip().startswith("#") and len(text) - len(text.lstrip()) <= dash:
            # Blank lines and comments just above what follows the list belong to it, not to the list.
            while index > start and (
                not lines[index - 1].strip() or lines[index - 1].lstrip().startswith("#")
            ):
                index -= 1
            return index
    return len(lines)


def _is_block(node: Any) -> bool:
    """True for a `- item` list as written in the file: only after one can entries be appended as text."""
    return getattr(node, "fa", None) is not None and node.fa.flow_style() is False


def _entries(document: Any, key: str, path: str) -> Any:
    entries = document.get(key)
    if entries is None:
        entries = CommentedSeq()
        document[key] = entries
    if not isinstance(entries, list):
        raise UsageError(f"{path}: `{key}` should be a list of entries, not {type(entries).__name__}")
    return entries


def _merge_named(
    parent: Any,
    key: str,
    entries: list[dict[str, Any]],
    path: str,
    policy: ConflictPolicy,
    result: MergeResult,
    label: str,
    appends: dict[int, Appended],
) -> None:
    """Merge entries by name into `parent[key]`, noting in `appends` those appended to the list."""
    current = _entries(parent, key, path)
    appended = appends.setdefault(id(current), Appended(parent, key, len(current))).entries
    for entry in entries:
        name = entry["name"]
        index = next(
            (i for i, item in enumerate(current) if isinstance(item, dict) and item.get("name") == name), None
        )
        if index is None:
            current.append(entry)
            appended.append(entry)
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


def _extend_model(
    document: Any, entry: dict[str, Any], path: str, result: MergeResult, appends: dict[int, Appended]
) -> None:
    """Add an entry's columns to the file's entry of that model, those it does not list; the entry whole when the
    file has none. Nothing the file says of the model is replaced."""
    existing = _named_or_appended(document, "models", entry, path, result, appends)
    if existing is None:
        return
    listed = existing.get("columns")
    known = {c.get("name") for c in listed if isinstance(c, dict)} if isinstance(listed, list) else set()
    new = [c for c in entry.get("columns", []) if c["name"] not in known]
    if new:
        _merge_named(existing, "columns", new, path, "skip", result, f"column {entry['name']}.", appends)


def _named_or_appended(
    document: Any,
    key: str,
    entry: dict[str, Any],
    path: str,
    result: MergeResult,
    appends: dict[int, Appended],
) -> dict[str, Any] | None:
    """The file's entry of that name under `key` (`models`, `sources`), or None after appending `entry` whole."""
    current = _entries(document, key, path)
    existing = next((e for e in current if isinstance(e, dict) and e.get("name") == entry["name"]), None)
    if existing is None:
        appends.setdefault(id(current), Appended(document, key, len(current))).entries.append(entry)
        current.append(entry)
        result.added.append(f"{key.removesuffix('s')} {entry['name']}")
    return existing


def _merge_source(
    document: Any,
    source: dict[str, Any],
    path: str,
    policy: ConflictPolicy,
    result: MergeResult,
    appends: dict[int, Appended],
) -> None:
    """Merge one source: appended whole when new, else its tables merged into the existing source's."""
    existing = _named_or_appended(document, "sources", source, path, result, appends)
    if existing is None:
        return
    label = f"source table {source['name']}."
    _merge_named(existing, "tables", source["tables"], path, policy, result, label, appends)
