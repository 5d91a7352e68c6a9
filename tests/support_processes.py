"""Real processes for integration tests: a private Redis, a loopback SMTP sink and Celery
worker subprocesses that share the test database.

Everything binds to 127.0.0.1 on a port the kernel just handed out, never the
machine's shared Redis on 6379, and every process is started in its own session so
that cleanup can kill its whole process group (the worker forks an embedded beat).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

import redis
from aiosmtpd.controller import Controller
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 60.0
LOG_TAIL_CHARS = 12_000


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    condition: Callable[[], bool],
    *,
    what: str,
    timeout: float = WAIT_SECONDS,
    interval: float = 0.05,
    context: Callable[[], str] = lambda: "",
) -> None:
    """Poll `condition` until it holds; fail naming `what` (and `context()`) if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{context()}")
        time.sleep(interval)


def tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return text[-chars:]


# --- the test database, seen from another process -------------------------------------


def database_url_for_subprocesses() -> str:
    """DATABASE_URL for the database this test runs on (test_…, per xdist worker)."""
    s = connection.settings_dict
    user = quote(s["USER"] or "", safe="")
    password = quote(s["PASSWORD"] or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = s["HOST"] or "127.0.0.1"
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgres://{auth}{host}{port}/{quote(s['NAME'], safe='')}"


def process_env(*, broker_port: int, smtp_port: int, var_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Never inherit a broker or settings that could point at shared services.
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL", "PYTEST_XDIST_WORKER"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url_for_subprocesses(),
        CELERY_BROKER_URL=f"redis://127.0.0.1:{broker_port}/0",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        EMAIL_USE_TLS="0",
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
        # Every send ends within 2 s, so a killed worker's leased rows may come due
        # again after 7 s (the lease must outlast the longest send plus 5 s).
        NHI_SMTP_TOTAL_SECONDS="2",
        NHI_OUTBOUND_TOTAL_SECONDS="2",
        NHI_DELIVERY_LEASE_SECONDS="7",
        # Deliver at once: the tests wait for the outcome, not for a coalescing slot.
        NHI_DELIVERY_COALESCE_SECONDS="0",
        NHI_DELIVER_EVERY_SECONDS="1",
        NHI_SWEEP_EVERY_SECONDS="3600",
        NHI_VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


# --- Redis ------------------------------------------------------------------------------


class PrivateRedis:
    """A throwaway redis-server on its own port: no persistence, data dir in tmp."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / "redis.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.directory),
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        # Trusted, fixed argv (no shell): the binary found on PATH and our own options.
        self.process = subprocess.Popen(command, start_new_session=True)  # noqa: S603
        wait_until(
            self.ping,
            what=f"redis-server on port {self.port} to answer PING",
            timeout=20,
            context=lambda: tail(self.log_path),
        )

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)

    def ping(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"redis-server exited:\n{tail(self.log_path)}")
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """SHUTDOWN NOSAVE, falling back to killing the process group."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # The server closes the connection as it goes (or is already gone).
        with contextlib.suppress(redis.RedisError):
            self.client().shutdown(nosave=True)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_group(process)


# --- SMTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    recipients: tuple[str, ...]
    subject: str
    body: str
    message_id: str = ""
    accepted_at: float = 0.0  # time.monotonic() when the server answered 250


class RecordingHandler:
    """aiosmtpd handler: accepts every message, optionally slowly, and records it
    just before answering 250 (so whatever a client saw accepted is recorded)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._started = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            self._started += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        mail = ReceivedMail(
            recipients=tuple(sorted(r.lower() for r in envelope.rcpt_tos)),
            subject=str(message["Subject"]),
            body=text.get_content() if text is not None else "",
            message_id=str(message["Message-ID"] or ""),
            accepted_at=time.monotonic(),
        )
        with self._lock:
            self._messages.append(mail)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    def count(self) -> int:
        with self._lock:
            return len(self._messages)

    def in_flight(self) -> int:
        """Messages whose DATA arrived and that are not yet answered (being "sent")."""
        with self._lock:
            return self._started - len(self._messages)

    def recipients(self) -> set[str]:
        return {r for m in self.messages for r in m.recipients}


_MAIL_LOG = logging.getLogger("mail.log")


class SmtpSink:
    def __init__(self, delay: float = 0.0) -> None:
        self._log_level = logging.NOTSET
        self.port = free_port()
        self.handler = RecordingHandler(delay)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        # aiosmtpd logs every SMTP command at INFO; the test's own output matters more.
        self._log_level = _MAIL_LOG.level
        _MAIL_LOG.setLevel(logging.WARNING)
        self.controller.start()

    def stop(self) -> None:
        try:
            self.controller.stop()
        finally:
            _MAIL_LOG.setLevel(self._log_level)


class TricklingSmtp:
    """A hostile mail server: it greets (or, with `greet=False`, not even that), then
    answers one byte every `interval` seconds, forever, never ending a line. Every
    read's timeout is met; only a total deadline ends the exchange."""

    def __init__(self, *, greet: bool = True, interval: float = 1.0) -> None:
        self.greet = greet
        self.interval = interval
        self.accepted = 0
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]

    def start(self) -> None:
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:  # closed by stop()
                return
            self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                if self.greet:
                    conn.sendall(b"220 trickle.test ESMTP\r\n")
                    conn.recv(1024)  # EHLO
                conn.sendall(b"2")
                while not self._stop.wait(self.interval):
                    conn.sendall(b"5")
            except OSError:  # the client gave up: that is the point
                return

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()


# --- processes --------------------------------------------------------------------------


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process's whole group (it leads its own session) and reap it."""
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Worker:
    """`celery -A workers worker --beat --pool solo` as a subprocess, output to a file."""

    def __init__(
        self, name: str, directory: Path, env: dict[str, str], *, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.cwd = cwd
        self.log_path = directory / f"{name}.log"
        self.schedule_path = directory / f"{name}-beat-schedule"
        self.env = env
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "--beat",
            "--pool", "solo", "--loglevel", "INFO", "--hostname", f"{self.name}@%h",
            "-s", str(self.schedule_path),
        ]  # fmt: skip
        self._log = self.log_path.open("wb")
        # Trusted, fixed argv (no shell): this interpreter running Celery on our app.
        self.process = subprocess.Popen(  # noqa: S603
            command,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def require_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"worker {self.name} exited with {self.process.returncode}:\n{self.log()}"
            )

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return f"--- {self.log_path} ---\n{tail(self.log_path)}"


# --- gunicorn ---------------------------------------------------------------------------


class Gunicorn:
    """gunicorn with config/gunicorn_conf.py on a free loopback port, in its own process
    group; stdout (the access log) and stderr (the error log, Django's loggers) each go
    to a file. `cwd` (the repository by default) is its working directory; `args` are
    extra command-line options, which win over the config file."""

    def __init__(
        self,
        directory: Path,
        env: dict[str, str],
        *,
        cwd: Path = ROOT,
        workers: int = 1,
        args: tuple[str, ...] = (),
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.access_path = directory / "gunicorn-stdout.log"
        self.error_path = directory / "gunicorn-stderr.log"
        self.env = env
        self.cwd = cwd
        self.command = [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c", str(ROOT / "config" / "gunicorn_conf.py"), "config.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), *args,
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.access_path.open("wb") as out, self.error_path.open("wb") as err:
            # Trusted, fixed argv (no shell): the venv's gunicorn on our own app.
            self.process = subprocess.Popen(  # noqa: S603
                self.command, cwd=self.cwd, env=self.env, stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        wait_until(self.accepting, what=f"gunicorn on port {self.port}", context=self.logs)

    def accepting(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.logs()}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None:
            kill_group(self.process)
            self.process = None

    def logs(self) -> str:
        return (
            f"--- {self.access_path} ---\n{tail(self.access_path)}\n"
            f"--- {self.error_path} ---\n{tail(self.error_path)}"
        )
