"""Alembic environment: the URL comes from the settings object (or an explicit config option)."""

from __future__ import annotations

from alembic import context

from models.db import normalize_url
from models.settings import get_settings
from models.tables import Base
from sqlalchemy import create_engine, pool

config = context.config
url = normalize_url(config.get_main_option("sqlalchemy.url") or get_settings().database_url)

with create_engine(url, poolclass=pool.NullPool).connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
