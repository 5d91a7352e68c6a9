"""Load generator: N people sign in through the real form and use the registry at once.

    .venv/bin/python scripts/loadtest.py --base-url http://127.0.0.1:8000 \
        --users 50 --duration 60 --tokens-file var/load/tokens.json --json result.json

Each virtual user is a thread with its own session. It signs in like a person (GET the
form for its CSRF token, POST the username and password), then loops a fixed journey
with no think time (`--think` adds some): the dashboard, the inventory filtered and its
second page, a path's page, its team's page, My queue, the API's list and one path
through the API with its person's token, and every `--write-every` loops an attestation
through the API (a real, audited write that can be repeated). Every `--relogin-every`
loops it drops its cookies and signs in again, so sign-ins are measured under full load,
not only in the first seconds. A separate thread probes `/healthz` once a second.

The people are the demo's (`manage.py seed_demo`): virtual user i is
`--people[i % len(people)]`. The password comes from the environment
(`LOADTEST_PASSWORD`, default the demo's) and the API tokens from a JSON file
(`{"sam": "nhir_…"}`, written by scripts/load_stack.py): credentials never go on a
command line, and this script never prints them.

Output: requests per second overall, per endpoint count / p50 / p95 / p99 / max /
errors, the sign-in POST's latency (the server time a person waits for, queueing
included), and /healthz's worst latency; a table on stdout and, with `--json`, the same
figures as JSON. Traffic goes to the given base URL only: point it at a server on this
machine. Every request has a deadline (`--timeout`); the run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

DEMO_PASSWORD = "nhi-demo-pass"  # noqa: S105 - the demo's documented password (seed_demo)
DEFAULT_PEOPLE = ("sam", "pat", "lee", "dana")
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# The inventory's "next page" link carries an opaque keyset cursor.
NEXT_PAGE = re.compile(r'href="(\?[^"]*cursor=[^"]+)"')
INVENTORY_FILTER = "/paths/?status=active&status=review_due&risk_tier=high&risk_tier=critical"
API_LIST = "/api/v1/access-paths/?status=active&page_size=50"
ATTESTATION = {
    "decision": "keep",
    "still_needed": True,
    "justification_accurate": True,
    "least_privilege": True,
    "no_human_use": True,
    "note": "Load test: checked against the job manifest.",
}


class Failure(Exception):
    """A response the journey cannot go on from (recorded, then the loop starts over)."""


class Finished(Exception):
    """The run's time is up: no new request starts."""


@dataclass
class Samples:
    """Latencies (seconds) and outcomes of one endpoint, shared by every thread."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_endpoint: dict[str, Samples] = defaultdict(Samples)

    def add(self, endpoint: str, seconds: float, status: str, ok: bool) -> None:
        with self._lock:
            samples = self.by_endpoint[endpoint]
            samples.latencies.append(seconds)
            samples.statuses[status] += 1
            if not ok:
                samples.errors += 1


@dataclass(frozen=True)
class Person:
    """What a virtual user needs to know about its person, looked up once before the run."""

    username: str
    token: str
    team: str | None
    path_ids: tuple[str, ...]  # paths the person can see (pages and API retrieve)
    attestable: tuple[str, ...]  # paths the person may attest (own team, no lead sign-off)


@dataclass
class Options:
    base_url: str
    users: int
    duration: float
    think: float
    timeout: float
    ramp: float
    write_every: int
    relogin_every: int
    password: str


class VirtualUser(threading.Thread):
    def __init__(
        self, number: int, person: Person, options: Options, recorder: Recorder, stop_at: float
    ) -> None:
        super().__init__(name=f"vu-{number}", daemon=True)
        self.number = number
        self.person = person
        self.options = options
        self.recorder = recorder
        self.stop_at = stop_at
        self.rng = random.Random(number)  # noqa: S311 - picks pages, not secrets
        self.session = requests.Session()

    # -- one request, timed and recorded ------------------------------------------------

    def call(
        self,
        endpoint: str,
        method: str,
        target: str,
        *,
        expect: tuple[int, ...] = (200,),
        api: bool = False,
        **kwargs: Any,
    ) -> requests.Response | None:
        if time.monotonic() >= self.stop_at:
            raise Finished
        headers = kwargs.pop("headers", {})
        if api:
            headers["Authorization"] = f"Bearer {self.person.token}"
        started = time.perf_counter()
        try:
            response = self.session.request(
                method,
                urljoin(self.options.base_url, target),
                headers=headers,
                timeout=self.options.timeout,
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException as exc:
            self.recorder.add(endpoint, time.perf_counter() - started, type(exc).__name__, False)
            return None
        ok = response.status_code in expect
        self.recorder.add(endpoint, time.perf_counter() - started, str(response.status_code), ok)
        return response if ok else None

    # -- the journey ----------------------------------------------------------------------

    def sign_in(self) -> None:
        self.session.cookies.clear()
        form = self.call("GET /login/", "GET", "/login/")
        match = CSRF_FIELD.search(form.text) if form is not None else None
        if match is None:
            raise Failure("no sign-in form")
        data = {
            "csrfmiddlewaretoken": match.group(1),
            "username": self.person.username,
            "password": self.options.password,
            "next": "/",
        }
        headers = {"Referer": urljoin(self.options.base_url, "/login/")}
        # Success is a redirect; 200 means the form came back with an error.
        if self.call("POST /login/", "POST", "/login/", data=data, headers=headers, expect=(302,)):
            return
        raise Failure("sign-in refused")

    def journey(self, loop: int) -> None:
        person, pick = self.person, self.rng.choice
        self.call("GET /", "GET", "/")
        inventory = self.call("GET /paths/?filter", "GET", INVENTORY_FILTER)
        following = NEXT_PAGE.search(inventory.text) if inventory is not None else None
        if following is not None:
            target = "/paths/" + following.group(1).replace("&amp;", "&")
            self.call("GET /paths/?filter&cursor (page 2)", "GET", target)
        if person.path_ids:
            self.call("GET /paths/<id>/", "GET", f"/paths/{pick(person.path_ids)}/")
        if person.team:
            self.call("GET /teams/<slug>/", "GET", f"/teams/{person.team}/")
        self.call("GET /queues/mine/", "GET", "/queues/mine/")
        self.call("GET /api/v1/access-paths/", "GET", API_LIST, api=True)
        if person.path_ids:
            target = f"/api/v1/access-paths/{pick(person.path_ids)}/"
            self.call("GET /api/v1/access-paths/<id>/", "GET", target, api=True)
        if person.attestable and loop % self.options.write_every == 0:
            path_id = person.attestable[self.number % len(person.attestable)]
            self.call(
                "POST /api/v1/access-paths/<id>/attest/",
                "POST",
                f"/api/v1/access-paths/{path_id}/attest/",
                api=True,
                json=ATTESTATION,
                expect=(200, 201),
            )

    def run(self) -> None:
        # Spread the first sign-ins over the ramp, as people arrive.
        time.sleep(self.options.ramp * self.number / max(self.options.users, 1))
        loop, signed_in = 0, False
        while time.monotonic() < self.stop_at:
            try:
                if not signed_in or (loop and loop % self.options.relogin_every == 0):
                    signed_in = False
                    self.sign_in()
                    signed_in = True
                self.journey(loop)
            except Failure:
                time.sleep(0.5)  # recorded already; do not spin on a server that refuses
            except Finished:
                break
            loop += 1
            if self.options.think:
                time.sleep(self.options.think)
        self.session.close()


class HealthProbe(threading.Thread):
    """GET /healthz once a second (not more often while one is still waiting)."""

    def __init__(self, options: Options, recorder: Recorder, stop_at: float) -> None:
        super().__init__(name="healthz", daemon=True)
        self.options, self.recorder, self.stop_at = options, recorder, stop_at

    def run(self) -> None:
        with requests.Session() as session:
            while time.monotonic() < self.stop_at:
                started = time.perf_counter()
                try:
                    response = session.get(
                        urljoin(self.options.base_url, "/healthz"), timeout=self.options.timeout
                    )
                    status, ok = str(response.status_code), response.status_code == 200
                except requests.RequestException as exc:
                    status, ok = type(exc).__name__, False
                elapsed = time.perf_counter() - started
                self.recorder.add("GET /healthz (probe)", elapsed, status, ok)
                time.sleep(max(0.0, 1.0 - elapsed))


# -- before the run: who the people are -------------------------------------------------


def discover(base_url: str, username: str, token: str, timeout: float) -> Person:
    """The person's team and some paths to visit and attest, through the API."""
    headers = {"Authorization": f"Bearer {token}"}

    def get(target: str) -> dict[str, Any]:
        response = requests.get(urljoin(base_url, target), headers=headers, timeout=timeout)
        response.raise_for_status()
        return response.json()

    me = get("/api/v1/me/")
    teams = me.get("teams") or []
    team = teams[0]["slug"] if teams else None
    role = teams[0].get("role") if teams else None
    visible = get("/api/v1/access-paths/?page_size=100")["results"]
    attestable: list[str] = []
    if team:
        owned = get(f"/api/v1/access-paths/?owner_team={team}&status=active&page_size=100")
        attestable = [
            row["id"]
            for row in owned["results"]
            if role == "lead" or not row.get("requires_human_signoff")
        ]
    return Person(
        username=username,
        token=token,
        team=team,
        path_ids=tuple(row["id"] for row in visible),
        attestable=tuple(attestable[:20]),
    )


# -- figures ----------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def summarise(recorder: Recorder, elapsed: float, options: Options) -> dict[str, Any]:
    endpoints = {}
    total = errors = 0
    for name, samples in sorted(recorder.by_endpoint.items()):
        values = samples.latencies
        endpoints[name] = {
            "count": len(values),
            "errors": samples.errors,
            "statuses": dict(samples.statuses),
            "p50_ms": round(percentile(values, 0.50) * 1000, 1),
            "p95_ms": round(percentile(values, 0.95) * 1000, 1),
            "p99_ms": round(percentile(values, 0.99) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
        }
        if name != "GET /healthz (probe)":
            total += len(values)
        errors += samples.errors
    login = endpoints.get("POST /login/", {})
    health = endpoints.get("GET /healthz (probe)", {})
    everything = [
        value
        for name, samples in recorder.by_endpoint.items()
        if name != "GET /healthz (probe)"
        for value in samples.latencies
    ]
    return {
        "base_url": options.base_url,
        "users": options.users,
        "duration_s": options.duration,
        "elapsed_s": round(elapsed, 1),
        "requests": total,
        "requests_per_s": round(total / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(everything, 0.50) * 1000, 1) if everything else None,
        "p95_ms": round(percentile(everything, 0.95) * 1000, 1) if everything else None,
        "errors": errors,
        "login_p50_ms": login.get("p50_ms"),
        "login_p95_ms": login.get("p95_ms"),
        "healthz_max_ms": health.get("max_ms"),
        "endpoints": endpoints,
    }


def table(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['users']} users for {summary['duration_s']:.0f} s against "
        f"{summary['base_url']}: {summary['requests']} requests in {summary['elapsed_s']} s = "
        f"{summary['requests_per_s']} requests/s, p50 {summary['p50_ms']} ms, "
        f"p95 {summary['p95_ms']} ms, {summary['errors']} errors",
        f"sign-in POST p50 {summary['login_p50_ms']} ms, p95 {summary['login_p95_ms']} ms; "
        f"/healthz worst {summary['healthz_max_ms']} ms",
        "",
        f"{'endpoint':<42} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'errors':>6}",
    ]
    for name, row in summary["endpoints"].items():
        lines.append(
            f"{name:<42} {row['count']:>6} {row['p50_ms']:>8} {row['p95_ms']:>8} "
            f"{row['p99_ms']:>8} {row['max_ms']:>8} {row['errors']:>6}"
        )
        if row["errors"]:
            lines.append(f"{'':<42} statuses: {row['statuses']}")
    return "\n".join(lines)


# -- the command ------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=50, help="virtual users (default 50)")
    parser.add_argument("--duration", type=float, default=60, help="seconds (default 60)")
    parser.add_argument("--think", type=float, default=0.0, help="seconds between loops")
    parser.add_argument("--timeout", type=float, default=60, help="deadline of each request")
    parser.add_argument("--ramp", type=float, default=5, help="seconds to start every user")
    parser.add_argument("--write-every", type=int, default=3, help="attest every N loops")
    parser.add_argument("--relogin-every", type=int, default=10, help="sign in every N loops")
    parser.add_argument("--people", default=",".join(DEFAULT_PEOPLE), help="demo usernames")
    parser.add_argument("--tokens-file", type=Path, required=True, help='{"sam": "nhir_…"}')
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.users < 1 or args.duration <= 0 or args.write_every < 1 or args.relogin_every < 1:
        parser.error("--users, --duration, --write-every and --relogin-every must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        base_url=args.base_url.rstrip("/") + "/",
        users=args.users,
        duration=args.duration,
        think=args.think,
        timeout=args.timeout,
        ramp=min(args.ramp, args.duration / 2),
        write_every=args.write_every,
        relogin_every=args.relogin_every,
        password=os.environ.get("LOADTEST_PASSWORD", DEMO_PASSWORD),
    )
    tokens = json.loads(args.tokens_file.read_text())
    usernames = [name.strip() for name in args.people.split(",") if name.strip()]
    missing = [name for name in usernames if name not in tokens]
    if missing:
        print(f"--tokens-file has no token for: {', '.join(missing)}", file=sys.stderr)
        return 2
    people = [discover(options.base_url, name, tokens[name], options.timeout) for name in usernames]

    recorder = Recorder()
    started = time.monotonic()
    stop_at = started + options.duration
    threads: list[threading.Thread] = [HealthProbe(options, recorder, stop_at)]
    threads += [
        VirtualUser(i, people[i % len(people)], options, recorder, stop_at)
        for i in range(options.users)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A request in flight at the end finishes within its deadline.
        thread.join(timeout=options.duration + options.timeout + 10)
    summary = summarise(recorder, time.monotonic() - started, options)
    print(table(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
