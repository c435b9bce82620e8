"""Shared fixtures: real PostgreSQL, real Redis, a real API server and real Celery workers."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.support.procs import VENV_BIN, Proc, wait_for
from tests.support.services import Postgres, RedisServer, free_port

# Timeouts and deadlines shortened so recovery paths are exercised within a test's budget.
FAST_RECOVERY_ENV = {
    "WFT_TEST_LEASE_S": "20",
    "WFT_STALL_TIMEOUT_S": "8",
    "WFT_PENDING_TIMEOUT_S": "8",
    "WFT_REAPER_INTERVAL_S": "2",
    "WFT_VISIBILITY_TIMEOUT_S": "30",
    "WFT_UNACKED_RESTORE_INTERVAL_S": "1",
    "WFT_UNACKED_RESTORE_THROTTLE": "1",
}


@pytest.fixture(scope="session")
def pg() -> Iterator[Postgres]:
    server = Postgres.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.from_env_or_start()
    yield server
    server.stop()


def _reset_caches() -> None:
    from models.db import dispose_engine, get_engine, _sessionmaker
    from models.settings import get_settings

    dispose_engine()
    get_engine.cache_clear()
    _sessionmaker.cache_clear()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def database_url(pg: Postgres) -> Iterator[str]:
    from models.migrate import upgrade

    url = pg.create_database()
    upgrade(url)
    yield url


@pytest.fixture(scope="session")
def service_env(database_url: str, redis_server: RedisServer, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The environment every wft process of this session runs with; also applied in-process so
    tests can read the database directly."""
    env = {
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "WFT_SECRET_KEY": secrets.token_hex(16),
        "PYTHONUNBUFFERED": "1",
        **FAST_RECOVERY_ENV,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _reset_caches()
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    _reset_caches()


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


class ApiServer:
    def __init__(self, proc: Proc, url: str):
        self.proc = proc
        self.url = url


def start_api(env: dict[str, str], logs: Path, name: str = "api") -> ApiServer:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**env, "WFT_PUBLIC_URL": url}
    proc = Proc([str(VENV_BIN / "wft"), "api", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                env, logs / f"{name}-{port}.log", name)

    def up() -> bool:
        if not proc.alive():
            raise RuntimeError(f"API exited:\n{proc.log_text()[-3000:]}")
        return httpx.get(url + "/healthz", timeout=2).status_code == 200

    try:
        wait_for(up, 60, what="the API to answer /healthz")
    except BaseException:
        proc.stop()
        raise
    return ApiServer(proc, url)


@pytest.fixture(scope="session")
def api(service_env, logs_dir) -> Iterator[ApiServer]:
    server = start_api(service_env, logs_dir)
    yield server
    server.proc.stop()


def create_api_key(env: dict[str, str], org: str) -> str:
    out = subprocess.run([str(VENV_BIN / "wft"), "apikey", "create", "--org", org], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def api_key(service_env) -> str:
    return create_api_key(service_env, f"org-{secrets.token_hex(4)}")


@pytest.fixture(scope="session")
def other_api_key(service_env) -> str:
    return create_api_key(service_env, f"other-{secrets.token_hex(4)}")


@pytest.fixture()
def sdk(api, api_key):
    from retab import Retab

    client = Retab(api_key=api_key, base_url=api.url + "/v1", max_retries=0)
    yield client
    client.close() if hasattr(client, "close") else None


@pytest.fixture()
def http(api, api_key) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url + "/v1", headers={"Api-Key": api_key}, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def producer(service_env):
    """A Celery app built after the test environment is set, for sending tasks from the test."""
    from workers.app import make_app

    return make_app()


@pytest.fixture(scope="module")
def org(service_env) -> str:
    from tests.support import seed

    return seed.make_org()
