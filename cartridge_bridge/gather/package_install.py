"""Locate the cartridge dbt package and install it into a host project (`cartridge init`)."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from cartridge_bridge.errors import ProjectError, UsageError
from cartridge_bridge.write.yaml_merge import dump_yaml, load_yaml

PACKAGE_NAME = "cartridge"


def package_dir() -> Path:
    """The folder holding the package's dbt_project.yml: inside the wheel, or the source checkout."""
    # The wheel carries the package in cartridge_bridge/dbt_package (pyproject.toml force-include).
    bundled = Path(__file__).resolve().parent.parent / "dbt_package"
    if (bundled / "dbt_project.yml").is_file():
        return bundled
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "dbt_project.yml").is_file() and (checkout / "macros").is_dir():
        return checkout
    raise ProjectError("the cartridge dbt package is missing from this installation; reinstall cartridge")


def packages_yml_with_cartridge(existing: str | None, location: Path, project_dir: Path) -> str:
    """packages.yml text that lists the cartridge package at `location`, keeping every other entry."""
    document = load_yaml(existing, "packages.yml") if existing else CommentedMap()
    packages = document.get("packages")
    if packages is None:
        packages = CommentedSeq()
        document["packages"] = packages
    if not isinstance(packages, list):
        raise UsageError(f"{project_dir / 'packages.yml'}: `packages` should be a list of packages")
    for item in packages:
        local = item.get("local") if isinstance(item, dict) else None
        if local is None:
            continue
        if str(local) == str(location):
            return existing or dump_yaml(document)
        # dbt reads a relative `local:` from the project folder, so resolve it from there too.
        if _is_cartridge(project_dir / str(local)):
            item["local"] = str(location)  # in place: the entry keeps its comments and position
            break
    else:
        packages.append({"local": str(location)})
    return dump_yaml(document, like=existing)


def _is_cartridge(path: Path) -> bool:
    """True when `path` holds a dbt project named `cartridge`."""
    try:
        data = YAML(typ="safe").load((path / "dbt_project.yml").read_text(encoding="utf-8"))
    except (OSError, YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("name") == PACKAGE_NAME
