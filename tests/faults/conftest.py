"""Fault injection runs against its own Redis (own port), its own database and its own worker
processes: it kills and restarts them by pid and never touches the shared services."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

import pytest

from tests.conftest import FAST_RECOVERY_ENV, _reset_caches
from tests.support.procs import VENV_BIN, Proc
from tests.support.services import RedisServer
from tests.support.workers import start_worker


@dataclass
class FaultStack:
    env: dict[str, str]
    redis: RedisServer
    logs: object
    procs: list[Proc] = field(default_factory=list)

    restarts: list[str] = field(default_factory=list)
    _specs: dict[int, tuple[str, str, int]] = field(default_factory=dict)

    def worker(self, queues: str, pool: str = "prefork", concurrency: int = 2) -> Proc:
        proc = start_worker(self.env, self.logs, queues=queues, pool=pool, concurrency=concurrency)
        self.procs.append(proc)
        self._specs[id(proc)] = (queues, pool, concurrency)
        return proc

    def restart_exited_workers(self) -> None:
        """What a process supervisor does (compose's ``restart: unless-stopped``): start a worker
        again when it exited on its own. Restarts are recorded so a test can report them. A test
        that kills a worker on purpose removes it from ``procs`` first."""
        for proc in [p for p in self.procs if id(p) in self._specs and not p.alive()]:
            queues, pool, concurrency = self._specs.pop(id(proc))
            self.procs.remove(proc)
            last_error = next((line for line in reversed(proc.log_text().splitlines())
                               if "Unrecoverable error" in line or "Error" in line), "exited")
            self.restarts.append(f"{proc.name}: {last_error.strip()[:300]}")
            self.worker(queues, pool, concurrency)

    def beat(self) -> Proc:
        proc = Proc([str(VENV_BIN / "celery"), "-A", "workers.app", "beat", "--loglevel", "INFO", "--schedule",
                     str(self.logs / f"beat-{secrets.token_hex(3)}")], self.env, self.logs / "beat.log", "beat")
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for p in self.procs:
            p.stop()
        self.procs.clear()


@pytest.fixture()
def fault_stack(pg, tmp_path):
    from models.migrate import upgrade

    url = pg.create_database("wft_fault")
    upgrade(url)
    redis_server = RedisServer.start_own(appendonly=True)
    env = {"PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "HOME": os.environ.get("HOME", "/root"),
           "DATABASE_URL": url, "REDIS_URL": redis_server.url, "PYTHONUNBUFFERED": "1", **FAST_RECOVERY_ENV}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _reset_caches()
    stack = FaultStack(env, redis_server, tmp_path)
    try:
        yield stack
    finally:
        stack.stop()
        # stack.redis, not redis_server: R2 replaces the server mid-test and the replacement
        # must be stopped too (it used to outlive the suite).
        stack.redis.stop()
        if stack.redis is not redis_server:
            redis_server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _reset_caches()
        pg.drop_database(url)
