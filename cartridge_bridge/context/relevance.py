"""Pick the existing models that matter to new raw tables: the budgeted, relevant slice for brownfield planning."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cartridge_bridge.context.existing_models import ExistingColumn, ExistingModels, short_description
from cartridge_bridge.context.keys import entity_of, foreign_keys, primary_key
from cartridge_bridge.gather.facts import RawRelation
from cartridge_bridge.gather.manifest import Manifest, Node
from cartridge_bridge.sql.naming import singular, snake_case

DEFAULT_BUDGET = 6_000
OTHER_COLUMNS = 8  # columns besides the matching keys, per entry, while the budget allows
UNRELATED = "unrelated"
LINEAGE_BEYOND = "lineage neighbours beyond budget"
NAME_BEYOND = "name-similar beyond budget"

# Scanning reversed SQL for the literal `di_` lets `re` use its fast literal search: a forward
# `\b\w+_id\b` is ~10x slower over 20k models. A hit may be the tail of a longer word
# (`customer_id_old` reversed), so hits on a key name are confirmed with _has_word.
_REVERSED_ID = re.compile(r"di_[a-z0-9_]*")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_LAYER_WORDS = frozenset("stg int fct dim base mart marts rpt agg src raw tmp".split())

Signal = Literal["key", "lineage", "name"]


class SliceEntry(BaseModel):
    """One existing model in the slice, and why it is there."""

    model_config = ConfigDict(extra="forbid")

    name: str
    path: str | None = None
    why: str  # the signal and what matched: "key customer_id", "child of stg_orders", "name ~ refunds"
    layer: str | None = None  # staging, intermediate or mart
    grain: list[str] = []  # from its constraints or tests (existing_models.py)
    reads: list[str] = []
    # Its real columns (the warehouse's, else its SQL's), typed and described, while the budget allows:
    # the shared keys first, then the columns its SQL transforms, then the rest.
    columns: list[ExistingColumn] = []
    signal: Signal = Field(exclude=True)
    keys: list[str] = Field(default=[], exclude=True)  # the shared key columns of a key entry


class RelevantSlice(BaseModel):
    """The project's models related to the new raw tables, fitted to a token budget."""

    model_config = ConfigDict(extra="forbid")

    entries: list[SliceEntry]
    left_out: dict[str, int]  # reason → number of models, e.g. {"unrelated": 4812}
    key_names: list[str]  # the key columns of the new tables that were looked for
    tokens_used: int  # estimate_tokens(context_json())
    budget: int
    over_budget_by: int = 0  # > 0 only when the key-sharing models alone do not fit
    dropped_fields: list[str] = []  # fields removed from every entry so that the key-sharing models fit

    def context_json(self) -> str:
        """The slice as a planner sees it: the entries and what was left out, as compact JSON."""
        return _wrap(",".join(_entry_json(e) for e in self.entries), self.left_out)


@dataclass
class _Candidate:
    index: int  # into the sorted root models
    signal: Signal
    why: str
    keys: list[str]


def estimate_tokens(text: str) -> int:
    """Tokens of a text without a tokenizer: about four characters of JSON per token, rounded up."""
    return math.ceil(len(text) / 4)


def key_names(relations: list[RawRelation]) -> list[str]:
    """Staged key columns of new tables: primary keys (`id` → `<entity>_id`), foreign keys, every `*_id`."""
    names: set[str] = set()
    for relation in relations:
        key = primary_key(relation)
        if key is not None:
            staged = snake_case(key)
            names.add(f"{entity_of(relation)}_id" if staged == "id" else staged)
        names.update(s for s in (snake_case(c.name) for c in relation.columns) if s.endswith("_id"))
    names.update(snake_case(edge.column) for edge in foreign_keys(relations))
    return sorted(names)


def relevant_slice(
    manifest: Manifest,
    relations: list[RawRelation],
    budget: int = DEFAULT_BUDGET,
    existing: ExistingModels | None = None,
) -> RelevantSlice:
    """The project's models that share a key with, neighbour, or are named like the new raw tables.

    `existing` says what each model really is (without it, what its SQL says: no warehouse known).
    """
    existing = existing or ExistingModels(manifest, None, manifest.metadata.adapter_type or "")
    models = sorted(manifest.root_models(), key=lambda n: n.unique_id)
    keys = key_names(relations)
    shared = shared_keys(models, keys)
    similarity, closest = _similarities(models, relations)

    def rank(index: int) -> tuple[float, str]:
        return -similarity[index], models[index].name

    sharing = sorted(shared, key=lambda i: (-len(shared[i]), *rank(i)))
    neighbours = _neighbours(models, sharing)
    named = [i for i, score in enumerate(similarity) if score > 0 and i not in shared and i not in neighbours]
    candidates = (
        [_Candidate(i, "key", f"key {', '.join(shared[i])}", shared[i]) for i in sharing],
        [_Candidate(i, "lineage", neighbours[i], []) for i in sorted(neighbours, key=rank)],
        [_Candidate(i, "name", f"name ~ {closest[i]}", []) for i in sorted(named, key=rank)],
    )
    return _fit(models, candidates, keys, budget, existing)


def shared_keys(models: list[Node], keys: list[str]) -> dict[int, list[str]]:
    """For each model sharing a key, the keys it has as documented columns or as identifiers in its SQL."""
    # One pass over the models with only set operations and one regex scan each, never a loop over
    # models x keys x columns: 20,000 models take about a tenth of a second.
    wanted = set(keys)
    reversed_ids = frozenset(k[::-1] for k in keys if k.endswith("_id"))
    other_keys = [k for k in keys if not k.endswith("_id")]
    shared: dict[int, list[str]] = {}
    for index, node in enumerate(models):
        # One join/lower/split per model is far cheaper than lower-casing each column name in Python.
        found = wanted.intersection(",".join(node.columns).lower().split(","))
        code = node.raw_code.lower()
        if code:
            hits = [h[::-1] for h in reversed_ids.intersection(_REVERSED_ID.findall(code[::-1]))]
            found.update(k for k in hits + other_keys if k not in found and _has_word(code, k))
        if found:
            shared[index] = sorted(found)
    return shared


def _has_word(text: str, word: str) -> bool:
    """True when `word` occurs in `text` as a whole identifier, not inside a longer one."""
    start = text.find(word)
    while start != -1:
        end = start + len(word)
        if (start == 0 or text[start - 1] not in _WORD_CHARS) and text[end : end + 1] not in _WORD_CHARS:
            return True
        start = text.find(word, start + 1)
    return False


def _neighbours(models: list[Node], sharing: list[int]) -> dict[int, str]:
    """Parents and children of the key-sharing models that do not share a key themselves, with why."""
    position = {m.unique_id: i for i, m in enumerate(models)}
    rank = {index: order for order, index in enumerate(sharing)}
    links: dict[int, tuple[int, str]] = {}  # neighbour → (rank of the first sharing model it touches, why)

    def link(neighbour: int, sharer: int, relation: str) -> None:
        if neighbour in rank:
            return
        found = (rank[sharer], f"{relation} of {models[sharer].name}")
        if neighbour not in links or found < links[neighbour]:
            links[neighbour] = found

    for index, node in enumerate(models):
        for parent_id in node.depends_on.nodes:
            parent = position.get(parent_id)
            if parent is None:
                continue
            if index in rank:
                link(parent, index, "parent")
            if parent in rank:
                link(index, parent, "child")
    return {i: why for i, (_, why) in links.items()}


def _similarities(models: list[Node], relations: list[RawRelation]) -> tuple[list[float], dict[int, str]]:
    """Jaccard overlap of each model name's words with the closest new table's words, and that table."""
    tables: list[tuple[str, frozenset[str]]] = []
    variants: dict[str, str] = {}  # a word as it may appear in a model name → its singular
    for relation in sorted(relations, key=lambda r: r.identifier):
        words = set()
        for word in snake_case(relation.identifier).split("_"):
            if word and word not in _LAYER_WORDS:
                one = singular(word)
                words.add(one)
                plural = f"{one[:-1]}ies" if one.endswith("y") else f"{one}s"
                variants.update(dict.fromkeys((word, one, plural, f"{one}es"), one))
        tables.append((relation.identifier, frozenset(words)))
    known = frozenset(variants.values())
    scores = [0.0] * len(models)
    closest: dict[int, str] = {}
    for index, node in enumerate(models):
        words = {variants.get(w, w) for w in node.name.lower().split("_") if w and w not in _LAYER_WORDS}
        if words.isdisjoint(known):
            continue
        for name, table in tables:
            score = len(words & table) / len(words | table)
            if score > scores[index]:
                scores[index], closest[index] = score, name
    return scores, closest


def _fit(
    models: list[Node],
    candidates: tuple[list[_Candidate], ...],
    keys: list[str],
    budget: int,
    existing: ExistingModels,
) -> RelevantSlice:
    """Every key-sharing model, then neighbours, then name-alikes, then other columns, within the budget."""
    sharing, lineage, named = candidates
    unrelated = len(models) - len(sharing) - len(lineage) - len(named)
    # Room for the entries and their commas: the budget less the largest `left_out` this slice can have.
    worst = {UNRELATED: unrelated, LINEAGE_BEYOND: len(lineage), NAME_BEYOND: len(named)}
    room = budget * 4 - len(_wrap("", {reason: count for reason, count in worst.items() if count}))
    dropped: list[str] = []
    picked = [(c, _entry(models, c)) for c in sharing]
    used = sum(len(_entry_json(e)) + 1 for _, e in picked)
    if used > room:
        # Key-sharing models are never dropped: shed their optional fields instead, then report the excess.
        dropped.append("path")
        picked = [(c, e.model_copy(update={"path": None})) for c, e in picked]
        used = sum(len(_entry_json(e)) + 1 for _, e in picked)
    left_out = {UNRELATED: unrelated}
    full = bool(dropped)
    for group, reason in ((lineage, LINEAGE_BEYOND), (named, NAME_BEYOND)):
        taken = 0
        for candidate in group:
            entry = _entry(models, candidate)
            size = len(_entry_json(entry)) + 1
            full = full or used + size > room
            if full:
                break
            picked.append((candidate, entry))
            used, taken = used + size, taken + 1
        left_out[reason] = len(group) - taken
    if not full:
        _add_other_columns(existing, picked, used, room)
    entries = [e for _, e in picked]
    left_out = {reason: count for reason, count in left_out.items() if count}
    tokens = estimate_tokens(_wrap(",".join(_entry_json(e) for e in entries), left_out))
    return RelevantSlice(
        entries=entries,
        left_out=left_out,
        key_names=keys,
        tokens_used=tokens,
        budget=budget,
        over_budget_by=max(0, tokens - budget),
        dropped_fields=dropped,
    )


def _add_other_columns(
    existing: ExistingModels, picked: list[tuple[_Candidate, SliceEntry]], used: int, room: int
) -> None:
    """Give entries, in slice order, what they really are while it fits: layer, grain, reads and their real
    columns besides the shared keys (typed, described, transforms first)."""
    for position, (candidate, entry) in enumerate(picked):
        facts = existing.get(entry.name)
        if facts is None:
            continue
        others = [c for c in facts.columns if c.name.lower() not in candidate.keys]
        others.sort(key=lambda c: c.expression is None)  # stable: the transforms first, then in column order
        shown = [
            c.model_copy(update={"description": short_description(c.description)})
            for c in others[:OTHER_COLUMNS]
        ]
        richer = entry.model_copy(
            update={"layer": facts.layer, "grain": facts.grain, "reads": facts.reads, "columns": shown}
        )
        grown = len(_entry_json(richer)) - len(_entry_json(entry))
        if used + grown > room:
            return
        picked[position] = (candidate, richer)
        used += grown


def _entry(models: list[Node], candidate: _Candidate) -> SliceEntry:
    node = models[candidate.index]
    return SliceEntry(
        name=node.name,
        path=node.original_file_path or None,
        why=candidate.why,
        signal=candidate.signal,
        keys=candidate.keys,
    )


def _entry_json(entry: SliceEntry) -> str:
    return entry.model_dump_json(exclude_defaults=True)


def _wrap(entries: str, left_out: dict[str, int]) -> str:
    return f'{{"entries":[{entries}],"left_out":{json.dumps(left_out, separators=(",", ":"), ensure_ascii=False)}}}'
