"""A private PostgreSQL server for tests that stop, restart or starve the database.

The machine's shared server on 5432 is never touched: this one is a fresh cluster
(`initdb`) in a temporary directory on a port the kernel just handed out, started with
`pg_ctl`, with trust authentication on loopback only. PostgreSQL refuses to run as
root, so when the tests run as root the cluster belongs to the `postgres` system user
and its commands run through `runuser`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.support_processes import free_port, tail, wait_until


def _bin_dir() -> Path:
    """The server binaries (not on PATH on Debian): the newest installed major version."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise AssertionError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")


def may_skip_private_postgres() -> bool:
    """Skip the private-server tests only where PostgreSQL is optional: with
    NHI_REQUIRE_POSTGRES=1 (CI) missing binaries fail them instead of hiding them."""
    return not postgres_server_available() and os.environ.get("NHI_REQUIRE_POSTGRES") != "1"


def postgres_server_available() -> bool:
    try:
        _bin_dir()
    except AssertionError:
        return False
    return True


class PrivatePostgres:
    """initdb + pg_ctl on a free port; `stop`, `start` and `restart` at will, `close` at
    the end removes everything."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = free_port()
        # Directly under /tmp: pytest's tmp_path sits in root-only directories the
        # `postgres` user could not enter.
        self.directory = Path(tempfile.mkdtemp(prefix="nhi-private-pg-", dir="/tmp"))
        self.data = self.directory / "pgdata"
        self.log_path = self.directory / "postgres.log"
        self.as_root = os.geteuid() == 0
        self.user = "postgres"
        self._initdb()

    # --- running commands as the cluster's owner -------------------------------------

    def _command(self, *argv: str) -> list[str]:
        if self.as_root:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def _run(self, *argv: str, timeout: float = 60) -> None:
        # Trusted, fixed argv (no shell): PostgreSQL's own binaries and our options.
        subprocess.run(  # noqa: S603
            self._command(*argv),
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd="/",
        )

    def _initdb(self) -> None:
        if self.as_root:
            shutil.chown(self.directory, "postgres", "postgres")
            self.directory.chmod(0o700)
        else:
            self.user = os.environ.get("USER") or "postgres"
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user,
            "--auth=trust", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip

    # --- the server ------------------------------------------------------------------

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
            f"{self.directory} -c fsync=off -c max_connections=100"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        wait_until(
            self.ready,
            what=f"private PostgreSQL on port {self.port}",
            timeout=30,
            context=lambda: tail(self.log_path),
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session and stops; `immediate` is a crash (no checkpoint)."""
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def ready(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # our own fixed test names
        return self.url(name)

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)
