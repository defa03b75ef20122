"""The cartridge dbt package for a host project (`cartridge init`): where it is, and its vendored copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.version import InvalidVersion, Version
from pydantic import ValidationError
from ruamel.yaml import YAML, YAMLError

from cartridge_bridge.config import PackageInstall
from cartridge_bridge.errors import ProjectError, UsageError, first_problem
from cartridge_bridge.files.atomic_files import read_exact, write_atomic

PACKAGE_NAME = "cartridge"
MACROS = "macros"


def package_dir() -> Path:
    """The folder holding the package's dbt_project.yml: inside the wheel, or the source checkout."""
    # The wheel carries the package in cartridge_bridge/dbt_package (pyproject.toml force-include).
    bundled = Path(__file__).resolve().parent.parent / "dbt_package"
    if (bundled / "dbt_project.yml").is_file():
        return bundled
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "dbt_project.yml").is_file() and (checkout / MACROS).is_dir():
        return checkout
    raise ProjectError("the cartridge dbt package is missing from this installation; reinstall cartridge")


def package_files(root: Path) -> dict[str, str]:
    """A package's own files, relative POSIX path → text: dbt_project.yml and everything under macros/."""
    files = {}
    if (root / "dbt_project.yml").is_file():
        files["dbt_project.yml"] = read_exact(root / "dbt_project.yml")
    for path in sorted((root / MACROS).rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not any(
            part.startswith(".") or part == "__pycache__" for part in relative.parts
        ):
            files[relative.as_posix()] = read_exact(path)
    return files


def package_version(files: dict[str, str]) -> str | None:
    """The `version:` of a package's dbt_project.yml (the version stamp of a vendored copy)."""
    data = _safe_yaml(files.get("dbt_project.yml"))
    version = data.get("version") if isinstance(data, dict) else None
    return None if version is None else str(version)


def package_name(files: dict[str, str]) -> str | None:
    """The `name:` of a package's dbt_project.yml."""
    data = _safe_yaml(files.get("dbt_project.yml"))
    name = data.get("name") if isinstance(data, dict) else None
    return None if name is None else str(name)


def _safe_yaml(text: str | None) -> object:
    if text is None:
        return None
    try:
        return YAML(typ="safe").load(text)
    except YAMLError:
        return None


@dataclass
class InitOptions:
    """How `cartridge init` installs the package; None means "take it from cartridge.yml"."""

    vendor_dir: str | None = None
    git: str | None = None
    revision: str | None = None
    subdirectory: str | None = None
    # True: always run dbt deps; False: never; None: only when the package changed or is not installed.
    deps: bool | None = True


def install_settings(configured: PackageInstall, options: InitOptions) -> PackageInstall:
    """The install mode and its settings: cartridge.yml's `package_install`, overridden by the flags."""
    if options.git is not None and options.vendor_dir is not None:
        raise UsageError("--git and --vendor-dir exclude each other: list the package from git or copy it")
    git = options.git is not None or (options.vendor_dir is None and configured.mode == "git")
    if not git and (options.revision is not None or options.subdirectory is not None):
        flag = "--revision" if options.revision is not None else "--subdirectory"
        raise UsageError(f"{flag} goes with --git (or package_install.mode: git in cartridge.yml)")
    if options.git is not None:  # a repository named on the command line: pinned on the command line too
        if not options.revision:
            raise UsageError(
                "--git needs --revision (a tag or commit) so every checkout gets the same package"
            )
        settings: dict[str, str | None] = {
            "mode": "git",
            "git": options.git,
            "revision": options.revision,
            "subdirectory": options.subdirectory,
        }
    elif git:
        settings = {
            "mode": "git",
            "git": configured.git,
            "revision": options.revision or configured.revision,
            "subdirectory": options.subdirectory or configured.subdirectory,
        }
    else:
        settings = {"mode": "vendored", "path": options.vendor_dir or configured.path}
    # cartridge.yml was validated when it was read: a problem here comes from a flag.
    try:
        return PackageInstall.model_validate(settings)
    except ValidationError as error:
        _, problem = first_problem(error)
        raise UsageError(f"cartridge init: {_as_flags(problem)}") from None


def _as_flags(problem: str) -> str:
    """A settings problem in the words of the command line when a flag gave the setting."""
    for key, flag in (("`path`", "--vendor-dir"), ("`subdirectory`", "--subdirectory")):
        problem = problem.replace(key, f"{flag} ({key[1:-1]})")
    return problem


def install_entry(install: PackageInstall) -> dict[str, str]:
    """The packages.yml entry for these settings, in dbt's own syntax."""
    if install.mode == "vendored":
        return {"local": install.path}
    entry = {"git": str(install.git), "revision": str(install.revision)}
    if install.subdirectory:
        entry["subdirectory"] = install.subdirectory
    return entry


@dataclass
class VendoredCopy:
    """What `cartridge init` does to the package's copy inside the project."""

    path: str  # relative to the project, POSIX separators
    status: Literal["created", "refreshed", "current"]
    version: str | None
    previous_version: str | None  # refreshed: the version the copy held before
    writes: dict[Path, str | None]  # the files to write (None: to delete), empty when current


# The root project's folders dbt reads resources from, with dbt's defaults: a copy there would be parsed as the
# project's own models, macros or tests.
_RESOURCE_PATHS = {
    "model-paths": ["models"],
    "macro-paths": ["macros"],
    "seed-paths": ["seeds"],
    "test-paths": ["tests"],
    "analysis-paths": ["analyses"],
    "snapshot-paths": ["snapshots"],
    "docs-paths": [],
    "asset-paths": [],
}


def vendored_folder(project_dir: Path, relative: str) -> Path:
    """The vendored copy's folder, refusing one outside the project or inside a folder dbt reads or deletes."""
    root = project_dir.resolve()
    folder = root / relative
    resolved = folder.resolve()
    if root not in resolved.parents:
        raise UsageError(f"the vendored folder {relative} leaves the project through a symlink")
    project = _safe_yaml(read_exact(root / "dbt_project.yml"))
    settings = project if isinstance(project, dict) else {}
    for key, default in _RESOURCE_PATHS.items():
        for name in _names(settings.get(key, default)):
            if _inside(resolved, root / name):
                raise UsageError(
                    f"the vendored folder {relative} is inside {name}/ ({key}), where dbt would parse it as "
                    "the project's own files; choose another folder, e.g. vendor/cartridge"
                )
    rewritten = ["dbt_packages", "target", *_names(settings.get("clean-targets"))]
    rewritten += _names(settings.get("packages-install-path")) + _names(settings.get("target-path"))
    for name in rewritten:
        if _inside(resolved, root / name):
            raise UsageError(
                f"the vendored folder {relative} is inside {name}/, which dbt deletes and rewrites; "
                "choose a folder you commit, e.g. vendor/cartridge"
            )
    return folder


def _names(value: object) -> list[str]:
    """Folder names from a dbt_project.yml setting that is one name or a list of them."""
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v.strip() and v.strip() != "."]


def _inside(path: Path, folder: Path) -> bool:
    folder = folder.resolve()
    return path == folder or folder in path.parents


def plan_vendored_copy(project_dir: Path, relative: str) -> VendoredCopy:
    """Compare the project's copy of the package with this installation's; writes nothing."""
    folder = vendored_folder(project_dir, relative)
    shipped = package_files(package_dir())
    version = package_version(shipped)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"the vendored folder {relative} is a file in the project, not a folder")
    present = package_files(folder) if folder.is_dir() else {}
    held = [entry for entry in folder.iterdir() if not entry.name.startswith(".")] if folder.is_dir() else []
    if held and package_name(present) != PACKAGE_NAME:
        raise UsageError(
            f"{relative} already holds something other than the cartridge package; "
            "choose another folder with --vendor-dir or package_install.path in cartridge.yml"
        )
    previous = package_version(present)
    if _newer(previous, version):
        raise UsageError(
            f"{relative} holds cartridge {previous}, newer than this cartridge {version}; "
            "upgrade cartridge (pip install -U cartridge) rather than downgrade the project's copy"
        )
    if present == shipped:
        return VendoredCopy(relative, "current", version, previous, {})
    writes: dict[Path, str | None] = {
        folder / name: text for name, text in shipped.items() if present.get(name) != text
    }
    writes.update({folder / name: None for name in present if name not in shipped})
    status: Literal["created", "refreshed"] = "refreshed" if present else "created"
    return VendoredCopy(relative, status, version, previous if present else None, writes)


def _newer(version: str | None, than: str | None) -> bool:
    if version is None or than is None:
        return False
    try:
        return Version(version) > Version(than)
    except InvalidVersion:
        return False


class RestorableWrites:
    """The before-state of the files `cartridge init` touches, so that a failure can put every one back."""

    def __init__(self, project_dir: Path, paths: list[Path]):
        self.project_dir = project_dir
        self.before = {path: read_exact(path) if path.is_file() else None for path in paths}
        self.missing_dirs = sorted(
            {p for path in paths for p in path.parents if project_dir in p.parents and not p.exists()},
            key=lambda p: len(p.parts),
            reverse=True,
        )

    def write(self, changes: dict[Path, str | None]) -> None:
        """Write (or, for None, delete) each file; folders emptied by a deletion go too."""
        for path, text in changes.items():
            if text is None:
                path.unlink(missing_ok=True)
                _remove_empty_parents(path.parent, self.project_dir)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, text)

    def restore(self) -> None:
        """Put every file back as it was and remove the folders that did not exist."""
        for path, text in self.before.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.is_file() or read_exact(path) != text:
                    write_atomic(path, text)
        for folder in self.missing_dirs:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    while folder != stop and stop in folder.parents and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


@dataclass
class InitReport:
    """What `cartridge init` did: the entry it listed and where, the vendored copy, and whether dbt deps ran."""

    entry: dict[str, str]
    packages_file: Path
    listed: bool  # False when the file already listed exactly this entry
    vendored: VendoredCopy | None
    deps_ran: bool
