"""The rules that read a dbt project's conventions from its manifest: names, folders, materializations, SQL style, habits."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from posixpath import dirname
from typing import Any, Literal

from pydantic import ValidationError

from cartridge_bridge.config import DEFAULT_FRESHNESS, Conventions, SourceFreshness
from cartridge_bridge.context.category_values import names_a_category
from cartridge_bridge.context.convention_evidence import (
    BORROWED,
    PROJECT_FILE,
    PROPERTY_FILES,
    Evidence,
    Finding,
    InferredConventions,
    confidence,
    default_conventions,
    tally,
)
from cartridge_bridge.files.yaml_merge import list_indents, mapping_indent
from cartridge_bridge.gather.manifest import Manifest, Node

LAYERS = ("staging", "intermediate", "marts")
_LAYER_OF_FOLDER = {"staging": "staging", "stage": "staging", "stg": "staging", "base": "staging"}
_LAYER_OF_FOLDER |= {"intermediate": "intermediate", "int": "intermediate"}
_LAYER_OF_FOLDER |= {"marts": "marts", "mart": "marts", "core": "marts", "reporting": "marts"}
_LAYER_OF_PREFIX = {"stg_": "staging", "base_": "staging", "int_": "intermediate"}
_LAYER_OF_PREFIX |= {p: "marts" for p in ("fct_", "fact_", "dim_", "mart_", "rpt_", "agg_")}
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_RAW_PREFIX = re.compile(r"[a-z0-9][a-z0-9_]*_")  # a whole snake_case word or more: `raw_`, `src_shop_`
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_NOISE = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'", re.S)
_WORD = re.compile(r"[A-Za-z_]+")
_KEYWORDS = frozenset(
    "select from where join left inner group order by as with on and or case when then else end union"
    " distinct having limit not null is in coalesce sum count min max".split()
)
_REF_CALL = re.compile(r"\{\{\s*(?:ref|source)\s*\(", re.I)
_IMPORT_CTE = re.compile(r"\bas\s*\(\s*select\s+\*\s+from\s+\{\{\s*(?:ref|source)\s*\(", re.I)
_FACT_OR_DIM = ("dim_", "fct_", "fact_")
_STYLE_KEYS = ("sql_import_ctes", "sql_leading_commas", "sql_keyword_case", "sql_indent")
_ELSEWHERE = " (in another folder)"
_STYLE_SAMPLE = 300
_MODEL_SAMPLE = 1000
_YAML_HEAD = 8_000
_YAML_SAMPLE = 100  # property files read for the YAML dialect: a habit shows in a hundred as in thousands
_TEST_KEY = re.compile(r"^[ \t]*(?:-[ \t]+)?(data_tests|tests)[ \t]*:", re.M)
_VERSION_LINE = re.compile(r"^version[ \t]*:", re.M)
_COLUMNS_KEY = re.compile(r"^[ \t]*(?:-[ \t]+)?columns[ \t]*:", re.M)
_VALUES_KEY = re.compile(r"^[ \t]*(?:-[ \t]+)?values[ \t]*:[ \t]*(\[)?", re.M)  # `[`: a flow list
_DATA_TYPE_KEY = re.compile(r"^[ \t]*(?:-[ \t]+)?data_type[ \t]*:", re.M)


@dataclass(frozen=True)
class _Model:
    name: str
    node: Node
    layer: str
    folder: str  # relative to its model path
    sources: tuple[str, ...]  # names of the sources it reads
    inputs: tuple[str, ...]  # the warehouse names of the raw data it reads: source identifiers, seeds


def infer_conventions(
    manifest: Manifest, project_file: Mapping[str, Any], project_dir: Path | None = None
) -> InferredConventions:
    """Each convention of the project with its evidence; greenfield projects get dbt Labs' guide.

    The YAML dialect is read from the property files' text under `project_dir` (the manifest does not keep
    it); without one it is left at its defaults, with no evidence.
    """
    paths = [p.rstrip("/") + "/" for p in project_file.get("model-paths") or ["models"]]
    nodes = sorted(manifest.root_models(), key=lambda n: n.name)
    if not nodes:
        return default_conventions()
    # Conventions are habits: an evenly spread sample of a thousand models shows them as surely as
    # twenty thousand do, and keeps the context within its one-second budget on huge projects.
    step = max(1, -(-len(nodes) // _MODEL_SAMPLE))
    raw_names = _raw_names(manifest)
    models = [_describe(node, paths, raw_names) for node in nodes[::step]]
    layers = {layer: [m for m in models if m.layer == layer] for layer in LAYERS}
    found = _naming(layers) | _layout(layers, models, manifest, paths)
    found |= _materializations(layers, found, project_file)
    found |= _sql_style(models) | _habits(models, manifest, paths) | _freshness(manifest)
    found |= _semantic_layout(manifest, paths)
    found |= _yaml_dialect(_property_texts(manifest, models, project_dir))
    data = {key: finding.model_dump() for key, finding in found.items()}
    return InferredConventions.model_validate(
        {"origin": "inferred", "models": len(nodes), "sampled": len(models), **data}
    )


def _raw_names(manifest: Manifest) -> dict[str, str]:
    """unique_id → warehouse name of the project's raw data: its sources' identifiers and its seeds."""
    names = {s.unique_id: s.identifier.lower() for s in manifest.root_sources()}
    names.update({n.unique_id: (n.alias or n.name).lower() for n in manifest.root_nodes("seed")})
    return names


def _describe(node: Node, paths: list[str], raw_names: Mapping[str, str]) -> _Model:
    folder = dirname(_in_model_path(node.original_file_path, paths))
    # A source's unique_id is source.<package>.<source name>.<table>.
    sources = tuple(
        uid.split(".")[2] for uid in node.depends_on.nodes if uid.count(".") >= 3 and uid[:7] == "source."
    )
    inputs = tuple(raw_names[uid] for uid in node.depends_on.nodes if uid in raw_names)
    return _Model(node.name, node, _layer(node, folder, sources), folder, sources, inputs)


def _layer(node: Node, folder: str, sources: tuple[str, ...]) -> str:
    for part in folder.lower().split("/"):
        if part in _LAYER_OF_FOLDER:
            return _LAYER_OF_FOLDER[part]
    if (prefix := _prefix(node.name)) in _LAYER_OF_PREFIX:
        return _LAYER_OF_PREFIX[prefix]
    reads_models = any(uid.startswith(("model.", "seed.", "snapshot.")) for uid in node.depends_on.nodes)
    return "staging" if sources and not reads_models else "marts"


def _prefix(name: str) -> str:
    head = name.split("_", 1)[0] + "_"
    return head if head in _LAYER_OF_PREFIX or head in ("src_", "staging_") else ""


def _staging_name(model: _Model) -> tuple[str, str, str]:
    """(prefix, separator, template) of a staging model's name, against the source it reads."""
    prefix, source = _prefix(model.name), _source(model)
    rest = model.name[len(prefix) :]
    separator = next((s for s in ("__", "_") if source and rest.startswith(f"{source}{s}")), "")
    return prefix, separator, f"{prefix}{{source}}{separator}{{table}}" if separator else f"{prefix}{{table}}"


def _source(model: _Model) -> str:
    """The name of the first source a model reads; empty for a model over seeds."""
    return model.sources[0] if model.sources else ""


def _stripped_prefix(model: _Model) -> str | None:
    """What a staging model drops from the front of its raw table's name (`raw_customers` → `stg_customers`: `raw_`).

    None when it cannot tell: several inputs, or a name that is no suffix of the raw table's.
    """
    if len(set(model.inputs)) != 1:
        return None
    prefix, separator, _ = _staging_name(model)
    source = _source(model)
    table = model.name[len(prefix) + (len(source) + len(separator) if separator else 0) :]
    raw = model.inputs[0]
    if not table or not raw.endswith(table):
        return None
    dropped = raw[: -len(table)]
    return dropped if not dropped or _RAW_PREFIX.fullmatch(dropped) else None


def _naming(layers: dict[str, list[_Model]]) -> dict[str, Finding[Any]]:
    default = Conventions()
    staging = [m for m in layers["staging"] if m.sources or m.inputs]
    staged = [(m.name, _staging_name(m)) for m in staging]
    stripped = [(p, m.name) for m in staging if (p := _stripped_prefix(m)) is not None]
    intermediate = tally(((_prefix(m.name), m.name) for m in layers["intermediate"]), "int_")
    kinds = (
        ("dim_/fct_" if _prefix(m.name) in _FACT_OR_DIM else _prefix(m.name), m.name) for m in layers["marts"]
    )
    marts = tally(kinds, "dim_/fct_")
    split = marts.value == "dim_/fct_"
    return {
        "staging_prefix": tally(((p, name) for name, (p, _, _) in staged), "stg_"),
        "source_separator": tally(((s, name) for name, (_, s, _) in staged), "__"),
        "staging_model": tally(((t, name) for name, (_, _, t) in staged), default.staging_model),
        "strip_prefix": tally(stripped, default.strip_prefix),
        "intermediate_prefix": intermediate,
        "intermediate_model": _with(
            intermediate, default.intermediate_model.replace("int_", intermediate.value)
        ),
        "marts_prefix": marts,
        "dimension_model": _with(marts, "dim_{table}" if split else f"{marts.value}{{table}}"),
        "fact_model": _with(marts, "fct_{table}" if split else f"{marts.value}{{table}}"),
    }


def _with(finding: Finding[Any], value: Any) -> Finding[Any]:
    return finding.model_copy(update={"value": value})


def _layout(
    layers: dict[str, list[_Model]], models: list[_Model], manifest: Manifest, paths: list[str]
) -> dict[str, Finding[Any]]:
    default = Conventions()
    project_wide = tally(
        ((_properties_name(m, paths, "folder"), m.name) for m in models if m.node.patch_file), ""
    )
    staged = [m for m in layers["staging"] if m.sources or m.inputs]
    found: dict[str, Finding[Any]] = {"properties_file": project_wide}
    found["staging_dir"] = tally(
        ((_generalise(m.folder, _source(m)), m.name) for m in staged), default.staging_dir
    )
    for layer in ("intermediate", "marts"):
        found[f"{layer}_dir"] = _covering_folder(
            [m.folder for m in layers[layer]], getattr(default, f"{layer}_dir")
        )
    for layer, members in layers.items():
        documented = [(_properties_name(m, paths, "source"), m.name) for m in members if m.node.patch_file]
        chosen = tally(documented, "") if documented else _borrow(project_wide, layer)
        key = f"{layer}_properties_file"
        found[key] = _in_folder(chosen, layer, found[f"{layer}_dir"].value, getattr(default, key))
    files = {(s.source_name, _in_model_path(s.original_file_path, paths)) for s in manifest.root_sources()}
    by_name = sorted((_generalise(p.rsplit("/", 1)[-1], n), _generalise(dirname(p), n), n) for n, p in files)
    found["sources_file"] = tally(((file, n) for file, _, n in by_name), default.sources_file)
    found["sources_dir"] = tally(((folder, n) for _, folder, n in by_name), default.sources_dir)
    return found


def _borrow(project_wide: Finding[str], layer: str) -> Finding[str]:
    """A layer with no documented models follows the project's other YAML files, at half the confidence."""
    evidence = project_wide.evidence.model_copy(update={"basis": f"no {layer} YAML: {BORROWED}"})
    return project_wide.model_copy(
        update={"confidence": round(project_wide.confidence / 2, 2), "evidence": evidence}
    )


def _in_folder(found: Finding[str], layer: str, layer_dir: str, default: str) -> Finding[str]:
    """A properties-file template made concrete for the layer's folder (`_{folder}__models.yml` → `_marts__…`)."""
    if not found.value or found.value.endswith(_ELSEWHERE):
        # A YAML file outside the model's own folder has no name the planner could reuse there.
        return tally((), default)
    last = layer_dir.rsplit("/", 1)[-1]
    if last == "{source}":
        return _with(found, found.value.replace("{folder}", "{source}"))
    value = found.value.replace("{folder}", last)
    return _with(found, value if layer == "staging" else value.replace("{source}", last))


def _in_model_path(path: str, paths: list[str]) -> str:
    return path[len(next((p for p in paths if path.startswith(p)), "")) :]


def _replace_name(text: str, name: str, placeholder: str) -> str:
    if not name or name not in text:
        return text
    return re.sub(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", placeholder, text)


def _generalise(text: str, source: str) -> str:
    """A folder or file name with the source name replaced by `{source}`."""
    return "/".join(_replace_name(part, source, "{source}") for part in text.split("/"))


def _properties_name(model: _Model, paths: list[str], first: Literal["source", "folder"]) -> str:
    """A model's properties YAML file name, with its model, source or folder name as a placeholder."""
    path = _in_model_path(model.node.patch_file or "", paths)
    name = path.rsplit("/", 1)[-1].replace(model.name, "{model}")
    source = _source(model) if model.layer == "staging" else ""
    order = [(source, "{source}"), (model.folder.rsplit("/", 1)[-1], "{folder}")]
    for text, placeholder in order if first == "source" else order[::-1]:
        if "{" not in name.replace("{model}", ""):
            name = _replace_name(name, text, placeholder)
    return name if dirname(path) == model.folder else name + _ELSEWHERE


def _covering_folder(folders: list[str], default: str) -> Finding[str]:
    """The deepest folder holding a strict majority of a layer's models (`marts` over `marts/a`, `marts/b`)."""
    if not folders:
        return tally((), default)
    under: Counter[str] = Counter()
    for folder in folders:
        parts = folder.split("/")
        under.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    majority = [f for f, n in under.items() if n * 2 > len(folders)]
    chosen = (
        max(majority, key=lambda f: (f.count("/"), f)) if majority else Counter(folders).most_common(1)[0][0]
    )
    examples = sorted({f for f in folders if f == chosen or f.startswith(chosen + "/")})[:3]
    evidence = Evidence(agree=under[chosen], total=len(folders), examples=examples)
    return Finding(value=chosen, confidence=confidence(under[chosen], len(folders)), evidence=evidence)


def _materializations(
    layers: dict[str, list[_Model]], found: dict[str, Finding[Any]], project_file: Mapping[str, Any]
) -> dict[str, Finding[Any]]:
    result: dict[str, Finding[Any]] = {}
    for layer, models in layers.items():
        key = f"{layer}_materialized"
        observed = tally(
            ((m.node.materialized or "view", m.name) for m in models), getattr(Conventions(), key)
        )
        configured = configured_materialization(project_file, found[f"{layer}_dir"].value.split("/{", 1)[0])
        if configured:
            # dbt_project.yml states the intent; the models show how far it holds.
            agree = sum(1 for m in models if m.node.materialized == configured)
            examples = sorted(m.name for m in models if m.node.materialized == configured)[:3]
            evidence = Evidence(agree=agree, total=len(models), examples=examples, basis=PROJECT_FILE)
            share = round(agree / len(models), 2) if models else 1.0
            observed = Finding(value=configured, confidence=share, evidence=evidence)
        result[key] = observed
    return result


def configured_materialization(project_file: Mapping[str, Any], folder: str) -> str | None:
    """The materialization dbt_project.yml sets for models under `folder` (e.g. `staging/shop`), if any."""
    models = project_file.get("models") or {}
    found = _materialized(models)  # `+materialized` right under `models:` applies to every package
    tree = models.get(project_file.get("name")) or {}
    found = _materialized(tree) or found
    for part in [p for p in folder.split("/") if p]:
        tree = tree.get(part) if isinstance(tree, dict) else None
        if not isinstance(tree, dict):
            break
        found = _materialized(tree) or found
    return found


def _materialized(config: Mapping[str, Any]) -> str | None:
    value = config.get("+materialized", config.get("materialized"))
    return value if isinstance(value, str) else None


def _sql_style(models: list[_Model]) -> dict[str, Finding[Any]]:
    sql = [m for m in models if m.node.language == "sql"]
    # Style is a house habit: an evenly spread sample of a few hundred models shows it as well as all
    # of them, and reading thousands of SQL files would dominate the context's time budget.
    step = max(1, len(sql) // _STYLE_SAMPLE)
    styles = [(m.name, _style_of(m.node.raw_code)) for m in sql[::step]]
    defaults = Conventions()
    return {
        key: tally(
            ((style[i], name) for name, style in styles if style[i] is not None), getattr(defaults, key)
        )
        for i, key in enumerate(_STYLE_KEYS)
    }


def _style_of(code: str) -> tuple[bool | None, bool | None, str | None, int | None]:
    """(import CTEs, leading commas, keyword case, indent width) of one model, None where it cannot tell."""
    calls = len(_REF_CALL.findall(code))
    # A Jinja comment between `as (` and `select * from` (jaffle_shop's staging models) still is an import CTE.
    import_ctes = len(_IMPORT_CTE.findall(_JINJA_COMMENT.sub("", code))) == calls if calls else None
    plain = _NOISE.sub("''", _JINJA.sub("j", code))
    lines = [line for line in plain.splitlines() if line.strip()]
    leading = sum(1 for line in lines if line.strip().startswith(","))
    trailing = sum(1 for line in lines if line.rstrip().endswith(","))
    words = [w for w in _WORD.findall(plain) if w.lower() in _KEYWORDS]
    upper, lower = sum(1 for w in words if w.isupper()), sum(1 for w in words if w.islower())
    widths = [len(line) - len(line.lstrip(" ")) for line in lines if line.startswith(" ")]
    unit = math.gcd(*widths) if widths else 0
    return (
        import_ctes,
        leading > trailing if leading != trailing else None,
        ("upper" if upper > lower else "lower") if upper != lower else None,
        unit if unit in (2, 3, 4, 8) else None,
    )


def _habits(models: list[_Model], manifest: Manifest, paths: list[str]) -> dict[str, Finding[Any]]:
    tests = manifest.tests_by_model()
    keys: dict[str, set[str]] = {}
    linked: set[str] = set()
    # (tested with accepted_values, model.column) per category column; (points at a mart, model.column) per
    # relationships test of a mart.
    categories: list[tuple[bool, str]] = []
    mart_links: list[tuple[bool, str]] = []
    for model in models:
        by_column: dict[str, set[str]] = {}
        for test in tests.get(model.node.unique_id, []):
            name = (test.test_name or "").rsplit(".", 1)[-1]
            if name == "relationships":
                linked.add(model.name)
                if model.layer == "marts":
                    mart_links.append(
                        (_points_at_mart(test, manifest, paths), f"{model.name}.{test.column_name}")
                    )
            if name == "unique_combination_of_columns":
                by_column["(columns)"] = {"unique", "not_null"}
            elif test.column_name:
                by_column.setdefault(test.column_name, set()).add(name)
        keys[model.name] = {c for c, names in by_column.items() if {"unique", "not_null"} <= names}
        named = {c for c in [*model.node.columns, *by_column] if names_a_category(c)}
        valued = {c for c, names in by_column.items() if "accepted_values" in names}
        categories += [(c in valued, f"{model.name}.{c}") for c in sorted(named | valued)]
    # Only models with a documented `_id` column besides their key could have had a relationships test.
    candidates = [
        m for m in models if any(c.endswith("_id") and c not in keys[m.name] for c in m.node.columns)
    ]
    columns = [
        (bool(c.description.strip()), f"{m.name}.{c.name}") for m in models for c in m.node.columns.values()
    ]
    return {
        "test_primary_keys": tally(((bool(keys[m.name]), m.name) for m in models), True),
        "test_relationships": tally(((m.name in linked, m.name) for m in candidates), True),
        "describe_models": tally(((bool(m.node.description.strip()), m.name) for m in models), True),
        "describe_columns": tally(columns, True),
        "test_mart_relationships": tally(mart_links, False),
        "test_accepted_values": tally(categories, False),
    }


def _points_at_mart(test: Node, manifest: Manifest, paths: list[str]) -> bool:
    """Whether a relationships test's `to` is a mart: the model it reads besides the one it is attached to."""
    targets = [uid for uid in test.depends_on.nodes if uid != test.attached_node]
    node = manifest.nodes.get(targets[0]) if len(targets) == 1 else None
    return node is not None and node.resource_type == "model" and _describe(node, paths, {}).layer == "marts"


def _property_texts(
    manifest: Manifest, models: list[_Model], project_dir: Path | None
) -> list[tuple[str, str]]:
    """(path, text) of an even sample of the project's property files: the sampled models' and the sources'."""
    if project_dir is None:
        return []
    paths = sorted(
        {m.node.patch_file for m in models if m.node.patch_file}
        | {s.original_file_path for s in manifest.root_sources() if s.original_file_path}
    )
    step = max(1, -(-len(paths) // _YAML_SAMPLE))
    texts = []
    for path in paths[::step]:
        try:
            # A habit shows in a file's head: a long file is read no further than its first 8,000 characters.
            with (project_dir / path).open(encoding="utf-8") as file:
                texts.append((path, file.read(_YAML_HEAD)))
        except (OSError, UnicodeDecodeError):
            continue  # a file dbt parsed but that is gone or unreadable now is no evidence either way
    return texts


def _yaml_dialect(texts: list[tuple[str, str]]) -> dict[str, Finding[Any]]:
    """The dialect the project's property files are written in: tests key, `version: 2`, `data_type`, indents."""
    default = Conventions()
    keys, headers, typed, indents, mappings, flows = [], [], [], [], [], []
    for path, text in texts:
        used = set(_TEST_KEY.findall(text))
        if len(used) == 1:
            keys.append((used.pop(), path))
        headers.append((bool(_VERSION_LINE.search(text)), path))
        if _COLUMNS_KEY.search(text):
            typed.append((bool(_DATA_TYPE_KEY.search(text)), path))
        flows += [(bool(bracket), path) for bracket in _VALUES_KEY.findall(text)]
        if (mapping := mapping_indent(text)) is not None:
            mappings.append((mapping, path))
        if (lists := list_indents(text)) is not None:
            indents.append((lists, path))
    indent = tally(indents, (default.yaml_sequence_indent, default.yaml_sequence_offset))
    found: dict[str, Finding[Any]] = {
        "yaml_test_key": tally(keys, default.yaml_test_key),
        "yaml_version_header": tally(headers, default.yaml_version_header),
        "yaml_column_types": tally(typed, default.yaml_column_types),
        "yaml_sequence_indent": _with(indent, indent.value[0]),
        "yaml_sequence_offset": _with(indent, indent.value[1]),
        "yaml_mapping_indent": tally(mappings, default.yaml_mapping_indent),
        "yaml_flow_values": tally(flows, default.yaml_flow_values),
    }
    return {key: _read_from_files(finding) for key, finding in found.items()}


def _read_from_files(finding: Finding[Any]) -> Finding[Any]:
    if not finding.evidence.total:
        return finding  # no property files read: the default, saying so
    return finding.model_copy(
        update={"evidence": finding.evidence.model_copy(update={"basis": PROPERTY_FILES})}
    )


def _freshness(manifest: Manifest) -> dict[str, Finding[Any]]:
    """The thresholds the project's source tables check freshness with, the most common first.

    Only tables that check freshness are evidence: a table without is most often one with no loader timestamp,
    not a vote against checking the others.
    """
    observed = []
    for table in manifest.root_sources():
        thresholds = freshness_of(table.freshness)
        if thresholds is not None:
            observed.append((thresholds, f"{table.source_name}.{table.name}"))
    return {"source_freshness": tally(observed, DEFAULT_FRESHNESS)}


def freshness_of(block: Mapping[str, Any] | None) -> SourceFreshness | None:
    """A manifest's freshness block as thresholds; None when it sets none (dbt writes null counts then)."""
    if not isinstance(block, Mapping):
        return None
    kept = {
        key: {"count": value.get("count"), "period": value.get("period")}
        for key in ("warn_after", "error_after")
        if isinstance(value := block.get(key), Mapping) and value.get("count") and value.get("period")
    }
    try:
        return SourceFreshness.model_validate(kept) if kept else None
    except ValidationError:
        return None  # a block dbt accepted but cartridge would not write (a huge count): no evidence


def _semantic_layout(manifest: Manifest, paths: list[str]) -> dict[str, Finding[str]]:
    """Where the project writes its semantic models, and their metrics, as file templates (see Conventions).

    A semantic model in its mart's properties file (a metric in its semantic model's file) is evidence for
    the default, empty template; any other file is generalised three ways, and the way most of them agree
    on wins, the plainest on a tie: one shared file, one file per model named after it, or one in each
    mart's folder.
    """
    nodes = manifest.nodes
    models = {m.name: m for m in manifest.root_semantic_models()}
    placed: dict[str, tuple[str, Node | None, str | None]] = {}  # semantic model → file, mart, mart's file
    for model in models.values():
        mart = next((nodes[uid] for uid in model.depends_on.nodes if uid in nodes), None)
        placed[model.name] = (model.original_file_path, mart, mart.patch_file if mart else None)
    model_files = [(model, path, beside, model) for model, (path, _, beside) in placed.items()]
    metric_files = []
    for metric in manifest.root_metrics():
        owner = next(
            (uid.rsplit(".", 1)[-1] for uid in metric.depends_on.nodes if uid[:15] == "semantic_model."), None
        )
        if owner in placed:
            metric_files.append((owner, metric.original_file_path, placed[owner][0], metric.name))
    return {
        "semantic_models_file": _file_convention(model_files, placed, paths),
        "metrics_file": _file_convention(metric_files, placed, paths),
    }


def _file_convention(
    files: Sequence[tuple[str, str, str | None, str]],
    placed: Mapping[str, tuple[str, Node | None, str | None]],
    paths: list[str],
) -> Finding[str]:
    """The template most (semantic model, file, default file, example) observations fit; "" for the default file."""
    ways: list[list[tuple[str, str]]] = [[], [], []]
    for model, path, default_file, example in files:
        if path == default_file:
            for way in ways:
                way.append(("", example))
            continue
        mart = placed[model][1]
        mart_name = mart.name if mart else ""
        folder = dirname(_in_model_path(mart.original_file_path, paths)) if mart else ""
        relative = _in_model_path(path, paths)
        name = relative.rsplit("/", 1)[-1]
        for text, placeholder in ((mart_name, "{model}"), (model, "{semantic_model}")):
            if "{" not in name:
                name = _replace_name(name, text, placeholder)
        named = f"{dirname(relative)}/{name}" if dirname(relative) else name
        in_folder = named
        if folder and (named.startswith(folder + "/")):
            in_folder = "{folder}" + named[len(folder) :]
        for way, value in zip(ways, (relative, named, in_folder), strict=True):
            way.append((value, example))
    found = [tally(way, "") for way in ways]
    return max(found, key=lambda f: f.evidence.agree)  # the first of equals: the plainest
