"""What the benchmark run needs from its surroundings (bench.py): no wake-up messages
to Celery while measuring, and the machine's memory and CPU model for the report."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import django
from django.db import connection
from django.dispatch import Signal


@contextmanager
def no_worker_kicks() -> Iterator[None]:
    """No wake-up messages to Celery while measuring: the broker is not what is measured,
    and a worker woken for a scratch database would look for work in the configured one.
    The outbox rows are still written; only the kick after commit is left out."""
    from registry.notifications.outbox import outbox_written
    from registry.services.exports import export_queued
    from registry.services.import_queue import import_queued
    from workers.apps import kick_delivery, kick_export, kick_import

    wiring: list[tuple[Signal, Callable[..., Any], str]] = [
        (outbox_written, kick_delivery, "workers.kick_delivery"),
        (import_queued, kick_import, "workers.kick_import"),
        (export_queued, kick_export, "workers.kick_export"),
    ]
    disconnected = [
        (signal, receiver, uid)
        for signal, receiver, uid in wiring
        if signal.disconnect(dispatch_uid=uid)
    ]
    try:
        yield
    finally:
        for signal, receiver, uid in disconnected:
            signal.connect(receiver, dispatch_uid=uid)


def meminfo_kb(name: str) -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def postgresql_settings() -> tuple[str, dict[str, str]]:
    """The server's version and the settings the figures depend on."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]
        knobs = {}
        for knob in (
            "shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size",
            "jit", "max_parallel_workers_per_gather", "random_page_cost", "max_wal_size",
            "synchronous_commit",
        ):  # fmt: skip
            cursor.execute(f"SHOW {knob}")
            knobs[knob] = cursor.fetchone()[0]
    return version, knobs


def machine_facts() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "ram_gb": round(meminfo_kb("MemTotal") / 1024 / 1024, 1),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "django": django.get_version(),
    }
