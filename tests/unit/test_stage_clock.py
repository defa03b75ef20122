"""The stage clock: each second goes to one stage, nested stages included, and the stages fit in the total."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from cartridge_bridge.stage_clock import STAGES, StageClock


def test_a_nested_stage_takes_its_time_from_the_outer_one() -> None:
    clock = StageClock()
    with clock.stage("plan"):
        time.sleep(0.02)
        with clock.stage("parse"):
            time.sleep(0.05)
        time.sleep(0.02)
    with clock.stage("build"):
        time.sleep(0.01)
    total = clock.total()
    stages = clock.stages()
    assert list(stages) == ["plan", "parse", "build"]  # the pipeline's order, only those that ran
    assert stages["parse"] >= 0.05 and stages["plan"] >= 0.04 and stages["build"] >= 0.01
    # No second counted twice: had plan kept counting through parse, the stages would pass the total.
    assert sum(stages.values()) <= total


def test_a_stage_that_fails_still_counts_and_the_outer_one_resumes() -> None:
    clock = StageClock()
    with clock.stage("write"):
        with pytest.raises(RuntimeError), clock.stage("repair"):
            time.sleep(0.01)
            raise RuntimeError("a repairer gave up")
        time.sleep(0.01)
    assert clock.stages()["repair"] >= 0.01 and clock.stages()["write"] >= 0.01
    assert set(clock.stages()) <= set(STAGES)


def test_a_clock_started_earlier_counts_from_then() -> None:
    started = time.perf_counter() - 5.0
    assert StageClock(started=started).total() >= 5.0


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="/proc tells a process's start on Linux only"
)
def test_the_process_start_is_when_the_process_started() -> None:
    code = (
        "import time; time.sleep(0.5)\n"
        "from cartridge_bridge.stage_clock import process_started\n"
        "print(time.perf_counter() - process_started())\n"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    age = float(done.stdout)
    assert 0.5 <= age <= wall + 0.02  # /proc counts in hundredths of a second
