"""`make run`: the web app, a Celery worker and the beat scheduler, together.

Ctrl-C (or either process ending) stops all of them. Uses whatever DATABASE_URL and
broker the environment selects; by default SQLite and the serverless filesystem broker.
"""

from __future__ import annotations

import signal
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


def main() -> int:
    # Fixed argument lists of our own commands; nothing comes from input.
    processes = {name: subprocess.Popen(cmd, cwd=ROOT) for name, cmd in COMMANDS.items()}  # noqa: S603
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
