"""A local PostgreSQL with pgvector for a user who has none: the server that the `pgserver` wheel ships.

    rag pg start [--data DIR]   start it (initialising DIR the first time) and print its RAG_PG_URL
    rag pg stop [--data DIR]    stop it

It listens on a Unix socket in DIR (no TCP port, no password: local processes only), and keeps running after
`rag pg start` returns, until `rag pg stop` or the machine's restart. For a server other machines use, run
PostgreSQL with pgvector as you would any (README, "PostgreSQL").
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from rag.errors import RagError


def default_data_dir() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "rag-vn-news" / "pgdata"


def _pgserver():
    try:
        with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set, falling back to /tmp/..."
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        raise RagError(f"pgserver is not installed ({exc}): run `bash scripts/setup.sh`") from exc
    return pgserver


def start(data_dir: Path | None = None, cleanup_mode: str | None = None):
    """Start (or find running) the server in `data_dir`; the pgserver handle. With cleanup_mode "stop" it stops
    when this process ends (tests), with None it keeps running."""
    data_dir = Path(data_dir or default_data_dir())
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        pgserver = _pgserver()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(data_dir, cleanup_mode=cleanup_mode)
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    except Exception as exc:  # noqa: BLE001 - initdb / pg_ctl failures: say where to look
        raise RagError(f"could not start PostgreSQL in {data_dir} ({type(exc).__name__}: {str(exc)[:200]}): see "
                       f"{data_dir / 'log'}, or remove {data_dir} to start afresh (that deletes its indexes)") from exc
    return server


def stop(data_dir: Path | None = None) -> bool:
    """Stop the server in `data_dir`; False when none was running there."""
    data_dir = Path(data_dir or default_data_dir())
    if not (data_dir / "postmaster.pid").exists():
        return False
    _pgserver()
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop"], pgdata=data_dir, user=user)
    return True
