"""Every signed-in page, for every persona: who gets the page and who a 404 (or 403),
anonymous visitors sent to sign in, and what each persona sees on the inventory, the
export, the dashboard, the team pages and the queues."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from registry import services
from registry.rules import errors
from registry.web.views import queues
from tests.conftest import NOW
from tests.web.helpers import (
    CLAIM_REASON,
    DAY,
    HIDDEN_NAMES,
    PAGES,
    PERSONAS,
    body_of,
    detail_url,
    edit_url,
    page_cases,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("page", "persona", "status"), list(page_cases()))
def test_page_status_for_each_persona(client, personas, scene, page, persona, status):
    url_for, _, marker = PAGES[page]
    client.force_login(getattr(personas.users, persona))
    response = client.get(url_for(scene))
    body = body_of(response)
    assert response.status_code == status, body[:500]
    if status == 200:
        assert marker in body
    elif status == 403:
        assert "<h1>Not allowed</h1>" in body
        assert errors.NOT_A_MEMBER in body
    if status != 200 and page in HIDDEN_NAMES:
        assert f"<h1>{HIDDEN_NAMES[page]}" not in body
        assert f"Edit {HIDDEN_NAMES[page]}" not in body


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_sign_in(client, scene, page):
    url = PAGES[page][0](scene)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("which", ["owned", "unowned", "pending"])
def test_outsider_gets_404_on_every_path(client, personas, scene, which):
    client.force_login(personas.users.otto)
    path = getattr(scene, which)
    for url in (detail_url(path), edit_url(path)):
        response = client.get(url)
        assert response.status_code == 404
        assert path.name not in response.content.decode()


# --- What each persona sees -----------------------------------------------------------

VISIBLE = {
    "sam": {"payments-ledger-sync", "orphan-unowned", "orphan-claimed"},
    "pat": {"payments-ledger-sync", "orphan-unowned", "orphan-claimed"},
    "lee": {"payments-ledger-sync", "orphan-unowned", "orphan-claimed"},
    "dana": {"orphan-unowned", "orphan-claimed"},
    "otto": set(),
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_inventory_and_export_list_exactly_thepaths_visible_to(client, personas, scene, persona):
    client.force_login(getattr(personas.users, persona))
    page = client.get(reverse("registry:path-list"))
    assert {p.name for p in page.context["page"]} == VISIBLE[persona]
    html = page.content.decode()
    for name in VISIBLE["sam"] - VISIBLE[persona]:
        assert name not in html
    export = client.get(reverse("registry:path-export"))
    assert export["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(body_of(export))))
    assert {row["name"] for row in rows} == VISIBLE[persona]


@pytest.mark.parametrize(
    ("persona", "summary"),
    [
        ("sam", "The whole estate: 3 access paths."),
        ("pat", "The paths your teams can see: 3 access paths."),
        ("dana", "The paths your teams can see: 2 access paths."),
        ("otto", "The paths your teams can see: 0 access paths."),
    ],
)
def test_dashboard_counts_what_the_persona_sees(client, personas, scene, persona, summary):
    client.force_login(getattr(personas.users, persona))
    assert summary in client.get(reverse("registry:dashboard")).content.decode()


@pytest.mark.parametrize(
    ("persona", "teams"),
    [
        ("sam", ["data", "growth", "payments", "platform", "security"]),
        ("lee", ["payments"]),
        ("dana", ["data"]),
        ("otto", []),
    ],
)
def test_team_list_shows_own_teams_or_all_for_security(client, personas, persona, teams):
    client.force_login(getattr(personas.users, persona))
    response = client.get(reverse("registry:team-list"))
    assert [t.slug for t in response.context["teams"]] == teams
    if not teams:
        assert "You are not in any team." in response.content.decode()


def test_team_detail_lists_members_with_roles(client, personas):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:team-detail", args=["payments"]))
    members = {m.user.username: m.role for m in response.context["members"]}
    assert members == {"pat": "member", "lee": "lead"}


def test_security_queue_lists_the_pending_claim(client, personas, scene):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:queue-security"))
    assert [c.path_id for c in response.context["claims"]] == [scene.pending.pk]
    assert CLAIM_REASON in response.content.decode()


def test_unclaimed_queue_lists_unowned_paths(client, personas, scene):
    client.force_login(personas.users.dana)
    response = client.get(reverse("registry:queue-unclaimed"))
    assert [p.pk for p in response.context["page"]] == [scene.unowned.pk]


def test_unclaimed_queue_pages_through_every_unowned_path(client, personas, make_path, monkeypatch):
    monkeypatch.setattr(queues, "QUEUE_SIZE", 2)
    made = [
        make_path(name=f"orphan-{i}", owner_team=None, justification="", ticket_url="")
        for i in range(5)
    ]
    make_path(name="owned")
    client.force_login(personas.users.dana)
    seen, cursor = [], None
    for _ in range(5):
        response = client.get(reverse("registry:queue-unclaimed"), {"cursor": cursor or ""})
        seen += [p.pk for p in response.context["page"]]
        cursor = response.context["next_cursor"]
        if cursor is None:
            break
        assert f'href="?cursor={cursor}"' in response.content.decode()
    assert seen == [p.pk for p in sorted(made, key=lambda p: (p.created_at, p.pk))]


def test_my_teams_queue_lists_overdue_paths_and_offered_transfers(
    client, personas, make_path, path
):
    overdue = make_path(name="overdue-path", now=NOW - 95 * DAY)
    services.path_transfer(
        actor=personas.lee, path=path, to_team=personas.teams.data, reason="Data runs it now."
    )
    client.force_login(personas.users.pat)
    mine = client.get(reverse("registry:queue-mine"))
    assert [p.pk for p in mine.context["due"]] == [overdue.pk]
    assert mine.context["transfers"] == []
    client.force_login(personas.users.dana)
    theirs = client.get(reverse("registry:queue-mine"))
    assert theirs.context["due"] == []
    assert [t.path_id for t in theirs.context["transfers"]] == [path.pk]
    assert "Data runs it now." in theirs.content.decode()
