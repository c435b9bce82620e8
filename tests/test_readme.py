"""The README's quickstart snippet works verbatim against a real server and real workers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.workers import start_worker

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quickstart_runs(api, api_key, service_env, logs_dir, capsys):
    snippet = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert '"<the key>"' in snippet and "http://127.0.0.1:8000/v1" in snippet
    code = snippet.replace('"<the key>"', repr(api_key)).replace("http://127.0.0.1:8000/v1", api.url + "/v1")
    worker = start_worker(service_env, logs_dir, queues="wft.control,wft.tests,wft.calls", pool="threads", concurrency=4)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        worker.stop()
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(" pending")
    assert out[-1].startswith("completed") and "passed=1" in out[-1]
