"""Read dbt's target/manifest.json into slim typed records, decoding only the fields cartridge uses."""

from __future__ import annotations

import gc
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec

from cartridge_bridge.errors import ProjectError

# Manifest schema versions written by dbt 1.6 (v10) to 1.11 (v12).
SUPPORTED_SCHEMA_VERSIONS = (10, 11, 12)
_VERSION_IN_URL = re.compile(r"/manifest/v(\d+)\.json$")
_BUILT_NODES = ("model", "seed", "snapshot")

# gc=False everywhere: a manifest's records hold no reference cycles, and leaving tens of thousands of
# them out of the cyclic garbage collector saves memory and the collector's pauses while decoding.


class Metadata(msgspec.Struct, kw_only=True, gc=False):
    """The manifest header fields cartridge needs."""

    dbt_schema_version: str = ""
    dbt_version: str = ""
    project_name: str | None = None
    adapter_type: str | None = None


class DependsOn(msgspec.Struct, kw_only=True, gc=False):
    """The nodes and macros a node depends on."""

    nodes: list[str] = []


class Column(msgspec.Struct, kw_only=True, gc=False):
    """A documented column of a node or source."""

    name: str
    description: str = ""
    data_type: str | None = None
    # Tuples: an empty one is shared, where an empty list per column of a 20,000-node manifest costs ~30 MB.
    constraints: tuple[dict[str, Any], ...] = ()  # dbt's column constraints: `{type: primary_key}`, …
    doc_blocks: tuple[
        str, ...
    ] = ()  # dbt ≥1.9: the doc blocks the description references (`doc.<pkg>.<name>`)


class Node(msgspec.Struct, kw_only=True, gc=False):
    """A model, seed, snapshot, analysis or data test of the manifest."""

    unique_id: str
    resource_type: str
    name: str
    package_name: str
    original_file_path: str = ""
    patch_path: str | None = None
    database: str | None = None
    schema_: str | None = msgspec.field(default=None, name="schema")
    alias: str | None = None
    fqn: list[str] = []
    description: str = ""
    columns: dict[str, Column] = {}
    config: dict[str, Any] = {}
    depends_on: DependsOn = msgspec.field(default_factory=DependsOn)
    raw_code: str = ""
    compiled_code: str | None = None  # only in a manifest dbt compiled the node for (build, compile)
    language: str = "sql"
    constraints: tuple[dict[str, Any], ...] = ()  # model-level: `{type: primary_key, columns: [...]}`
    column_name: str | None = None
    attached_node: str | None = None
    test_metadata: dict[str, Any] | None = None
    time_spine: dict[str, Any] | None = None  # dbt ≥1.9: the model is the semantic layer's time spine

    @property
    def materialized(self) -> str | None:
        """The materialization dbt resolved for the node (dbt_project.yml, YAML and config() together)."""
        value = self.config.get("materialized")
        return value if isinstance(value, str) else None

    @property
    def tags(self) -> list[str]:
        """The node's tags; dbt accepts one tag written as a plain string."""
        value = self.config.get("tags") or []
        return [value] if isinstance(value, str) else list(value)

    @property
    def test_name(self) -> str | None:
        """For a generic data test, the test's name (`unique`, `relationships`, `dbt_utils.…`)."""
        if not self.test_metadata:
            return None
        name, namespace = self.test_metadata.get("name"), self.test_metadata.get("namespace")
        if not isinstance(name, str):
            return None
        return f"{namespace}.{name}" if namespace else name

    @property
    def patch_file(self) -> str | None:
        """The properties YAML that documents the node, relative to the project (`models/_x__models.yml`)."""
        if not self.patch_path:
            return None
        return self.patch_path.split("://", 1)[-1]


class SourceTable(msgspec.Struct, kw_only=True, gc=False):
    """A table declared in a sources YAML file."""

    unique_id: str
    name: str
    source_name: str
    package_name: str
    identifier: str
    original_file_path: str = ""
    database: str | None = None
    schema_: str = msgspec.field(default="", name="schema")
    description: str = ""
    columns: dict[str, Column] = {}
    # dbt resolves the source's and the table's freshness into this one block (thresholds with null counts
    # when there is none); kept as data, read by the convention rules.
    freshness: dict[str, Any] | None = None
    loaded_at_field: str | None = None


class DocBlock(msgspec.Struct, kw_only=True, gc=False):
    """A `{% docs %}` block: its name and text."""

    unique_id: str
    name: str
    package_name: str
    original_file_path: str = ""
    block_contents: str = ""  # the block's text: how a description rendered from it is recognised


class Macro(msgspec.Struct, kw_only=True, gc=False):
    """A macro, reduced to whose it is; its SQL is skipped."""

    name: str = ""
    package_name: str = ""


class Named(msgspec.Struct, kw_only=True, gc=False):
    """A measure of a semantic model: its name is all cartridge reads."""

    name: str


class SemanticEntity(msgspec.Struct, kw_only=True, gc=False):
    """An entity of a semantic model: its name and whether it is the model's primary one."""

    name: str
    type: str = ""


class SemanticModel(msgspec.Struct, kw_only=True, gc=False):
    """A semantic model (or metric) of the manifest, reduced to its names and where it is written."""

    name: str
    package_name: str = ""
    measures: list[Named] = []
    entities: list[SemanticEntity] = []
    primary_entity: str | None = None
    # The YAML file declaring it, relative to the project: where the project keeps its semantic layer.
    original_file_path: str = ""
    # A semantic model's mart (`model.…`); a metric's semantic models (`semantic_model.…`) and metrics.
    depends_on: DependsOn = msgspec.field(default_factory=DependsOn)


class Manifest(msgspec.Struct, kw_only=True):
    """The parts of a dbt manifest cartridge reads."""

    metadata: Metadata
    nodes: dict[str, Node] = {}
    sources: dict[str, SourceTable] = {}
    docs: dict[str, DocBlock] = {}
    # Slim records rather than msgspec.Raw: a Raw is a view into the file's bytes and would keep all of
    # them (the size of the manifest) alive for as long as the manifest is.
    macros: dict[str, Macro] = {}
    semantic_models: dict[str, SemanticModel] = {}
    metrics: dict[str, SemanticModel] = {}

    def semantic_names(self) -> dict[str, set[str]]:
        """The names the semantic layer already uses, whatever package declares them: models, measures, metrics."""
        models = self.semantic_models.values()
        return {
            "semantic model": {m.name for m in models},
            "measure": {x.name for m in models for x in m.measures},
            "metric": {m.name for m in self.metrics.values()},
            # A second model with the same primary entity clashes on every dimension name the two share.
            "primary entity": {e.name for m in models for e in m.entities if e.type == "primary"}
            | {m.primary_entity for m in models if m.primary_entity},
        }

    def root_semantic_models(self) -> list[SemanticModel]:
        """The semantic models the project itself declares, not its packages'."""
        project = self.metadata.project_name
        return [m for m in self.semantic_models.values() if m.package_name == project]

    def root_metrics(self) -> list[SemanticModel]:
        """The metrics the project itself declares, not its packages'."""
        project = self.metadata.project_name
        return [m for m in self.metrics.values() if m.package_name == project]

    def time_spine(self) -> str | None:
        """The model MetricFlow takes for its time spine: one configured as such, or the legacy `metricflow_time_spine`."""
        models = [n for n in self.nodes.values() if n.resource_type == "model"]
        configured = next((n.name for n in models if n.time_spine), None)
        legacy = next((n.name for n in models if n.name == "metricflow_time_spine"), None)
        return configured or legacy

    def root_nodes(self, resource_type: str) -> list[Node]:
        """The project's own nodes of one type (`model`, `seed`, `snapshot`, `test`…), not its packages'."""
        project = self.metadata.project_name
        return [
            n for n in self.nodes.values() if n.resource_type == resource_type and n.package_name == project
        ]

    def root_models(self) -> list[Node]:
        """The models of the project itself, not of its installed packages."""
        return self.root_nodes("model")

    def root_sources(self) -> list[SourceTable]:
        """The source tables declared by the project itself."""
        project = self.metadata.project_name
        return [s for s in self.sources.values() if s.package_name == project]

    def root_docs(self) -> list[DocBlock]:
        """The docs blocks the project itself defines."""
        project = self.metadata.project_name
        return [d for d in self.docs.values() if d.package_name == project]

    def has_macro(self, package: str, name: str) -> bool:
        """True when a package's macro is part of the project (e.g. the cartridge package is installed)."""
        return f"macro.{package}.{name}" in self.macros

    def node_names(self) -> set[str]:
        """Names of every model, seed and snapshot, whatever package declares them."""
        return {n.name for n in self.nodes.values() if n.resource_type in _BUILT_NODES}

    def tests_by_model(self) -> dict[str, list[Node]]:
        """Data tests keyed by the unique_id of the node or source each one tests."""
        found: dict[str, list[Node]] = defaultdict(list)
        for node in self.nodes.values():
            if node.resource_type != "test":
                continue
            # A generic test names the node it is defined on; a singular test only lists what it reads.
            targets = [node.attached_node] if node.attached_node else node.depends_on.nodes
            for target in targets:
                found[target].append(node)
        return dict(found)


def schema_version(manifest: Manifest) -> int | None:
    """The manifest schema number (12 for dbt 1.8–1.11), read from its schema URL."""
    return _version_number(manifest.metadata)


class _Header(msgspec.Struct, kw_only=True, gc=False):
    """Just the metadata: enough to name the version of a manifest that does not decode."""

    metadata: Metadata


def read_manifest(path: Path) -> Manifest:
    """Decode a manifest file, with a clear message when it is missing, corrupt or unsupported."""
    if not path.is_file():
        raise ProjectError(f"no dbt manifest at {path}; run `dbt parse` in the project first")
    data = path.read_bytes()
    try:
        manifest = _decode_without_gc(data)
    except msgspec.DecodeError as error:
        # Another schema version may have another shape; name the version rather than call it corrupt.
        header = _header(data)
        if header is not None and _version_number(header) is not None:
            _check_version(path, header)
        raise ProjectError(f"the dbt manifest {path} is corrupt ({error}); run `dbt parse` again") from None
    _check_version(path, manifest.metadata)
    return manifest


def _decode_without_gc(data: bytes) -> Manifest:
    # Decoding allocates hundreds of thousands of dicts and lists, none of them garbage; left on, the
    # collector keeps rescanning them and nearly doubles the decode time of a large manifest.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return msgspec.json.decode(data, type=Manifest)
    finally:
        if was_enabled:
            gc.enable()


def _header(data: bytes) -> Metadata | None:
    try:
        return msgspec.json.decode(data, type=_Header).metadata
    except msgspec.DecodeError:
        return None


def _version_number(metadata: Metadata) -> int | None:
    match = _VERSION_IN_URL.search(metadata.dbt_schema_version)
    return int(match.group(1)) if match else None


def _check_version(path: Path, metadata: Metadata) -> None:
    version = _version_number(metadata)
    if version in SUPPORTED_SCHEMA_VERSIONS:
        return
    if version is None:
        advice = "run `dbt parse` with dbt 1.6–1.11 to write one"
    elif version < SUPPORTED_SCHEMA_VERSIONS[0]:
        advice = "upgrade the project to dbt 1.6 or newer and run `dbt parse` again"
    else:
        advice = "this cartridge is older than that manifest; run `dbt parse` with dbt 1.6–1.11 or upgrade cartridge"
    raise ProjectError(
        f"the dbt manifest {path} has schema version {version or 'unknown'} "
        f"(dbt {metadata.dbt_version or '?'}); cartridge reads v10–v12 from dbt 1.6–1.11: {advice}"
    )
