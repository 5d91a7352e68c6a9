"""Helpers shared by the page tests (tests/web/test_*.py): URLs, reading a page and its
forms as a browser would, "nothing changed", the actions a path's page posts, and the
pages every persona is shown."""

from __future__ import annotations

import datetime as dt
import html as htmllib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from registry.models import AccessPath
from registry.services.security import SECURITY_ACTIONS
from tests.assertions import snapshot

DAY = dt.timedelta(days=1)
CLAIM_REASON = "Our nightly payout batch runs under this service account."
WAIVER_REASON = "The vendor API offers no narrower scope for this export job."
TEAM_OF = {"sam": "security", "pat": "payments", "lee": "payments", "dana": "data"}
CONFIRMED = {
    "still_needed": "on",
    "justification_accurate": "on",
    "least_privilege": "on",
    "no_human_use": "on",
}


def text(response) -> str:
    """The page as a reader sees it (entities decoded)."""
    return htmllib.unescape(response.content.decode())


def detail_url(path) -> str:
    return reverse("registry:path-detail", args=[path.pk])


def fresh(path) -> AccessPath:
    return AccessPath.objects.get(pk=path.pk)


def local(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M")


@contextmanager
def nothing_changes():
    """Every registry row (paths with their versions and states, claims, transfers,
    attestations, exceptions, audit events) is as it was. A refusal's own security
    event (request.refused) is not a change."""

    def state() -> dict:
        rows = snapshot()
        rows["AuditEvent"] = [e for e in rows["AuditEvent"] if e["action"] not in SECURITY_ACTIONS]
        return rows

    before = state()
    yield
    assert state() == before


# --- The actions ------------------------------------------------------------------------


@dataclass
class Act:
    """One action ready to post: where, what, and what success looks like."""

    path: AccessPath
    url: str
    data: dict
    events: list[str]
    effect: Callable[[AccessPath], None] = field(default=lambda path: None)


JUSTIFICATION_EDITED = "The nightly billing export job reads invoices and refunds from payments."


class FormReader(HTMLParser):
    """What a browser would submit from the form posting to `action` ("" for a form
    posting back to its page): the values as rendered, checked boxes, selected options."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.done = False
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and not self.done:
            self.inside = a.get("action", "") == self.action
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.values.setdefault(name, []).append(a.get("value") or "")
        elif tag == "select":
            self._select = name
            self.values.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select].append(a.get("value") or "")
        elif tag == "textarea":
            self._textarea = name
            self.values[name] = [""]

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside, self.done = False, True
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea][0] += data.removeprefix("\n")


def rendered_form(response, action: str = "") -> dict[str, list[str]]:
    reader = FormReader(action)
    reader.feed(response.content.decode())
    return reader.values


def submit_edit(client, path, **changes):
    """GET the edit page, change some fields, POST what the browser would."""
    url = reverse("registry:path-edit", args=[path.pk])
    form = rendered_form(client.get(url))
    form.pop("csrfmiddlewaretoken", None)
    form.update({name: [str(value)] for name, value in changes.items()})
    return client.post(url, form)


def perform(client, act: Act):
    if act.url.endswith("/edit/"):
        changes = {k: v for k, v in act.data.items() if k != "version"}
        return submit_edit(client, act.path, **changes)
    return client.post(act.url, act.data)


# --- The pages, and who may see them ---------------------------------------------------

PERSONAS = ("sam", "pat", "lee", "dana", "otto")
ACTION_BUTTONS = {"Claim", "Approve", "Reject", "Attest", "Transfer", "Accept", "Decline", "Revoke"}


def expected_statuses(default: int, **overrides: int) -> dict[str, int]:
    return {persona: overrides.get(persona, default) for persona in PERSONAS}


ALL_200 = expected_statuses(200)
PAYMENTS_ONLY = expected_statuses(404, sam=200, pat=200, lee=200)
TEAM_MEMBERS = expected_statuses(
    200, otto=404
)  # unowned and claim-pending paths: any team sees them


def edit_url(path) -> str:
    return reverse("registry:path-edit", args=[path.pk])


# page name -> (URL from the scene, status per persona, text a 200 page must contain)
PAGES = {
    "dashboard": (lambda s: reverse("registry:dashboard"), ALL_200, "<h1>Dashboard</h1>"),
    "inventory": (lambda s: reverse("registry:path-list"), ALL_200, "<h1>Inventory</h1>"),
    "export": (lambda s: reverse("registry:path-export"), ALL_200, "id,name,kind,system"),
    "detail-owned": (lambda s: detail_url(s.owned), PAYMENTS_ONLY, "<h1>payments-ledger-sync</h1>"),
    "detail-unowned": (lambda s: detail_url(s.unowned), TEAM_MEMBERS, "<h1>orphan-unowned</h1>"),
    "detail-pending": (lambda s: detail_url(s.pending), TEAM_MEMBERS, "<h1>orphan-claimed</h1>"),
    "edit-owned": (
        lambda s: edit_url(s.owned),
        PAYMENTS_ONLY,
        "<h1>Edit payments-ledger-sync</h1>",
    ),
    # The steward (platform) and security edit an unowned path; other teams see it only.
    "edit-unowned": (
        lambda s: edit_url(s.unowned),
        expected_statuses(403, sam=200, otto=404),
        "<h1>Edit orphan-unowned</h1>",
    ),
    "queue-mine": (lambda s: reverse("registry:queue-mine"), ALL_200, "<h1>My teams</h1>"),
    "queue-unclaimed": (
        lambda s: reverse("registry:queue-unclaimed"),
        ALL_200,
        "<h1>Unclaimed paths</h1>",
    ),
    "queue-security": (
        lambda s: reverse("registry:queue-security"),
        expected_statuses(404, sam=200),
        "<h1>Security queues</h1>",
    ),
    "team-list": (lambda s: reverse("registry:team-list"), ALL_200, "<h1>Teams</h1>"),
    "team-detail": (
        lambda s: reverse("registry:team-detail", args=["payments"]),
        PAYMENTS_ONLY,
        "<h1>Payments </h1>",
    ),
    "team-reminders": (
        lambda s: reverse("registry:team-reminders", args=["payments"]),
        PAYMENTS_ONLY,
        "<h1>Payments: reminders in the next 30 days</h1>",
    ),
}
HIDDEN_NAMES = {
    "detail-owned": "payments-ledger-sync",
    "detail-unowned": "orphan-unowned",
    "detail-pending": "orphan-claimed",
    "edit-owned": "payments-ledger-sync",
    "edit-unowned": "orphan-unowned",
}


def page_cases():
    for page, (_, statuses, _) in PAGES.items():
        for persona, status in statuses.items():
            yield pytest.param(page, persona, status, id=f"{page}-{persona}-{status}")


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()
