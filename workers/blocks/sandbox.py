"""Run untrusted ``main(inputs)`` code in a separate, limited process and get its JSON result back.

The child is a fresh interpreter (``python -I -S``: no site-packages, no ``PYTHON*`` variables)
started with an empty environment, in its own session (so the whole process group can be
killed, grandchildren included), in a throw-away working directory, with an address-space
limit. The code and the inputs go in over stdin as one JSON document; the result comes back on
the child's original stdout, which the runner moves to a private descriptor before any user
code runs so that ``print`` (redirected to stderr) can never corrupt the protocol.

What this does *not* give: a different uid, a filesystem or network jail. Code can still read
files the worker can read (including ``/proc/<ppid>/environ``); run the tests pool as a
dedicated user or in a container for that.
"""

from __future__ import annotations

import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from workers.blocks.base import BlockError, TransientBlockError

# Executed with ``python -c``. Kept free of f-strings/formatting from the parent so that it is
# readable on its own; every failure is reported as one JSON object on the result descriptor.
_RUNNER = r'''
import json, linecache, os, resource, sys, traceback

os.environ.clear()             # drops even LC_CTYPE, which the interpreter's locale coercion adds
result_fd = os.dup(1)          # the protocol channel: only the runner writes here
os.dup2(2, 1)                  # C-level and Python-level prints now land on stderr
sys.stdout = sys.stderr

def report(obj):
    data = json.dumps(obj, allow_nan=False).encode("utf-8")
    view = memoryview(data)
    while view:
        view = view[os.write(result_fd, view):]
    os.close(result_fd)

payload = json.loads(sys.stdin.buffer.read().decode("utf-8"))
sys.stdin.close()
del sys.stdin
code, inputs, limits = payload["code"], payload["inputs"], payload["limits"]
del payload

# Limits are set here, before any user code, rather than in a preexec_fn: preexec_fn is not safe
# in a parent that runs threads (a threads pool), while this point is still fully ours. Soft and
# hard limits are equal, so the code cannot raise them again.
memory = limits["memory_bytes"]
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
cpu = limits["cpu_s"]
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

FILENAME = "<function>"
linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
TAIL_LINES = limits["traceback_lines"]

def describe(exc):
    # Skip the runner's own frame so the traceback starts in the user's code.
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    lines = "".join(traceback.format_exception(type(exc), exc, tb)).rstrip("\n").splitlines()
    return {"ok": False, "kind": "exception", "error": traceback.format_exception_only(type(exc), exc)[-1].strip(),
            "traceback": "\n".join(lines[-TAIL_LINES:])}

outcome = None
out_of_memory = False
try:
    namespace = {"__name__": "__wft_function__"}
    exec(compile(code, FILENAME, "exec"), namespace)
    main = namespace.get("main")
    if not callable(main):
        outcome = {"ok": False, "kind": "no_main", "error": "the code does not define a function main(inputs)"}
    else:
        value = main(inputs)
        del main, namespace
        try:
            outcome = {"ok": True, "value_json": json.dumps(value, allow_nan=False)}
        except (TypeError, ValueError) as exc:
            outcome = {"ok": False, "kind": "not_json", "error": type(exc).__name__ + ": " + str(exc)}
        del value
except MemoryError:
    # Reported after the except block: by then the traceback (and the frames holding the
    # memory) has been released, so there is room left to write the report.
    out_of_memory = True
except BaseException as exc:  # SystemExit too: main() must return, not exit the runner
    outcome = describe(exc)
if out_of_memory:
    outcome = {"ok": False, "kind": "memory", "error": "MemoryError"}
report(outcome)
'''

_READ_CHUNK = 65536


@dataclass(frozen=True)
class SandboxLimits:
    wall_time_s: float
    memory_mb: int
    max_result_bytes: int = 16 * 1024 * 1024  # the result ends up in a JSONB column and a Celery message
    stderr_tail_bytes: int = 4096  # kept for diagnostics when the child dies without reporting
    traceback_lines: int = 10


class SandboxError(BlockError):
    """The code could not produce a result. ``kind`` says why (``timeout``, ``memory``, ``exception``,
    ``not_json``, ``no_main``, ``crashed``, ``result_too_large``, ``bad_input``), e.g. for metrics."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def run_main(code: str, inputs: dict[str, Any], limits: SandboxLimits) -> Any:
    """Run ``main(inputs)`` from ``code`` in a sandboxed child process and return its JSON value.
    Raises :class:`SandboxError` (or :class:`TransientBlockError` when no process can be started);
    never lets the child take the caller down with it."""
    try:
        payload = json.dumps({"code": code, "inputs": inputs, "limits": _child_limits(limits)},
                             allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise SandboxError("bad_input", f"function inputs are not JSON: {exc}") from exc

    workdir = tempfile.mkdtemp(prefix="wft-fn-")
    try:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-X", "utf8", "-c", _RUNNER],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env={},  # nothing of the worker's environment (secrets, URLs) reaches user code
                cwd=workdir,
                start_new_session=True,  # own process group: one killpg takes grandchildren too
                close_fds=True,
            )
        except OSError as exc:  # out of fds/processes on the worker: worth another try later
            raise TransientBlockError(f"could not start the function sandbox: {exc}") from exc
        try:
            exchange = _exchange(proc, payload, limits)
        finally:
            _kill_group(proc)
            proc.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _interpret(exchange, proc.returncode, limits)


def _child_limits(limits: SandboxLimits) -> dict[str, int]:
    return {
        "memory_bytes": int(limits.memory_mb) * 1024 * 1024,
        # CPU time is a backstop only: the wall-time kill below is the real limit.
        "cpu_s": int(math.ceil(limits.wall_time_s)) + 1,
        "traceback_lines": limits.traceback_lines,
    }


@dataclass
class _Exchange:
    result: bytes
    stderr_tail: bytes
    timed_out: bool
    result_too_large: bool


def _exchange(proc: subprocess.Popen, payload: bytes, limits: SandboxLimits) -> _Exchange:
    """Feed stdin and drain both pipes without threads until the runner exits or the wall time is
    up. Output is bounded: the result up to ``max_result_bytes``, stderr only its tail."""
    assert proc.stdin and proc.stdout and proc.stderr
    deadline = time.monotonic() + limits.wall_time_s
    result = bytearray()
    stderr = _Tail(limits.stderr_tail_bytes)
    pending = memoryview(payload)
    exit_watch = _ExitWatch(proc.pid)

    with selectors.DefaultSelector() as sel, exit_watch:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        if exit_watch.fd is not None:
            sel.register(exit_watch.fd, selectors.EVENT_READ)
        # Done when the result channel closes or the runner itself exits: a grandchild the code
        # forked inherits the pipes and could otherwise hold them open until the deadline.
        while proc.stdout in _registered(sel) and not exit_watch.exited():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _Exchange(bytes(result), stderr.value(), timed_out=True, result_too_large=False)
            for key, _ in sel.select(timeout=min(remaining, exit_watch.poll_interval)):
                stream = key.fileobj
                if stream == exit_watch.fd:
                    continue  # the loop condition notices the exit
                if stream is proc.stdin:
                    try:
                        pending = pending[os.write(proc.stdin.fileno(), pending):]
                    except BrokenPipeError:
                        pending = pending[:0]  # the child died early; its exit status tells why
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(stream.fileno(), _READ_CHUNK)  # type: ignore[union-attr]
                if not chunk:
                    sel.unregister(stream)
                elif stream is proc.stdout:
                    result += chunk
                else:
                    stderr.add(chunk)
                if len(result) > limits.max_result_bytes:
                    return _Exchange(b"", stderr.value(), timed_out=False, result_too_large=True)
    # The runner has exited (or closed its channel): whatever it wrote is already in the pipes.
    _drain_available(proc.stdout, result.extend, limit=limits.max_result_bytes + 1)
    _drain_available(proc.stderr, stderr.add, limit=limits.stderr_tail_bytes * 4)
    if len(result) > limits.max_result_bytes:
        return _Exchange(b"", stderr.value(), timed_out=False, result_too_large=True)
    return _Exchange(bytes(result), stderr.value(), timed_out=False, result_too_large=False)


def _registered(sel: selectors.BaseSelector) -> list[Any]:
    return [key.fileobj for key in sel.get_map().values()]


class _ExitWatch:
    """Tells when the runner process has exited, without reaping it (so its process group id stays
    reserved until :func:`_kill_group` has run). Uses a pidfd the selector can wait on where the
    kernel offers one, else polls."""

    def __init__(self, pid: int):
        self._pid = pid
        self.fd: int | None = None
        self.poll_interval = 0.05

    def __enter__(self) -> _ExitWatch:
        try:
            self.fd = os.pidfd_open(self._pid)
            self.poll_interval = 3600.0
        except (AttributeError, OSError):
            self.fd = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def exited(self) -> bool:
        try:
            info = os.waitid(os.P_PID, self._pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None


class _Tail:
    """The last ``limit`` bytes of a stream, in bounded memory."""

    def __init__(self, limit: int):
        self._limit = limit
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def add(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)
        while len(self._chunks) > 1 and self._size - len(self._chunks[0]) >= self._limit:
            self._size -= len(self._chunks.popleft())

    def value(self) -> bytes:
        return b"".join(self._chunks)[-self._limit:]


def _drain_available(stream: Any, sink: Any, *, limit: int) -> None:
    """Read what is already in a pipe, without waiting for more (a live grandchild may hold it open)."""
    if stream.closed:
        return
    os.set_blocking(stream.fileno(), False)
    taken = 0
    while taken < limit:
        try:
            chunk = os.read(stream.fileno(), _READ_CHUNK)
        except BlockingIOError:
            return
        if not chunk:
            return
        taken += len(chunk)
        sink(chunk)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child's whole process group. Called before ``wait()`` reaps the leader, so the
    group id cannot have been reused by an unrelated process."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()


def _interpret(exchange: _Exchange, returncode: int | None, limits: SandboxLimits) -> Any:
    seconds = f"{limits.wall_time_s:g}"
    if exchange.timed_out:
        raise SandboxError("timeout", f"function exceeded its {seconds} s time limit")
    if exchange.result_too_large:
        raise SandboxError("result_too_large",
                           f"function result exceeds {limits.max_result_bytes // (1024 * 1024)} MB")
    try:
        report = json.loads(exchange.result.decode("utf-8")) if exchange.result else None
    except (UnicodeDecodeError, ValueError):
        report = None
    if not isinstance(report, dict):
        raise SandboxError(*_died(returncode, exchange.stderr_tail, limits))
    if report.get("ok"):
        return json.loads(report["value_json"])
    kind = str(report.get("kind", "exception"))
    if kind == "memory":
        raise SandboxError("memory", f"function exceeded its {limits.memory_mb} MB memory limit (MemoryError)")
    if kind == "not_json":
        raise SandboxError("not_json", f"main() returned a value that is not JSON: {report.get('error')}")
    if kind == "no_main":
        raise SandboxError("no_main", str(report.get("error")))
    message = f"function raised {report.get('error')}"
    if report.get("traceback"):
        message += f"\n{report['traceback']}"
    raise SandboxError("exception", message)


def _died(returncode: int | None, stderr_tail: bytes, limits: SandboxLimits) -> tuple[str, str]:
    """The child ended without a report: killed by a signal, the CPU backstop, or a crash."""
    tail = stderr_tail.decode("utf-8", "replace").strip()[-1000:]
    suffix = f"; stderr tail:\n{tail}" if tail else ""
    if returncode is not None and returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU:
            return "timeout", f"function exceeded its {limits.wall_time_s:g} s time limit (CPU)"
        name = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
        return "crashed", (f"function process was killed by {name}; it may have exceeded its "
                           f"{limits.memory_mb} MB memory limit{suffix}")
    if tail and "MemoryError" in tail:
        return "memory", f"function exceeded its {limits.memory_mb} MB memory limit{suffix}"
    return "crashed", f"function process exited with status {returncode} without a result{suffix}"
