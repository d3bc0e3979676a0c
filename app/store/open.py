"""Chooses the store backend from the settings: SQLite unless DATABASE_URL is set."""

from __future__ import annotations

from app.settings import Settings
from app.store.base import Store
from app.store.retention import RetentionPolicy
from app.store.sqlite import open_sqlite_store


async def open_store(settings: Settings) -> Store:
    if settings.database_url:
        from app.store.postgres import open_postgres_store

        return await open_postgres_store(settings.database_url)
    return await open_sqlite_store(settings.store_path, wal_max_bytes=settings.sqlite_wal_max_bytes)


def retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        deliveries_s=settings.delivery_retention_s, history_s=settings.history_retention_s
    )
