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
from django.db.models import Count
from django.dispatch import Signal
from django.utils import timezone

from registry.management.commands._bench_load import OWNING_TEAMS, LoadReport
from registry.rules.actors import Actor
from registry.selectors import path_queryset


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


def run_facts(
    *, n_paths: int, samples: int, sections: Any, migrate_s: float, load: LoadReport | None
) -> dict[str, Any]:
    """What the JSON file says about the run besides its rows: the estate's status mix,
    the machine, PostgreSQL's settings, the migrate and the load."""
    statuses = (
        path_queryset(actor=Actor.system("bench"))
        .values("status").annotate(n=Count("pk")).order_by("-n")
    )  # fmt: skip
    mix = {row["status"]: row["n"] for row in statuses}
    version, knobs = postgresql_settings()
    return {
        "paths": n_paths,
        "samples": samples,
        "sections": sections,
        "measured_at": timezone.now().isoformat(),
        "estate": {"paths": n_paths, "owning_teams": OWNING_TEAMS, "statuses": mix},
        "machine": machine_facts(),
        "postgresql": {"version": version.split(" on ")[0], **knobs},
        "migrate_seconds": round(migrate_s, 1),
        "load": None
        if load is None
        else {
            "seconds": {k: round(v, 2) for k, v in load.seconds.items()},
            "total_seconds": round(load.total_s, 1),
            "paths": load.paths,
            "tags": load.tags,
            "identifiers": load.identifiers,
            "attestations": load.attestations,
            "slowest_indexes": load.slowest_indexes,
        },
    }
