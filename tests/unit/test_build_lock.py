"""One build of an image tag at a time on a host (`farm.run.build.one_build_per_tag`): what two
series of ``farm watch --jobs 2``, or two farms, rely on not to compile one glibc twice.

Real file locks, real threads and a real second process; no engine is needed to test the
lock (the integration test `tests/integration/test_watch_jobs.py` checks the builds)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from farm.errors import FarmError
from farm.run.build import build_lock_path, one_build_per_tag

TAG = "glibc-farm/build:x86_64-baseline-0123456789abcdef"


def test_a_second_build_of_one_tag_waits_for_the_first_and_says_so(tmp_path: Path) -> None:
    events: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def first() -> None:
        with one_build_per_tag(TAG, progress=events.append, lock_dir=tmp_path):
            events.append("first building")
            holding.set()
            release.wait(10)
            events.append("first done")

    def second() -> None:
        with one_build_per_tag(TAG, progress=events.append, lock_dir=tmp_path, report_every=0.1):
            events.append("second building")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert holding.wait(10)
    threads[1].start()
    time.sleep(0.5)
    # Another tag is not held up meanwhile.
    with one_build_per_tag(TAG + "0", progress=events.append, lock_dir=tmp_path, wait=1):
        events.append("other tag building")
    release.set()
    for thread in threads:
        thread.join(10)
    building = [e for e in events if not e.endswith("so far)")]
    assert building == ["first building", "other tag building", "first done", "second building"]
    assert f"{TAG}: waiting for another build of it (0 min so far)" in events


def test_a_build_held_by_another_process_waits_and_gives_up_at_its_bound(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path\n"
         "from farm.run.build import one_build_per_tag\n"
         "with one_build_per_tag(sys.argv[1], progress=print, lock_dir=Path(sys.argv[2])):\n"
         "    print('held', flush=True); time.sleep(30)", TAG, str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(FarmError) as refused:  # noqa: SIM117 (the with is what is tested)
            with one_build_per_tag(TAG, progress=lambda _: None, lock_dir=tmp_path, wait=0.3):
                pass  # pragma: no cover
        assert "another farm on this host has been building this image" in str(refused.value)
        assert str(build_lock_path(TAG, tmp_path)) in str(refused.value)
    finally:
        holder.kill()
        holder.wait()
    # Killed without cleanup, its lock went with it.
    with one_build_per_tag(TAG, progress=lambda _: None, lock_dir=tmp_path, wait=1):
        pass
