"""The SQLAlchemy engine and session factory: the only process-wide database state."""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from models.settings import get_settings


def normalize_url(url: str) -> str:
    # Accept the libpq-style URLs people paste (postgres://, postgresql://) and pin psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache
def get_engine() -> Engine:
    return create_engine(
        normalize_url(get_settings().database_url),
        # No pre-ping: it costs a round trip per checkout on the per-test hot path. A connection
        # PostgreSQL killed fails its next statement instead; SQLAlchemy then invalidates the pool,
        # tasks retry infrastructure errors, and the API answers 503 (clients retry 5xx).
        pool_pre_ping=False,
        pool_size=5,
        max_overflow=10,
    )


@lru_cache
def _sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception."""
    session = _sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engine() -> None:
    """Drop pooled connections (after fork in a Celery pool child, or in tests)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)


@contextmanager
def autocommit() -> Iterator[Connection]:
    """A connection in autocommit mode, for hot paths made of one statement: no BEGIN / COMMIT
    round trips (each single statement is its own transaction)."""
    with get_engine().execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        yield conn
