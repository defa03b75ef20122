"""The cartridge entry in the project's packages.yml (or dependencies.yml), the user's entries and comments kept."""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from cartridge_bridge.errors import UsageError
from cartridge_bridge.files.yaml_merge import dump_yaml, load_yaml

PACKAGE_NAME = "cartridge"
LOCK_FILE = "package-lock.yml"
# Where older cartridge versions pointed `local:`: the copy inside the installed wheel.
WHEEL_PACKAGE = ("cartridge_bridge", "dbt_package")
# The keys that say where a dbt package comes from (dbt's packages.yml syntax).
SOURCE_KEYS = ("local", "git", "private", "revision", "subdirectory", "package", "version", "tarball", "name")


def packages_file(project_dir: Path) -> Path:
    """The file dbt reads the project's packages from: packages.yml, or dependencies.yml when only it exists."""
    packages = project_dir / "packages.yml"
    dependencies = project_dir / "dependencies.yml"
    return dependencies if dependencies.is_file() and not packages.is_file() else packages


def packages_yml_with_cartridge(
    existing: str | None, entry: dict[str, str], project_dir: Path, file_name: str = "packages.yml"
) -> str:
    """The packages file's text listing cartridge as `entry`, every other entry, comment and byte kept."""
    document = load_yaml(existing, file_name) if existing else CommentedMap()
    packages = document.get("packages")
    if packages is None:
        packages = CommentedSeq()
        document["packages"] = packages
    if not isinstance(packages, list):
        raise UsageError(f"{project_dir / file_name}: `packages` should be a list of packages")
    locked = _locked_cartridge_sources(project_dir)
    for position, item in enumerate(packages):
        if isinstance(item, dict) and _names_cartridge(item, entry, project_dir, locked):
            if not _replace_in_place(packages, position, entry):
                return existing or dump_yaml(document)
            break
    else:
        packages.append(CommentedMap(entry))
    return dump_yaml(document, like=existing)


def _names_cartridge(
    item: dict[str, Any], entry: dict[str, str], project_dir: Path, locked: set[str]
) -> bool:
    """True when a packages entry installs cartridge: the entry itself, a cartridge folder, or a locked source."""
    local, git = item.get("local"), item.get("git")
    if local is not None:
        local = str(local)
        if local == entry.get("local") or local in locked:
            return True
        # What older versions wrote: an absolute path into a wheel that may be gone from this machine.
        if PurePath(local).parts[-2:] == WHEEL_PACKAGE:
            return True
        # dbt reads a relative `local:` from the project folder, so resolve it from there too.
        return _is_cartridge(project_dir / local)
    if git is not None:
        url = _plain_url(str(git))
        if str(git) in locked or url == _plain_url(entry.get("git", "")):
            return True
        # A repository (or its subdirectory) named cartridge: dbt learns a git package's name only by cloning it.
        folder = str(item.get("subdirectory") or url).rstrip("/")
        return folder.rsplit("/", 1)[-1].rsplit(":", 1)[-1] == PACKAGE_NAME
    return False


def _plain_url(url: str) -> str:
    return url.strip().rstrip("/").removesuffix(".git").rstrip("/")


def _replace_in_place(packages: list[Any], position: int, entry: dict[str, str]) -> bool:
    """Point the entry at `position` to the new source, keeping its comments; False when it already is."""
    item = packages[position]
    if not isinstance(item, CommentedMap):
        item = packages[position] = CommentedMap(item)
    stale = [key for key in item if key in SOURCE_KEYS and key not in entry]
    if not stale and all(str(item.get(key)) == value for key, value in entry.items()):
        return False
    if not stale:
        for key, value in entry.items():
            _set_keeping_comment(item, key, value)
        return True
    # Another kind of source (local ↔ git): a new mapping in the same place, with the old one's comments
    # and keys that are not about the source (none today, but dbt may add some).
    replacement = CommentedMap(entry)
    for key, value in item.items():
        if key not in SOURCE_KEYS and key not in entry:
            replacement[key] = value
    last = list(item)[-1]
    comment = item.ca.items.get(last)
    if comment is not None and comment[2] is not None:
        comment[2].column = 0  # right after the new value, not where the old, longer one ended
        replacement.ca.items[list(replacement)[-1]] = comment
    packages[position] = replacement
    return True


def _set_keeping_comment(item: CommentedMap, key: str, value: str) -> None:
    """Set one value; an end-of-line comment keeps its distance from the value instead of its column."""
    old = item.get(key)
    comment = item.ca.items.get(key)
    if old is not None and comment is not None and comment[2] is not None:
        comment[2].column = max(0, comment[2].column + len(value) - len(str(old)))
    item[key] = value


def _is_cartridge(path: Path) -> bool:
    """True when `path` holds a dbt project named `cartridge`."""
    data = _read_safe(path / "dbt_project.yml")
    return isinstance(data, dict) and data.get("name") == PACKAGE_NAME


def _locked_cartridge_sources(project_dir: Path) -> set[str]:
    """The `local:` and `git:` sources that package-lock.yml says installed cartridge."""
    data = _read_safe(project_dir / LOCK_FILE)
    entries = data.get("packages") if isinstance(data, dict) else None
    return {
        str(entry.get("local") or entry.get("git"))
        for entry in entries or []
        if isinstance(entry, dict)
        and entry.get("name") == PACKAGE_NAME
        and (entry.get("local") or entry.get("git"))
    }


def _read_safe(path: Path) -> Any:
    try:
        return YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError, UnicodeDecodeError):
        return None
