"""`make run`: the web app, a Celery worker and the beat scheduler, together.

Ctrl-C (or any process ending) stops all of them. Uses whatever DATABASE_URL and
broker the environment selects; by default SQLite and the serverless filesystem broker.
Unless EMAIL_HOST is set (in the environment or .env), outgoing mail goes to a catcher
on loopback (scripts/mail_sink.py) that keeps each message under var/mail/.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

COMMANDS = {
    "web": [PY, "manage.py", "runserver", "127.0.0.1:8000"],
    "worker": [
        PY,
        "-m",
        "celery",
        "-A",
        "workers",
        "worker",
        "--beat",
        "--loglevel",
        "INFO",
        "--pool",
        "solo",
    ],
}


def _email_configured() -> bool:
    if "EMAIL_HOST" in os.environ:
        return True
    dotenv = ROOT / ".env"
    lines = dotenv.read_text().splitlines() if dotenv.exists() else []
    return any(line.strip().startswith("EMAIL_HOST=") for line in lines)


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def main() -> int:
    commands = dict(COMMANDS)
    env = dict(os.environ)
    if not _email_configured():
        port = _free_port(1025)
        commands["mail"] = [PY, "scripts/mail_sink.py", "--port", str(port)]
        env |= {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port)}
    # Fixed argument lists of our own commands; nothing comes from input.
    processes = {
        name: subprocess.Popen(cmd, cwd=ROOT, env=env)  # noqa: S603
        for name, cmd in commands.items()
    }
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(p.poll() is None for p in processes.values()):
            time.sleep(0.3)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
