"""How fast a property file cartridge creates is written: libyaml, PyYAML's own emitter, the round-trip library.

A staging property file like bench_scale's (tables x 30 columns, each column described and tested) is
written three ways: by `dump_new_yaml` (libyaml's emitter, what new files get), by PyYAML's pure-Python
emitter in dbt's layout (what new files got before), and by ruamel's round-trip dumper (what files that
exist get, and what every file got before that). Each is timed best of `--runs`; all three must read back
as the same data.

    python bench/bench_yaml_emit.py [--tables 125] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartridge_bridge.files.yaml_merge import _DbtLayoutDumper, _plain, _yaml, dump_new_yaml  # noqa: E402


def properties(tables: int) -> dict[str, Any]:
    """A staging property file: `tables` models of 30 described, typed and tested columns."""
    tests = [
        "unique",
        "not_null",
        {"relationships": {"arguments": {"to": "ref('stg_parent')", "field": "id"}}},
    ]
    return {
        "models": [
            {
                "name": f"stg_shop__table_{t}",
                "description": f"One row per table_{t} record: it's loaded by the connector.",
                "columns": [
                    {
                        "name": f"column_{c}",
                        "description": f"Column {c} of table {t}.",
                        "data_type": "integer",
                    }
                    | ({"data_tests": tests} if c == 0 else {})
                    for c in range(30)
                ],
            }
            for t in range(tables)
        ]
    }


def ruamel_text(data: Any) -> str:
    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    return buffer.getvalue()


def pure_text(data: Any) -> str:
    return yaml.dump(_plain(data), Dumper=_DbtLayoutDumper, sort_keys=False, width=4096, allow_unicode=True)


def best(write: Callable[[Any], str], data: Any, runs: int) -> tuple[float, str]:
    times, text = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        text = write(data)
        times.append(time.perf_counter() - started)
    return min(times), text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_yaml_emit.py", description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=125, help="models in the file (default 125)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each emitter, best kept (default 3)")
    args = parser.parse_args(argv)
    data = properties(args.tables)
    results = [
        (name, *best(write, data, args.runs))
        for name, write in (
            ("libyaml (new files now)", dump_new_yaml),
            ("PyYAML pure (new files before)", pure_text),
            ("ruamel round-trip (merges)", ruamel_text),
        )
    ]
    for name, _, text in results:
        if yaml.load(text, Loader=yaml.CSafeLoader) != data:
            raise SystemExit(f"{name} does not read back as the data it was given")
    print(f"one property file: {args.tables} models x 30 columns, {len(results[0][2]):,} characters")
    fastest = results[0][1]
    for name, seconds, _ in results:
        print(f"  {name:<32} {seconds:6.2f} s  {seconds / fastest:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
