"""Start the compose-like stack on this machine, load it with scripts/loadtest.py, tear it down.

    .venv/bin/python scripts/load_stack.py --paths 20000 -- --users 50 --duration 60
    .venv/bin/python scripts/load_stack.py --checkout /tmp/nhi-before --database nhi_load_before

The stack is docker-compose's, as processes: a fresh PostgreSQL database on the local
server (127.0.0.1:5432, user postgres; its name must start with `nhi_load`, and only that
database is created and dropped — the server is never restarted), migrated, the demo
(`seed_demo`, its people with the demo password) and `--paths` more paths owned by 200
teams (bench's generator: every status, a Zipf-like spread with payments and data the
biggest owners), a private redis-server on a free port, an SMTP sink (aiosmtpd), a
Celery worker and beat, and gunicorn with the checkout's `config/gunicorn_conf.py`
(DEBUG off, a random SECRET_KEY, collected static files). Everything listens on
127.0.0.1 only and is started in its own process group, which is killed at the end.

`--checkout` runs another tree of the project (an older commit, to measure before and
after) with this interpreter; the load generator is always this tree's. `--env KEY=VALUE`
reaches every process (e.g. `--env GUNICORN_THREADS=8`). The request budgets
(NHI_RATE_*) are lifted: 50 virtual users share four demo people and one source address,
which real users would not. Arguments after `--` go to scripts/loadtest.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import requests
from psycopg import sql

HERE = Path(__file__).resolve().parent
# The machine's shared server (never restarted or reconfigured here): one database on it.
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PEOPLE = ("sam", "pat", "lee", "dana")
LOAD_TEAMS = 200
# gunicorn's default access-log line plus %(D)s, the microseconds from the moment a worker
# (thread) took the request to its response: the server's time, without the wait in the
# listen queue, which the load generator's latency includes.
ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'
SERVER_TIME = re.compile(r'"(?P<method>[A-Z]+) (?P<path>[^ ?"]*)[^"]*" \d{3} .* (?P<us>\d+)$')
INHERITED_NEVER = ("DJANGO_", "NHI_", "REDIS_", "CELERY_", "EMAIL_", "GUNICORN_")
SETTINGS_NEVER = {"DATABASE_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "WEB_CONCURRENCY"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def admin() -> psycopg.Connection:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True,
        connect_timeout=10,
    )  # fmt: skip


def database_exists(name: str) -> bool:
    with admin() as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        return row is not None


def drop_database(name: str) -> None:
    with admin() as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))


def server_times(log: Path) -> dict[str, float | int | None]:
    """Sign-in POSTs' and all requests' server time (p50, p95; ms) from the access log."""

    def p(values: list[float], share: float) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return round(ordered[min(len(ordered), max(1, round(share * len(ordered)))) - 1], 1)

    login: list[float] = []
    every: list[float] = []
    for line in log.read_text(errors="replace").splitlines():
        match = SERVER_TIME.search(line)
        if match is None or match["path"] == "/healthz":
            continue
        ms = int(match["us"]) / 1000
        every.append(ms)
        if match["method"] == "POST" and match["path"] == "/login/":
            login.append(ms)
    return {
        "server_login_p50_ms": p(login, 0.50),
        "server_login_p95_ms": p(login, 0.95),
        "server_p50_ms": p(every, 0.50),
        "server_p95_ms": p(every, 0.95),
        "server_logged_requests": len(every),
    }


class Stack:
    def __init__(self, args: argparse.Namespace) -> None:
        self.checkout: Path = args.checkout.resolve()
        self.database: str = args.database
        default_directory = Path(tempfile.gettempdir()) / "nhi-load" / self.database
        self.directory = Path(args.run_dir or default_directory).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tokens_path = self.directory / "tokens.json"
        self.redis_port, self.smtp_port, self.web_port = free_port(), free_port(), free_port()
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.env = self._environment(args.env)

    def _environment(self, extra: list[str]) -> dict[str, str]:
        # Nothing of the caller's configuration leaks in (a broker, a database, settings).
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(INHERITED_NEVER) and key not in SETTINGS_NEVER
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="0",
            SECRET_KEY=secrets.token_urlsafe(64),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_COOKIES="0",  # plain http on loopback, as docker-compose's default
            DATABASE_URL=f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}",
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(self.smtp_port),
            EMAIL_USE_TLS="0",
            BASE_URL=f"http://127.0.0.1:{self.web_port}",
            NHI_VAR_DIR=str(self.directory / "var"),
            NHI_RATE_PER_PERSON="1000000",
            NHI_RATE_PER_TEAM="1000000",
            NHI_RATE_ANONYMOUS="1000000",
            PYTHONUNBUFFERED="1",
        )
        for item in extra:
            key, _, value = item.partition("=")
            env[key] = value
        return env

    # -- the database -----------------------------------------------------------------

    def manage(self, *arguments: str, env: dict[str, str] | None = None) -> str:
        # Trusted argv (no shell): this interpreter running the checkout's manage.py.
        result = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *arguments],
            cwd=self.checkout,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if result.returncode != 0:
            raise SystemExit(f"manage.py {arguments[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def prepare(self, paths: int, reuse: bool) -> None:
        if reuse and self.tokens_path.exists() and database_exists(self.database):
            print(f"reusing database {self.database}", flush=True)
            self.manage("collectstatic", "--noinput")
            return
        drop_database(self.database)
        with admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        started = time.monotonic()
        self.manage("migrate", "--noinput")
        print(f"migrated in {time.monotonic() - started:.0f} s", flush=True)
        # The demo sets its people's passwords only with DEBUG on.
        self.manage("seed_demo", env={**self.env, "DEBUG": "1"})
        if paths:
            self.manage("shell", "-c", LOAD_PATHS.format(paths=paths, database=self.database))
        self.manage("collectstatic", "--noinput")
        tokens = {}
        for name in PEOPLE:
            issue = ["create_api_token", "--user", name, "--name", f"load-{name}",
                     "--scopes", "read,write", "--expires-in-days", "1"]  # fmt: skip
            tokens[name] = self.manage(*issue).strip()  # the token alone is on stdout
        self.tokens_path.touch(mode=0o600)
        self.tokens_path.write_text(json.dumps(tokens))
        print(f"database {self.database} ready in {time.monotonic() - started:.0f} s", flush=True)

    # -- the processes ----------------------------------------------------------------

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.directory / f"{name}.log").open("wb")
        # Trusted argv (no shell); own session, so its whole group is killed at the end.
        process = subprocess.Popen(  # noqa: S603
            command, cwd=self.checkout, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.processes.append((name, process))
        return process

    def up(self) -> None:
        python, venv_bin = sys.executable, Path(sys.executable).parent
        redis_server = shutil.which("redis-server") or "redis-server"
        celery = [python, "-m", "celery", "-A", "workers"]
        redis = [redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.directory)]  # fmt: skip
        beat = [*celery, "beat", "--loglevel", "INFO",
                "--schedule", str(self.directory / "beat-schedule")]  # fmt: skip
        web = [str(venv_bin / "gunicorn"), "-c", "config/gunicorn_conf.py",
               "config.wsgi:application", "--bind", f"127.0.0.1:{self.web_port}",
               "--access-logformat", ACCESS_FORMAT]  # fmt: skip
        self.start("redis", redis)
        self.start("smtp", [python, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.smtp_port}"])
        self.start("worker", [*celery, "worker", "--loglevel", "INFO"])
        self.start("beat", beat)
        self.gunicorn = self.start("gunicorn", web)  # its pid is the master's
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base_url}/healthz", timeout=5).status_code == 200:
                    return
            for name, process in self.processes:
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited; its log is in {self.directory}")
            time.sleep(0.5)
        raise SystemExit(f"gunicorn did not answer /healthz; logs in {self.directory}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def down(self) -> None:
        for _, process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    """User + system CPU time of one process (Linux /proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    # After the command: state is fields[0]; utime, stime, cutime, cstime are 11..14.
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


class Meter(threading.Thread):
    """What the run cost the server, whatever else the machine was running: the CPU time
    of gunicorn (master, live workers and the workers it reaped, recycled ones included)
    and of this database's PostgreSQL backends, and the most connections held at once.
    CPU time per request does not grow when other work shares the cores; latency does."""

    def __init__(self, database: str, gunicorn_pid: int) -> None:
        super().__init__(daemon=True)
        self.database, self.gunicorn_pid = database, gunicorn_pid
        self.peak_connections = 0
        self.backend_cpu: dict[int, float] = {}
        self.stopped = threading.Event()
        self.gunicorn_start = self.gunicorn_cpu()
        self.backend_start: dict[int, float] = {}

    def gunicorn_cpu(self) -> float:
        own = cpu_seconds(self.gunicorn_pid, with_reaped_children=True)
        return own + sum(cpu_seconds(pid) for pid in children(self.gunicorn_pid))

    def sample(self, conn: psycopg.Connection) -> None:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.database]
        ).fetchall()
        self.peak_connections = max(self.peak_connections, len(rows))
        for (pid,) in rows:
            used = cpu_seconds(pid)
            self.backend_start.setdefault(pid, used)
            self.backend_cpu[pid] = used

    def run(self) -> None:
        with admin() as conn:
            self.sample(conn)
            while not self.stopped.wait(1.0):
                self.sample(conn)
            self.sample(conn)

    def figures(self, requests: int) -> dict[str, float | int]:
        web = self.gunicorn_cpu() - self.gunicorn_start
        database = sum(used - self.backend_start[pid] for pid, used in self.backend_cpu.items())
        per_request = (web + database) / requests * 1000 if requests else 0.0
        return {
            "postgres_connections_peak": self.peak_connections,
            "gunicorn_cpu_s": round(web, 1),
            "postgres_cpu_s": round(database, 1),
            "server_cpu_ms_per_request": round(per_request, 1),
            # What two dedicated cores could serve at this cost (an upper bound).
            "requests_per_s_two_cores_bound": round(2000 / per_request, 1) if per_request else 0,
        }


# Runs inside the checkout's Django (manage.py shell -c): 200 owning teams with one lead
# each, then bench's COPY generator with the demo's payments and data first in the
# Zipf-like ownership (the biggest owners) and the demo's platform team as steward.
LOAD_PATHS = """
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from registry.management.commands.bench import TAGS, Command
from registry.models import Membership, Tag, Team
now = timezone.now()
load = [Team(slug=f"load-{{i:03d}}", name=f"Load {{i:03d}}", kind=Team.Kind.PRODUCT,
             email=f"load-{{i:03d}}@example.com", created_at=now, updated_at=now)
        for i in range({teams})]
Team.objects.bulk_create(load)
load = list(Team.objects.filter(slug__startswith="load-").order_by("slug"))
User = get_user_model()
people = [User(username=f"load-lead-{{i:03d}}") for i in range({teams})]
for person in people:
    person.set_unusable_password()
User.objects.bulk_create(people)
people = list(User.objects.filter(username__startswith="load-lead-").order_by("username"))
Membership.objects.bulk_create([Membership(user=p, team=t, role=Membership.Role.LEAD,
                                           started_at=now) for p, t in zip(people, load)])
Tag.objects.bulk_create([Tag(slug=s) for s in TAGS], ignore_conflicts=True)
owning = [Team.objects.get(slug="payments"), Team.objects.get(slug="data"), *load]
Command()._load_paths("{database}", {paths}, [*owning, Team.objects.get(slug="platform")], now)
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
""".replace("{teams}", str(LOAD_TEAMS))


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    ours, loadtest = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, default=HERE.parent, help="project tree to run")
    parser.add_argument("--database", default="nhi_load", help="must start with nhi_load")
    parser.add_argument("--paths", type=int, default=20_000, help="paths beyond the demo's")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for every process")
    parser.add_argument("--run-dir", help="logs, tokens and results (default /tmp/nhi-load/DB)")
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument("--keep", action="store_true", help="do not drop the database after")
    parser.add_argument("--label", default="run", help="names the result file")
    args = parser.parse_args(ours)
    if not args.database.startswith("nhi_load"):
        parser.error("--database must start with nhi_load (never touch another database)")
    return args, loadtest


def main(argv: list[str] | None = None) -> int:
    args, loadtest_args = parse_args(argv)
    stack = Stack(args)
    meter: Meter | None = None
    try:
        stack.prepare(args.paths, args.reuse)
        stack.up()
        result = stack.directory / f"{args.label}.json"
        meter = Meter(args.database, stack.gunicorn.pid)
        meter.start()
        load_before = os.getloadavg()
        # Trusted argv (no shell): this tree's load generator against the stack.
        code = subprocess.run(  # noqa: S603
            [sys.executable, str(HERE / "loadtest.py"), "--base-url", stack.base_url,
             "--tokens-file", str(stack.tokens_path), "--json", str(result), *loadtest_args],
            timeout=3600, check=False,
        ).returncode  # fmt: skip
        meter.stopped.set()
        meter.join(timeout=10)
        figures = json.loads(result.read_text()) if result.exists() else {}
        figures.update(meter.figures(figures.get("requests", 0)))
        figures.update(server_times(stack.directory / "gunicorn.log"))
        figures["checkout"] = str(stack.checkout)
        figures["env"] = list(args.env)
        # The machine is shared: the 1-minute load average before and after says how much
        # else was running (2 cores: anything above ~2 is contention).
        figures["loadavg_1m_before_after"] = [load_before[0], os.getloadavg()[0]]
        result.write_text(json.dumps(figures, indent=2) + "\n")
        print(
            f"server CPU: gunicorn {figures['gunicorn_cpu_s']} s, PostgreSQL "
            f"{figures['postgres_cpu_s']} s = {figures['server_cpu_ms_per_request']} ms per "
            f"request; server time of a sign-in p50 {figures['server_login_p50_ms']} ms, p95 "
            f"{figures['server_login_p95_ms']} ms; peak PostgreSQL connections "
            f"{figures['postgres_connections_peak']}; "
            f"load average {figures['loadavg_1m_before_after']}; figures in {result}"
        )
        return code
    finally:
        if meter is not None:
            meter.stopped.set()
        stack.down()
        if not args.keep:
            drop_database(args.database)


if __name__ == "__main__":
    sys.exit(main())
