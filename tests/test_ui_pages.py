"""Every signed-in page, for every persona: who gets a page, who a 404 (or 403), what
each sees on it, which actions a path's page offers, constant query counts, inventory
sorting and keyset pages, bad filters, HTMX partials and the Content-Security-Policy."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from types import SimpleNamespace

import pytest
from django.urls import reverse

from registry import services
from registry.models import AccessPath
from registry.rules import errors
from registry.selectors.pagination import SORTS
from registry.web.views import inventory, queues
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
PERSONAS = ("sam", "pat", "lee", "dana", "otto")
ACTION_BUTTONS = {"Claim", "Approve", "Reject", "Attest", "Transfer", "Accept", "Decline", "Revoke"}
CLAIM_REASON = "Our nightly payout batch runs under this service account."


def _status(default: int, **overrides: int) -> dict[str, int]:
    return {persona: overrides.get(persona, default) for persona in PERSONAS}


ALL_200 = _status(200)
PAYMENTS_ONLY = _status(404, sam=200, pat=200, lee=200)
TEAM_MEMBERS = _status(200, otto=404)  # unowned and claim-pending paths: any team sees them


@pytest.fixture
def scene(personas, make_path, unowned_path):
    """A payments path, an unowned path, and an unowned path payments has claimed."""
    owned = make_path(name="payments-ledger-sync")
    pending = make_path(
        name="orphan-claimed",
        owner_team=None,
        steward_team=personas.teams.platform,
        justification="",
        ticket_url="",
    )
    services.path_claim(
        actor=personas.pat, path=pending, team=personas.teams.payments, reason=CLAIM_REASON, now=NOW
    )
    AccessPath.objects.filter(pk=unowned_path.pk).update(name="orphan-unowned")
    return SimpleNamespace(owned=owned, unowned=unowned_path, pending=pending)


def _detail(path) -> str:
    return reverse("registry:path-detail", args=[path.pk])


def _edit(path) -> str:
    return reverse("registry:path-edit", args=[path.pk])


# page name -> (URL from the scene, status per persona, text a 200 page must contain)
PAGES = {
    "dashboard": (lambda s: reverse("registry:dashboard"), ALL_200, "<h1>Dashboard</h1>"),
    "inventory": (lambda s: reverse("registry:path-list"), ALL_200, "<h1>Inventory</h1>"),
    "export": (lambda s: reverse("registry:path-export"), ALL_200, "id,name,kind,system"),
    "detail-owned": (lambda s: _detail(s.owned), PAYMENTS_ONLY, "<h1>payments-ledger-sync</h1>"),
    "detail-unowned": (lambda s: _detail(s.unowned), TEAM_MEMBERS, "<h1>orphan-unowned</h1>"),
    "detail-pending": (lambda s: _detail(s.pending), TEAM_MEMBERS, "<h1>orphan-claimed</h1>"),
    "edit-owned": (lambda s: _edit(s.owned), PAYMENTS_ONLY, "<h1>Edit payments-ledger-sync</h1>"),
    # The steward (platform) and security edit an unowned path; other teams see it only.
    "edit-unowned": (
        lambda s: _edit(s.unowned),
        _status(403, sam=200, otto=404),
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
        _status(404, sam=200),
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


def _page_cases():
    for page, (_, statuses, _) in PAGES.items():
        for persona, status in statuses.items():
            yield pytest.param(page, persona, status, id=f"{page}-{persona}-{status}")


def _body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize(("page", "persona", "status"), list(_page_cases()))
def test_page_status_for_each_persona(client, personas, scene, page, persona, status):
    url_for, _, marker = PAGES[page]
    client.force_login(getattr(personas.users, persona))
    response = client.get(url_for(scene))
    body = _body(response)
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
    for url in (_detail(path), _edit(path)):
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
    rows = list(csv.DictReader(io.StringIO(_body(export))))
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


# --- Action buttons offered on a path's page ----------------------------------------


def buttons(html: str) -> set[str]:
    """The action buttons of the page, by their text."""
    texts = re.findall(r"<button\b[^>]*>\s*([^<]*?)\s*</button>", html)
    return set(texts) & ACTION_BUTTONS


@pytest.fixture
def situations(personas, make_path, unowned_path):
    """Builders for a path in each situation the page offers different actions in."""
    teams = personas.teams

    def owned():
        return make_path(name="owned")

    def unowned():
        return unowned_path

    def claimed_by(actor, team):
        def build():
            services.path_claim(
                actor=actor, path=unowned_path, team=team, reason=CLAIM_REASON, now=NOW
            )
            return unowned_path

        return build

    def offered_to_data():
        path = make_path(name="offered")
        services.path_transfer(
            actor=personas.lee, path=path, to_team=teams.data, reason="Data runs it now.", now=NOW
        )
        return path

    def exception_pending():
        path = make_path(name="waiver")
        services.exception_request(
            actor=personas.pat,
            path=path,
            rule="nhi5_overprivileged",
            reason="The vendor API offers no narrower scope for this export.",
            expires_at=NOW + 30 * DAY,
            now=NOW,
        )
        return path

    def revoked():
        path = make_path(name="gone")
        return services.path_revoke(actor=personas.lee, path=path, reason="Job retired.", now=NOW)

    return {
        "owned": owned,
        "unowned": unowned,
        "claimed-by-pat": claimed_by(personas.pat, teams.payments),
        "claimed-by-sam": claimed_by(personas.sam, teams.security),
        "offered-to-data": offered_to_data,
        "exception-pending": exception_pending,
        "revoked": revoked,
    }


OFFERED = [
    ("owned", "sam", {"Transfer", "Revoke"}),
    ("owned", "pat", {"Attest", "Revoke"}),
    ("owned", "lee", {"Attest", "Transfer", "Revoke"}),
    ("owned", "dana", None),
    ("owned", "otto", None),
    ("unowned", "sam", {"Claim", "Revoke"}),
    ("unowned", "pat", {"Claim"}),
    ("unowned", "lee", {"Claim"}),
    ("unowned", "dana", {"Claim"}),
    ("unowned", "otto", None),
    ("claimed-by-pat", "sam", {"Claim", "Approve", "Reject", "Revoke"}),
    ("claimed-by-pat", "pat", set()),  # payments has claimed; nobody decides their own
    ("claimed-by-pat", "lee", set()),
    ("claimed-by-pat", "dana", {"Claim"}),
    ("claimed-by-pat", "otto", None),
    ("claimed-by-sam", "sam", {"Revoke"}),  # no approving his own claim
    ("claimed-by-sam", "pat", {"Claim"}),
    ("offered-to-data", "sam", {"Revoke"}),
    ("offered-to-data", "pat", {"Attest", "Revoke"}),
    ("offered-to-data", "lee", {"Attest", "Revoke"}),  # one transfer at a time
    ("offered-to-data", "dana", {"Accept", "Decline"}),
    ("offered-to-data", "otto", None),
    ("exception-pending", "sam", {"Approve", "Reject", "Transfer", "Revoke"}),
    ("exception-pending", "pat", {"Attest", "Revoke"}),
    ("exception-pending", "lee", {"Attest", "Transfer", "Revoke"}),
    ("revoked", "sam", set()),
    ("revoked", "lee", set()),
]


@pytest.mark.parametrize(
    ("situation", "persona", "expected"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in OFFERED],
)
def test_path_page_offers_the_persona_exactly_its_actions(
    client, personas, situations, situation, persona, expected
):
    path = situations[situation]()
    client.force_login(getattr(personas.users, persona))
    response = client.get(_detail(path))
    if expected is None:
        assert response.status_code == 404
        assert buttons(response.content.decode()) == set()
        return
    assert response.status_code == 200
    assert buttons(response.content.decode()) == expected


# --- Query counts do not grow with the rows ------------------------------------------


@pytest.mark.parametrize(
    ("page", "persona"),
    [
        ("inventory", "sam"),
        ("inventory", "pat"),
        ("dashboard", "sam"),
        ("dashboard", "lee"),
        ("detail", "sam"),
        ("detail", "lee"),
        ("queue-mine", "pat"),
        ("queue-unclaimed", "dana"),
    ],
)
def test_page_queries_do_not_grow_with_rows(
    client, personas, make_path, django_assert_max_num_queries, page, persona
):
    first = make_path(name="first", now=NOW - 95 * DAY)  # overdue: in the My-teams queue
    urls = {
        "inventory": reverse("registry:path-list"),
        "dashboard": reverse("registry:dashboard"),
        "detail": _detail(first),
        "queue-mine": reverse("registry:queue-mine"),
        "queue-unclaimed": reverse("registry:queue-unclaimed"),
    }
    client.force_login(getattr(personas.users, persona))
    with django_assert_max_num_queries(30) as few:
        assert client.get(urls[page]).status_code == 200
    for index in range(40):
        make_path(name=f"many-{index}", now=NOW - (95 - index % 3) * DAY)
        make_path(name=f"unowned-{index}", owner_team=None, justification="", ticket_url="")
    for _ in range(3 if page == "detail" else 0):  # the detail page's timeline grows too
        services.path_attest(
            actor=personas.lee,
            path=AccessPath.objects.get(pk=first.pk),
            decision="keep",
            still_needed=True,
            justification_accurate=True,
            least_privilege=True,
            no_human_use=True,
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(urls[page])
    assert response.status_code == 200
    if page == "queue-mine":
        assert len(response.context["due"]) == 41
    if page == "inventory":
        assert len(response.context["page"]) == inventory.PAGE_SIZE


# --- Inventory: sorting and keyset pages ---------------------------------------------


@pytest.fixture
def sortable(personas, make_path):
    """Paths with ties and nulls in every sort column (unowned paths have no review or
    expiry date)."""
    made = []
    for index, (name, days_ago, expires_in) in enumerate(
        [
            ("pathc", 10, 300),
            ("patha", 10, 200),
            ("pathb", 40, 300),
            ("patha", 5, 250),
            ("pathd", 40, 200),
            ("pathe", 1, 100),
        ]
    ):
        made.append(
            make_path(
                name=name,
                now=NOW - days_ago * DAY,
                expires_at=NOW + expires_in * DAY,
                risk_tier="low",
                review_interval_days=30 + index % 3 * 10,
            )
        )
    for name in ("pathf", "patha", "pathg", "pathb", "pathh"):
        made.append(make_path(name=name, owner_team=None, justification="", ticket_url=""))
    # Edits give -updated an order of its own, with a tie.
    for path, minutes in zip(made[:4], (30, 30, 10, 20), strict=True):
        services.path_update(
            actor=personas.system,
            path=path,
            changes={"consumers": "nightly job"},
            now=NOW + dt.timedelta(minutes=minutes),
        )
    return made


def expected_order(sort_key: str) -> list:
    sort = SORTS[sort_key]
    rows = list(AccessPath.objects.values_list(sort.field, "id"))
    present = [r for r in rows if r[0] is not None]
    nulls = [r for r in rows if r[0] is None]
    ordered = sorted(present, reverse=sort.descending) + sorted(nulls, key=lambda r: r[1])
    return [pk for _, pk in ordered]


def walk(client, params: dict) -> tuple[list, int]:
    """Every page of the inventory, following next_cursor: the row ids and page count."""
    ids, pages, cursor = [], 0, None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get(reverse("registry:path-list"), query)
        assert response.status_code == 200
        ids += [p.pk for p in response.context["page"]]
        pages += 1
        cursor = response.context["next_cursor"]
        if cursor is None:
            return ids, pages
        assert f"cursor={cursor}" in response.content.decode().replace("&amp;", "&")
        assert pages < 20, "the cursor does not advance"


@pytest.mark.parametrize("sort_key", list(SORTS))
@pytest.mark.parametrize("page_size", [2, 3, 50])
def test_sort_and_keyset_pages_visit_every_row_once_in_order(
    client, personas, sortable, monkeypatch, sort_key, page_size
):
    monkeypatch.setattr(inventory, "PAGE_SIZE", page_size)
    client.force_login(personas.users.sam)
    ids, pages = walk(client, {"sort": sort_key})
    assert ids == expected_order(sort_key)
    assert len(ids) == len(set(ids)) == 11
    assert pages == -(-11 // page_size)


def test_sort_by_name_lists_names_alphabetically(client, personas, sortable):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:path-list"), {"sort": "name"})
    names = [p.name for p in response.context["page"]]
    assert names == sorted(names)
    assert names[:3] == ["patha", "patha", "patha"]
    assert response.context["sort"].key == "name"


def test_sort_by_review_puts_unowned_paths_last(client, personas, sortable):
    client.force_login(personas.users.sam)
    rows = client.get(reverse("registry:path-list"), {"sort": "review"}).context["page"]
    assert [p.next_review_at is None for p in rows] == [False] * 6 + [True] * 5
    reviews = [p.next_review_at for p in rows[:6]]
    assert reviews == sorted(reviews)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        "eyJub3QiOiAianNvbiBsaXN0In0",  # base64 of a JSON object, not a list
        "WyJuYW1lIiwgMTIzLCAibm90LWEtdXVpZCJd",  # ["name", 123, "not-a-uuid"]
    ],
)
def test_bad_cursor_is_ignored(client, personas, sortable, cursor):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:path-list"), {"sort": "name", "cursor": cursor})
    assert response.status_code == 200
    assert len(response.context["page"]) == 11


def test_cursor_from_another_sort_starts_over(client, personas, sortable, monkeypatch):
    monkeypatch.setattr(inventory, "PAGE_SIZE", 3)
    client.force_login(personas.users.sam)
    by_name = client.get(reverse("registry:path-list"), {"sort": "name"})
    foreign = by_name.context["next_cursor"]
    response = client.get(reverse("registry:path-list"), {"sort": "expiry", "cursor": foreign})
    assert response.status_code == 200
    assert [p.pk for p in response.context["page"]] == expected_order("expiry")[:3]


def test_unknown_sort_falls_back_to_oldest_first(client, personas, sortable):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:path-list"), {"sort": "password"})
    assert response.status_code == 200
    assert [p.pk for p in response.context["page"]] == expected_order("created")


# --- Bad filters, HTMX, CSP -----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"expires_before": "notadate"}, "expires_before"),
        ({"owner_team": "no-such-team"}, "owner_team"),
        ({"expiring_within_days": "0"}, "expiring_within_days"),
        ({"kind": "robot"}, "kind"),
    ],
)
def test_invalid_filter_is_400_with_message_and_no_rows(client, personas, scene, query, field):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:path-list"), query)
    html = response.content.decode()
    assert response.status_code == 400
    assert response.context["page"] == []
    assert f"Check the filters: {field}:" in html
    assert "payments-ledger-sync" not in html
    export = client.get(reverse("registry:path-export"), query)
    assert export.status_code == 400
    assert "payments-ledger-sync" not in export.content.decode()


def test_valid_filter_narrows_the_rows(client, personas, scene):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:path-list"), {"status": "unowned"})
    assert response.status_code == 200
    assert [p.pk for p in response.context["page"]] == [scene.unowned.pk]


def test_htmx_filter_request_gets_only_the_results(client, personas, scene):
    client.force_login(personas.users.pat)
    response = client.get(
        reverse("registry:path-list"),
        {"status": "active"},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<h1>Inventory</h1>" not in html
    assert 'class="paths"' in html and "payments-ledger-sync" in html
    assert "orphan-unowned" not in html
    # Another target (or no HX-Target) gets the whole page.
    whole = client.get(reverse("registry:path-list"), headers={"HX-Request": "true"})
    assert "<html" in whole.content.decode()


def test_htmx_bad_filter_partial_shows_the_error(client, personas, scene):
    client.force_login(personas.users.sam)
    response = client.get(
        reverse("registry:path-list"),
        {"status": "bogus"},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html
    assert "Check the filters: status:" in html


INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


@pytest.mark.parametrize("page", [p for p in PAGES if p != "export"])
def test_pages_carry_csp_and_no_inline_script(client, personas, scene, page):
    client.force_login(personas.users.sam)
    response = client.get(PAGES[page][0](scene))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html, re.IGNORECASE)
    assert scripts, "the page loads HTMX"
    assert all(" src=" in tag for tag in scripts), scripts
    bodies = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.IGNORECASE | re.DOTALL)
    assert [body for body in bodies if body.strip()] == [], "an inline script"
    assert not INLINE_HANDLER.search(html)


def test_refusal_and_not_found_pages_carry_csp_too(client, personas, scene):
    client.force_login(personas.users.pat)
    refused = client.get(_edit(scene.unowned))
    missing = client.get(reverse("registry:queue-security"))
    assert (refused.status_code, missing.status_code) == (403, 404)
    for response in (refused, missing):
        assert "script-src 'self'" in response["Content-Security-Policy"]
