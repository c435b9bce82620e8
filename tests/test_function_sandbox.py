"""The function block's sandbox: isolation, limits and error reporting (SPEC §4, function).

Every test asserts what the block reports, never how long it took."""

from __future__ import annotations

import os
import time

import pytest

from models.settings import Settings
from workers.blocks.base import BlockError, BlockSpec, CallContext, Document
from workers.blocks.function import FunctionExecutor, function_inputs
from workers.blocks.sandbox import SandboxError, SandboxLimits, run_main

SECRET_NAME = "WFT_SANDBOX_TEST_SECRET"


@pytest.fixture()
def executor() -> FunctionExecutor:
    return FunctionExecutor(Settings(wft_function_timeout_s=1.0, wft_function_memory_mb=256))


def make_ctx(code: str, inputs: dict | None = None, **config) -> CallContext:
    block = BlockSpec(id="fn", type="function", label="fn", config={"code": code, **config})
    return CallContext(block=block, inputs=inputs or {}, call_index=0, n_consensus=1, seed="run:test")


def run_block(executor: FunctionExecutor, code: str, inputs: dict | None = None, **config):
    ctx = make_ctx(code, inputs, **config)
    return executor.assemble(ctx, [executor.call(ctx)], []).outputs["output-json-0"]


def failure(executor: FunctionExecutor, code: str, **config) -> SandboxError:
    with pytest.raises(SandboxError) as info:
        executor.call(make_ctx(code, **config))
    return info.value


INVOICE = Document(id="file_1", filename="invoice.txt", mime_type="text/plain", pages=["Total: 42", "page two"])


def test_happy_path_with_json_and_file_inputs(executor):
    code = (
        "def main(inputs):\n"
        "    doc = inputs['input-file-0']\n"
        "    return {'total': inputs['input-json-0']['factor'] * 2, 'name': doc['filename'],\n"
        "            'pages': doc['text'].split('\\f'), 'keys': sorted(doc)}\n"
    )
    out = run_block(executor, code, {"input-json-0": {"factor": 21}, "input-file-0": INVOICE})
    assert out == {"total": 42, "name": "invoice.txt", "pages": ["Total: 42", "page two"],
                   "keys": ["filename", "id", "mime_type", "text"]}


def test_function_inputs_shape_documents_for_the_code():
    assert function_inputs({"input-file-0": INVOICE, "input-json-0": [1, None]}) == {
        "input-file-0": {"id": "file_1", "filename": "invoice.txt", "mime_type": "text/plain",
                         "text": "Total: 42\fpage two"},
        "input-json-0": [1, None],
    }


def test_large_prints_do_not_corrupt_the_result(executor):
    code = (
        "import sys, os\n"
        "def main(inputs):\n"
        "    print('x' * 3_000_000)\n"
        "    os.write(1, b'{\"ok\": true, \"value_json\": \"666\"}')\n"  # a forged protocol message on fd 1
        "    sys.stderr.write('y' * 1_000_000)\n"
        "    return {'big': 'z' * 200_000}\n"
    )
    assert run_block(executor, code) == {"big": "z" * 200_000}


def test_large_inputs_reach_the_code(executor):
    big = Document(id="file_2", filename="big.txt", mime_type="text/plain", pages=["a" * 2_000_000, "b" * 10])
    assert run_block(executor, "def main(i):\n    return len(i['doc']['text'])", {"doc": big}) == 2_000_011


def test_null_and_scalar_returns_are_outputs(executor):
    assert run_block(executor, "def main(inputs):\n    return None") is None
    assert run_block(executor, "def main(inputs):\n    return 3.5") == 3.5


def test_environment_is_empty(executor, monkeypatch):
    monkeypatch.setenv(SECRET_NAME, "hunter2")
    out = run_block(executor, "import os\ndef main(inputs):\n    return dict(os.environ)")
    assert out == {}
    out = run_block(executor, "import os\ndef main(inputs):\n    return os.environ.get('WFT_SANDBOX_TEST_SECRET')")
    assert out is None


def test_runs_in_a_fresh_empty_working_directory(executor):
    out = run_block(executor, "import os\ndef main(inputs):\n    return [os.getcwd(), os.listdir('.')]")
    assert out[1] == [] and out[0] != os.getcwd()
    assert not os.path.exists(out[0]), "the temporary directory is removed afterwards"


def test_infinite_loop_is_killed_at_the_time_limit(executor):
    err = failure(executor, "def main(inputs):\n    while True:\n        pass\n")
    assert err.kind == "timeout"
    assert str(err) == "function exceeded its 1 s time limit"


def test_block_timeout_is_capped_by_settings(executor):
    err = failure(executor, "import time\ndef main(inputs):\n    time.sleep(60)\n", timeout_s=3600)
    assert str(err) == "function exceeded its 1 s time limit"
    assert executor.limits({"timeout_s": 0.5}).wall_time_s == 0.5
    with pytest.raises(BlockError, match="timeout_s"):
        executor.limits({"timeout_s": "soon"})


def test_huge_allocation_fails_on_the_memory_limit(executor):
    err = failure(executor, "def main(inputs):\n    return len(bytearray(10 * 1024**3))\n")
    assert err.kind == "memory"
    assert "256 MB memory limit" in str(err)


def test_gradual_allocation_fails_on_the_memory_limit(executor):
    err = failure(executor, "def main(inputs):\n    hoard = []\n    while True:\n        hoard.append(bytearray(10**6))\n")
    assert err.kind == "memory"
    assert "memory limit" in str(err)


def _has_cap_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        cap_eff = next(line.split()[1] for line in f if line.startswith("CapEff:"))
    return bool(int(cap_eff, 16) & (1 << 24))  # CAP_SYS_RESOURCE may raise hard limits


@pytest.mark.skipif(_has_cap_sys_resource(), reason="with CAP_SYS_RESOURCE a process may raise its hard limits")
def test_the_code_cannot_raise_its_own_limits(executor):
    code = ("import resource\n"
            "def main(inputs):\n"
            "    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n")
    err = failure(executor, code)
    assert err.kind == "exception" and "ValueError" in str(err)


def test_non_json_return_is_a_clear_error(executor):
    err = failure(executor, "def main(inputs):\n    return {'tags': {1, 2}}\n")
    assert err.kind == "not_json"
    assert str(err).startswith("main() returned a value that is not JSON: ")
    assert "set" in str(err)
    err = failure(executor, "def main(inputs):\n    return float('nan')\n")
    assert str(err).startswith("main() returned a value that is not JSON: ")


def test_exception_reports_type_message_and_traceback_tail(executor):
    code = (
        "def parse(depth):\n"
        "    if depth == 0:\n"
        "        raise ValueError('no total on the invoice')\n"
        "    return parse(depth - 1)\n"
        "\n"
        "def main(inputs):\n"
        "    return parse(30)\n"
    )
    err = failure(executor, code)
    message = str(err)
    assert err.kind == "exception"
    assert message.splitlines()[0] == "function raised ValueError: no total on the invoice"
    tail = message.splitlines()[1:]
    assert 0 < len(tail) <= 10
    assert tail[-1] == "ValueError: no total on the invoice"
    assert any('File "<function>", line 3, in parse' in line for line in tail)
    assert any("raise ValueError('no total on the invoice')" in line for line in tail)
    assert "sandbox" not in message and "_RUNNER" not in message  # the runner's frames are not shown


def test_syntax_errors_and_exits_are_errors(executor):
    assert "SyntaxError" in str(failure(executor, "def main(inputs:\n    return 1\n"))
    assert "SystemExit" in str(failure(executor, "import sys\ndef main(inputs):\n    sys.exit(0)\n"))
    err = failure(executor, "import os\ndef main(inputs):\n    os._exit(7)\n")
    assert err.kind == "crashed" and "status 7" in str(err)


def test_missing_main_is_an_error(executor):
    err = failure(executor, "def helper(inputs):\n    return 1\n")
    assert err.kind == "no_main" and "main" in str(err)
    with pytest.raises(BlockError, match="no code"):
        executor.call(make_ctx("   "))


def test_killed_child_is_an_error(executor):
    err = failure(executor, "import os, signal\ndef main(inputs):\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    assert err.kind == "crashed" and "SIGKILL" in str(err)


def test_forked_grandchildren_neither_delay_the_result_nor_survive(executor):
    code = (
        "import os, time\n"
        "def main(inputs):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        time.sleep(120)\n"
        "        os._exit(0)\n"
        "    return pid\n"
    )
    grandchild = run_block(executor, code)
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_result_size_is_bounded():
    with pytest.raises(SandboxError) as info:
        run_main("def main(inputs):\n    return 'x' * 2_000_000\n", {}, SandboxLimits(5, 256, max_result_bytes=1_000_000))
    assert info.value.kind == "result_too_large"


def test_exit_is_noticed_without_pidfd(executor, monkeypatch):
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    assert run_block(executor, "def main(inputs):\n    return [1, 2]") == [1, 2]
    assert failure(executor, "def main(inputs):\n    while True: pass\n").kind == "timeout"


def test_assemble_turns_a_failed_call_into_the_block_error(executor):
    ctx = make_ctx("def main(inputs):\n    return 1\n")
    with pytest.raises(BlockError, match="boom"):
        executor.assemble(ctx, [None], ["function raised RuntimeError: boom"])
    assert executor.assemble(ctx, [{"a": 1}], []).outputs == {"output-json-0": {"a": 1}}
    assert executor.block_type == "function" and executor.supports_consensus is False


def test_the_test_process_survives_every_failure(executor):
    parent = os.getpid()
    hostile = [
        "def main(inputs):\n    while True: pass\n",
        "def main(inputs):\n    return bytearray(10 * 1024**3)\n",
        "import os, signal\ndef main(inputs):\n    os.killpg(0, signal.SIGKILL)\n",  # its own group only
        "import os\ndef main(inputs):\n    os.kill(os.getppid(), 0)\n    raise RuntimeError('still here')\n",
    ]
    for code in hostile:
        with pytest.raises(BlockError):
            executor.call(make_ctx(code))
    assert os.getpid() == parent
    assert run_block(executor, "def main(inputs):\n    return {'alive': True}") == {"alive": True}
