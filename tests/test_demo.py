"""`wft demo` on nothing: a finished run, a results table, exit 0 and no process left behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.procs import VENV_BIN

pytestmark = pytest.mark.slow


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob:
            found.append(int(entry.name))
    return found


def test_demo_end_to_end():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run([str(VENV_BIN / "wft"), "demo"], env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    root = re.search(r"logs (/\S+)", out).group(1)
    assert re.search(r"seeded 'Invoice workflow' wf_\S+: 4 blocks, (\d+) tests", out)
    assert int(re.search(r"(\d+) tests", out).group(1)) >= 30
    header = next(line for line in out.splitlines() if line.startswith("block"))
    assert header.split() == ["block", "test", "verdict", "actual", "expected", "likelihood"]
    summary = next(line for line in out.splitlines() if re.match(r"run wftestrun_\S+ completed", line))
    assert "passed" in summary and "failed" in summary and "blocked" in summary
    assert "blocked (type_error)" in out
    assert processes_mentioning(root) == []
    assert not Path(root).exists()


def test_demo_whose_reader_goes_away_leaves_nothing_running():
    """`wft demo | head -2`: the closed pipe ends the demo, and it still stops its whole stack."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    demo = subprocess.Popen([str(VENV_BIN / "wft"), "demo"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    root = None
    try:
        demo.stdout.readline()
        root = re.search(r"logs (/\S+)", demo.stdout.readline()).group(1)
        demo.stdout.close()  # the reader goes away, as `head` does
        assert demo.wait(timeout=120) != 0
        assert processes_mentioning(root) == []
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        for pid in processes_mentioning(root) if root else []:  # only when the assertion failed
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if root:
            shutil.rmtree(root, ignore_errors=True)  # the demo keeps its logs when it did not finish
