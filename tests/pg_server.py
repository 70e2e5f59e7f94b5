"""A throw-away PostgreSQL server in a temporary directory (tests and benchmarks).

Debian's PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user
the package creates (`runuser`). It listens on a unix socket only (no TCP), and is stopped and
deleted on the way out.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PORT = 55432


def pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (scripts/ensure-system.sh installs Debian's postgresql)")
    return found[-1].parent


@contextlib.contextmanager
def temp_postgres() -> Iterator[str]:
    """Start a server; yields its socket directory (connect with host=DIR port=PORT user=postgres)."""
    b = pg_bin()
    d = tempfile.mkdtemp(prefix="crpg", dir="/tmp")  # short: unix socket paths are limited to ~100 bytes
    user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if user:
        shutil.chown(d, "postgres", "postgres")

    def run(*a: str) -> None:
        subprocess.run([*user, *a], check=True, capture_output=True, timeout=120)

    try:
        run(str(b / "initdb"), "-D", f"{d}/data", "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        run(str(b / "pg_ctl"), "-D", f"{d}/data", "-l", f"{d}/log", "-w", "-t", "60", "-o",
            f"-k {d} -p {PORT} -c listen_addresses='' -c fsync=off -c max_connections=200", "start")
    except subprocess.CalledProcessError as e:
        log = Path(d, "log").read_text() if Path(d, "log").exists() else ""
        shutil.rmtree(d, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {e.stderr.decode(errors='replace')}{log}") from None
    try:
        yield d
    finally:
        subprocess.run([*user, str(b / "pg_ctl"), "-D", f"{d}/data", "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(d, ignore_errors=True)


def create_database(socket_dir: str, name: str) -> str:
    """A new empty database; returns its coderouge store URL."""
    import psycopg

    with psycopg.connect(f"host={socket_dir} port={PORT} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres@/{name}?host={socket_dir}&port={PORT}"


def drop_database(socket_dir: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"host={socket_dir} port={PORT} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
