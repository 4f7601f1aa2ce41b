"""The store the settings name: the FAISS folder (rag/indexing/store.py) or PostgreSQL (rag/indexing/pgstore.py).
It sits above both, so that neither imports the other's module back."""

from __future__ import annotations

from rag.indexing.store import IndexStore


def open_store(settings):
    if settings.store == "postgres":
        from rag.indexing.pgstore import PostgresStore  # psycopg loads only for a PostgreSQL store

        return PostgresStore(settings.pg_url or "", settings.pg_store)
    return IndexStore(settings.index_dir)
