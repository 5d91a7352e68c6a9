"""How `manage.py bench` measures one row of its table: wall time of a first call and of
repeated calls, the database statements Django sent, and the process's peak memory.

Query counts come from a connection execute wrapper (a counter, no SQL kept), so they
stay exact for a sweep or an import that sends hundreds of thousands of statements,
where Django's query log (capped at 9,000 entries) would not. Peak memory is the
growth of the process's resident set above where it stood when the row started: the
kernel's high-water mark (VmHWM) is reset before each row through /proc/self/clear_refs,
so one row's peak is not hidden by an earlier, bigger one. Where that file cannot be
written (not Linux), the growth of getrusage's lifetime maximum is reported instead,
which shows only new peaks.
"""

from __future__ import annotations

import math
import re
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection

_STATUS = Path("/proc/self/status")
SLOW_MS = 2_000
SLOW_SAMPLES = 3
_CLEAR_REFS = Path("/proc/self/clear_refs")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def p95(values: list[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


class QueryCounter:
    """Counts the statements Django executes on the default connection."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def counting_queries() -> Iterator[QueryCounter]:
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


def _status_kb(name: str) -> int | None:
    try:
        found = re.search(rf"^{name}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) if found else None


@dataclass
class MemoryPeak:
    mb: float = 0.0
    method: str = ""


@contextmanager
def peak_memory() -> Iterator[MemoryPeak]:
    """The peak resident memory reached inside the block, above the resident memory at
    its start, in MB."""
    result = MemoryPeak()
    try:
        _CLEAR_REFS.write_text("5")  # reset VmHWM to the current VmRSS (Linux >= 4.0)
        start = _status_kb("VmRSS")
    except OSError:
        start = None
    if start is not None:
        yield result
        peak = _status_kb("VmHWM") or start
        result.mb, result.method = max(peak - start, 0) / 1024, "VmHWM"
        return
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield result
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result.mb, result.method = (after - before) / 1024, "ru_maxrss"


@dataclass
class Timing:
    """One measured piece of work: the first call, then `samples` timed calls."""

    first_ms: float
    samples_ms: list[float]
    queries: int | None
    queries_varied: bool
    peak_mb: float
    result: Any = None  # what the last call returned (rows, a response, a summary)

    @property
    def median_ms(self) -> float:
        return median(self.samples_ms) if self.samples_ms else self.first_ms

    @property
    def p95_ms(self) -> float:
        return p95(self.samples_ms) if self.samples_ms else self.first_ms


def measure(work: Callable[[], Any], samples: int, *, count_queries: bool = True) -> Timing:
    """Time `work` once (the first load, reported on its own), then `samples` times
    (SLOW_SAMPLES times when the first call took over SLOW_MS).
    The query count is the last timed call's; `queries_varied` says whether the timed
    calls disagreed (a query count that depends on the call is itself a finding)."""
    counts: list[int] = []
    samples_ms: list[float] = []
    with peak_memory() as peak:
        with counting_queries() as counter:
            started = time.perf_counter()
            result = work()
            first_ms = (time.perf_counter() - started) * 1000
        first_count = counter.count
        if first_ms > SLOW_MS:
            # A call this slow is far off any goal: a few repeats say so as well as
            # twenty, and keep a million-path run within the hour.
            samples = min(samples, SLOW_SAMPLES)
        for _ in range(samples):
            with counting_queries() as counter:
                started = time.perf_counter()
                result = work()
                samples_ms.append((time.perf_counter() - started) * 1000)
            counts.append(counter.count)
    queries = (counts[-1] if counts else first_count) if count_queries else None
    varied = len(set(counts)) > 1
    return Timing(first_ms, samples_ms, queries, varied, peak.mb, result)


@dataclass
class Row:
    """One line of the table (and one object of the JSON file)."""

    section: str
    what: str
    timing: Timing | None = None
    anchor: str = ""
    anchor_timing: Timing | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.timing is None or self.anchor_timing is None:
            return None
        base = self.anchor_timing.median_ms
        return self.timing.median_ms / base if base > 0 else None

    def as_json(self) -> dict[str, Any]:
        def timing(t: Timing | None) -> dict[str, Any] | None:
            if t is None:
                return None
            return {
                "first_ms": t.first_ms,
                "median_ms": t.median_ms,
                "p95_ms": t.p95_ms,
                "samples_ms": t.samples_ms,
                "queries": t.queries,
                "queries_varied": t.queries_varied,
                "peak_mb": t.peak_mb,
            }

        return {
            "section": self.section,
            "what": self.what,
            "timing": timing(self.timing),
            "anchor": self.anchor,
            "anchor_timing": timing(self.anchor_timing),
            "ratio": self.ratio,
            "note": self.note,
            **({"extra": self.extra} if self.extra else {}),
        }


def fmt_ms(ms: float | None) -> str:
    """Milliseconds below ten seconds, seconds above: one unit per magnitude."""
    if ms is None or math.isnan(ms):
        return "-"
    if ms >= 10_000:
        return f"{ms / 1000:,.1f} s"
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def table_lines(rows: list[Row], *, n_paths: int, samples: int) -> list[str]:
    """The printed table: a header, a rule between sections, a row per measurement."""
    lines: list[str] = []
    header = (
        f"{'what':<44} {'first':>9} {'median':>9} {'p95':>9} {'queries':>7} "
        f"{'peak MB':>7} | {'anchor':<34} {'median':>9} {'ratio':>6} | note"
    )
    lines.append("")
    lines.append(
        f"{n_paths:,} paths; {samples} timed calls per row after the first (one "
        "call for the sweep and the import); server time through the Django test client; "
        "DEBUG off; queries = statements Django sent in one call; peak MB = resident "
        "memory above the row's start"
    )
    lines.append(header)
    section = ""
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append("-" * len(header))
        t, a = row.timing, row.anchor_timing
        ratio = f"{row.ratio:.1f}x" if row.ratio is not None else "-"
        queries = "-" if t is None or t.queries is None else str(t.queries)
        if t is not None and t.queries_varied:
            queries += "*"
        lines.append(
            f"{row.what[:44]:<44} {fmt_ms(t.first_ms if t else None):>9} "
            f"{fmt_ms(t.median_ms if t else None):>9} "
            f"{fmt_ms(t.p95_ms if t and t.samples_ms else None):>9} "
            f"{queries:>7} {(f'{t.peak_mb:.1f}' if t else '-'):>7} | "
            f"{row.anchor[:34]:<34} {fmt_ms(a.median_ms if a else None):>9} {ratio:>6} | "
            f"{row.note}"
        )
    if any(row.timing is not None and row.timing.queries_varied for row in rows):
        lines.append("(* the query count differed between calls; the last call's is shown)")
    return lines
