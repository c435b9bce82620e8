"""Real ``celery worker`` subprocesses for engine tests."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.support.procs import VENV_BIN, Proc, child_pids, wait_for


def start_worker(env: dict[str, str], logs: Path, *, queues: str, pool: str = "prefork", concurrency: int = 2,
                 name: str | None = None, extra_env: dict[str, str] | None = None) -> Proc:
    name = name or f"{queues.replace('wft.', '').replace(',', '-')}-{secrets.token_hex(3)}"
    args = [str(VENV_BIN / "celery"), "-A", "workers.app", "worker", "--pool", pool, "--concurrency", str(concurrency),
            "--queues", queues, "--loglevel", "INFO", "--hostname", f"{name}@%h", "--without-gossip",
            "--without-mingle", "-E", "--prefetch-multiplier", "1"]
    return _until_ready(Proc(args, {**env, **(extra_env or {})}, logs / f"worker-{name}.log", name), name)


def start_preset_worker(env: dict[str, str], logs: Path, preset: str,
                        extra_env: dict[str, str] | None = None) -> Proc:
    """``wft worker --pool PRESET``: the command the README and the compose file use."""
    name = f"{preset}-{secrets.token_hex(3)}"
    args = [str(VENV_BIN / "wft"), "worker", "--pool", preset, "--hostname", f"{name}@%h"]
    return _until_ready(Proc(args, {**env, **(extra_env or {})}, logs / f"worker-{name}.log", name), name)


def _until_ready(proc: Proc, name: str) -> Proc:
    def ready() -> bool:
        if not proc.alive():
            raise RuntimeError(f"worker {name} exited:\n{proc.log_text()[-3000:]}")
        return " ready." in proc.log_text()

    try:
        wait_for(ready, 60, what=f"worker {name} to be ready")
    except BaseException:
        proc.stop()
        raise
    return proc


def pool_children(proc: Proc) -> list[int]:
    return child_pids(proc.pid)
