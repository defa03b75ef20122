"""Context benchmark: read a 20,000-node (~100 MB) manifest and cut the relevant slice for new tables.

Writes a synthetic manifest (bench/synthetic_manifest.py) to a temporary folder, then measures, each in
a fresh subprocess so that its peak memory is its own: (a) the stdlib `json.load` baseline,
(b) `read_manifest`, (c) the context: `read_manifest` + `infer_conventions` + `relevant_slice` for the case's
new tables. Memory is the
peak resident set (`ru_maxrss`) minus the resident set right after the imports, in that subprocess.
Also times `relevant_slice` alone on 20,000 models. Prints seconds, MB and ratios to the baseline.
"""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic_manifest import brownfield_case, synthetic_case, write_manifest  # noqa: E402
from cartridge_bridge.context.convention_rules import infer_conventions  # noqa: E402
from cartridge_bridge.context.relevance import relevant_slice  # noqa: E402
from cartridge_bridge.gather.facts import RawRelation  # noqa: E402
from cartridge_bridge.gather.manifest import Manifest, read_manifest  # noqa: E402

NODES, SEED, REPEATS = 20_000, 7, 3
TARGET_SECONDS, TARGET_MB = 1.0, 300.0
STEPS = {
    "json": "(a) json.load (stdlib baseline)",
    "read": "(b) read_manifest",
    "context": "(c) context: read + conventions + slice",
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def measure(step: str, manifest_path: Path, case_path: Path) -> dict[str, Any]:
    """One measurement, run inside its own subprocess: wall time and peak memory above the imports."""
    case = json.loads(case_path.read_text(encoding="utf-8"))
    relations = [RawRelation.model_validate(r) for r in case["relations"]]
    gc.collect()
    before = _rss_mb()
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if step == "json":
        with manifest_path.open("rb") as handle:
            json.load(handle)
    else:
        manifest = read_manifest(manifest_path)
        if step == "context":
            inferring = time.perf_counter()
            infer_conventions(manifest, {"name": manifest.metadata.project_name, "model-paths": ["models"]})
            result["conventions_seconds"] = time.perf_counter() - inferring
            sliced = time.perf_counter()
            found = relevant_slice(manifest, relations)
            keys = {e.name for e in found.entries if e.signal == "key"}
            result |= {
                "slice_seconds": time.perf_counter() - sliced,
                "sharing": len(case["key_sharing"]),
                "recall": len(keys & set(case["key_sharing"])) / max(1, len(case["key_sharing"])),
                "tokens": found.tokens_used,
                "budget": found.budget,
                "left_out": found.left_out,
            }
    return {"seconds": time.perf_counter() - started, "mb": _rss_mb() - before, "baseline": before, **result}


def write_case(folder: Path) -> dict[str, Any]:
    """Write the synthetic manifest and the new tables with their ground truth; return the sizes."""
    case = synthetic_case(NODES, seed=SEED)
    size = write_manifest(case.document, folder / "manifest.json")
    case_file = {
        "relations": [r.model_dump(by_alias=True) for r in case.relations],
        "key_sharing": sorted(case.key_sharing),
    }
    (folder / "case.json").write_text(json.dumps(case_file), encoding="utf-8")
    models = sum(1 for n in case.document["nodes"].values() if n["resource_type"] == "model")
    return {"bytes": size, "models": models}


def slice_alone() -> dict[str, Any]:
    """Time relevant_slice alone on a project of 20,000 models."""
    case = brownfield_case(20_000, seed=SEED, new_tables=3, lean=True)
    gc.disable()
    manifest = msgspec.convert(case.document, Manifest)
    gc.enable()
    relevant_slice(manifest, case.relations)  # once to import and warm inflect, as a planning run would
    started = time.perf_counter()
    relevant_slice(manifest, case.relations)
    return {"seconds": time.perf_counter() - started, "models": len(manifest.root_models())}


def _in_subprocess(*args: str) -> dict[str, Any]:
    # Linux keeps ru_maxrss across fork+exec, so every child starts from this small parent.
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _best(step: str, folder: Path) -> dict[str, Any]:
    files = (str(folder / "manifest.json"), str(folder / "case.json"))
    runs = [_in_subprocess("--measure", step, *files) for _ in range(REPEATS)]
    return {**min(runs, key=lambda run: run["seconds"]), "mb": min(run["mb"] for run in runs)}


def main() -> None:
    """Write the manifest, measure each step in a fresh subprocess and print the table."""
    with tempfile.TemporaryDirectory(prefix="cartridge-bench-") as folder:
        written = _in_subprocess("--write", folder)
        results = {step: _best(step, Path(folder)) for step in STEPS}
    alone = _in_subprocess("--slice-alone")
    _print(results, written, alone)


def _print(results: dict[str, dict[str, Any]], written: dict[str, Any], alone: dict[str, Any]) -> None:
    base = results["json"]
    print(
        f"context: {NODES:,}-node synthetic manifest ({written['bytes'] / 1e6:.1f} MB, "
        f"{written['models']:,} models), "
        f"each step in a fresh subprocess, best of {REPEATS}"
    )
    print(
        "  memory: peak RSS (ru_maxrss) minus RSS after imports, in that subprocess "
        f"(after imports: {results['json']['baseline']:.0f} MB)"
    )
    print(f"  {'step':<38} {'seconds':>8} {'x json':>7} {'MB extra':>9} {'x json':>7}")
    for step, label in STEPS.items():
        run = results[step]
        print(
            f"  {label:<38} {run['seconds']:8.2f} {run['seconds'] / base['seconds']:7.2f}"
            f" {run['mb']:9.0f} {run['mb'] / base['mb']:7.2f}"
        )
    context = results["context"]
    print(f"  {'  of which infer_conventions':<38} {context['conventions_seconds']:8.2f}")
    print(f"  {'  of which relevant_slice':<38} {context['slice_seconds']:8.2f}")
    label = f"relevant_slice alone, {alone['models']:,} models"
    print(f"  {label:<38} {alone['seconds']:8.2f}")
    print(
        f"  slice: {context['sharing']:.0f} key-sharing models, recall {context['recall']:.2f}, "
        f"{context['tokens']:,} / {context['budget']:,} tokens; left out: "
        + ", ".join(f"{reason} {count:,}" for reason, count in context["left_out"].items())
    )
    fast, small = context["seconds"] <= TARGET_SECONDS, context["mb"] <= TARGET_MB
    print(
        f"  targets for (c): <= {TARGET_SECONDS:.0f} s: {'ok' if fast else 'MISSED'}   "
        f"<= {TARGET_MB:.0f} MB extra: {'ok' if small else 'MISSED'}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
    elif sys.argv[1:2] == ["--write"]:
        print(json.dumps(write_case(Path(sys.argv[2]))))
    elif sys.argv[1:2] == ["--slice-alone"]:
        print(json.dumps(slice_alone()))
    else:
        main()
