"""End to end, in headless Chromium, through the pages only: the ownership lifecycle.

An unowned path is claimed by payments, approved by security and attested; a payments
path is offered to data and accepted; an outsider sees and changes nothing; the security
dashboard's numbers move by exactly what happened. The starting estate (~30 varied paths,
some overdue, lapsed, due, expiring or unowned) is built with the services, everything
after that is clicks and keystrokes. Also: the same claim with JavaScript disabled (plain
form POST instead of HTMX), a refused claim showing its error, and the inventory's filter.
"""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from registry import services
from registry.models import AccessPath, Claim
from registry.rules.status import Status
from tests.browser.conftest import DEFAULT_TIMEOUT_MS, VIEWPORT, screenshot, sign_in
from tests.conftest import TICKET

pytestmark = pytest.mark.django_db(transaction=True)

CLAIM_REASON = "The payments nightly jobs run under this identity."
TRANSFER_REASON = "The data team runs the ledger exports since the Q3 reorganisation."
ATTEST_CONFIRMATIONS = (
    "It is still needed",
    "The justification and ticket are accurate",
    "Its scope is the least privilege the job needs",
    "No person uses it interactively",
)

# name, kind, system, environment, risk tier, owner slug (None: unowned), registered
# this many days ago, extra fields. Review intervals by tier: critical 30, high 90,
# medium 180, low 365 days; reviews are "due" 14 days ahead and lapse 14 days late.
ESTATE = [
    ("ledger-sync-export", "service_account", "aws", "prod", "high", "payments", 10, {}),
    ("payments-api-deploy", "ci_secret", "github", "prod", "critical", "payments", 35, {}),
    ("invoice-renderer", "workload_identity", "gcp", "prod", "medium", "payments", 20, {}),
    ("stripe-webhook-signer", "api_token", "stripe", "prod", "high", "payments", 95, {}),
    ("refunds-batch", "service_account", "aws", "staging", "low", "payments", 5, {}),
    ("warehouse-loader", "service_account", "snowflake", "prod", "high", "data", 30, {}),
    ("dbt-cloud-runner", "api_token", "snowflake", "prod", "medium", "data", 170, {}),
    ("airflow-scheduler", "workload_identity", "gcp", "prod", "high", "data", 125, {}),
    ("looker-reporting", "service_account", "gcp", "staging", "low", "data", 50, {}),
    ("kafka-connect-s3", "service_account", "aws", "prod", "medium", "data", 12, {}),
    ("braze-audience-sync", "api_token", "braze", "prod", "medium", "growth", 40, {}),
    ("segment-export", "api_token", "segment", "prod", "low", "growth", 100, {}),
    ("ab-test-agent", "agent_credential", "openai", "dev", "medium", "growth", 3, {}),
    ("marketing-site-deploy", "ssh_key", "github", "prod", "high", "growth", 98, {}),
    ("terraform-apply", "workload_identity", "aws", "prod", "critical", "platform", 15, {}),
    ("argo-cd-sync", "service_account", "k8s", "prod", "high", "platform", 60, {}),
    ("vault-approle-ci", "ci_secret", "vault", "prod", "critical", "platform", 24, {}),
    ("backup-restic", "ssh_key", "hetzner", "prod", "medium", "platform", 300, {}),
    ("grafana-reader", "oauth_client", "grafana", "prod", "low", "platform", 80, {}),
    ("ingress-tls", "certificate", "k8s", "prod", "high", "platform", 45, {}),
    ("siem-forwarder", "service_account", "splunk", "prod", "high", "security", 30, {}),
    ("scanner-github-app", "oauth_client", "github", "prod", "medium", "security", 7, {}),
    ("okta-scim-provisioner", "api_token", "okta", "prod", "critical", "security", 2, {}),
    ("temp-migration-token", "api_token", "aws", "prod", "medium", "data", 2, {"expires": 20}),
    ("contractor-readonly", "oauth_client", "okta", "staging", "low", "growth", 1, {"expires": 10}),
    ("legacy-backup-bot", "service_account", "aws", "prod", "high", None, 3, {}),
    ("jenkins-old-deployer", "ci_secret", "jenkins", "prod", "critical", None, 10, {}),
    ("sftp-partner-key", "ssh_key", "sftp", "prod", "medium", None, 17, {}),
    ("test-reporting-bot", "api_token", "github", "dev", "low", None, 30, {}),
    ("unknown-gcp-sa-7f3e", "service_account", "gcp", "staging", "medium", None, 60, {}),
]
JUSTIFICATIONS = [
    "Exports the payments ledger to the finance data lake every night.",
    "Deploys the service from the main branch after the release checks pass.",
    "Reads and writes objects for the nightly batch jobs of this team.",
    "Calls the vendor API to keep customer audiences in sync every hour.",
]


@pytest.fixture
def estate(make_path, personas):
    """About thirty paths across five teams and eight systems, in every status."""
    now = timezone.now()
    teams = vars(personas.teams)
    paths = {}
    for i, (name, kind, system, env, risk, owner, days_ago, extra) in enumerate(ESTATE):
        registered = now - dt.timedelta(days=days_ago, hours=1)
        data = {
            "name": name,
            "kind": kind,
            "system": system,
            "environment": env,
            "risk_tier": risk,
            "external_id": f"{system}:{name}",
            "owner_team": teams[owner] if owner else None,
        }
        if owner is None:
            data |= {"steward_team": personas.teams.platform, "justification": "", "ticket_url": ""}
        else:
            data |= {
                "justification": JUSTIFICATIONS[i % len(JUSTIFICATIONS)],
                "ticket_url": f"https://tickets.example.com/browse/SEC-{1000 + i}",
            }
            if i % 2:
                data["privilege_scope"] = f"{system}: read/write on the {name} resources"
                data["data_classification"] = "confidential"
        if "expires" in extra:
            data["expires_at"] = now + dt.timedelta(days=extra["expires"])
        paths[name] = make_path(now=registered, **data)
    # Platform gets a person, or every platform path would be lapsed (offboarded team).
    pia = get_user_model().objects.create_user("pia", "pia@example.com", "x")
    services.membership_add(
        actor=personas.system, team=personas.teams.platform, user=pia, role="lead", now=now
    )
    # Data already asked for one of the unowned paths: the security queue is not empty.
    services.path_claim(
        actor=personas.dana,
        path=paths["unknown-gcp-sa-7f3e"],
        team=personas.teams.data,
        reason="The data team's staging notebooks authenticate with this account.",
        now=now - dt.timedelta(days=1),
    )
    return SimpleNamespace(**{name.replace("-", "_"): p for name, p in paths.items()})


@pytest.fixture
def people(browser, live_server, personas):
    """`people("pat")`: a page signed in as pat in a browser context of its own."""
    contexts = []

    def open_as(username: str, **context_options):
        context = browser.new_context(viewport=VIEWPORT, **context_options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        sign_in(page, live_server, username)
        expect(page.locator("form.signout .who")).to_have_text(username)
        return page

    yield open_as
    for context in contexts:
        context.close()


def nav(page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def open_from_inventory(page, path_name: str) -> None:
    nav(page, "Inventory")
    page.locator("#results").get_by_role("link", name=path_name, exact=True).click()
    expect(page.get_by_role("heading", level=1, name=path_name)).to_be_visible()


def status_badge(page):
    return page.locator(".status-line .badge")


def record_value(page, term: str):
    """The <dd> after the <dt>term</dt> in the path page's Record card."""
    facts = page.locator("aside.col-side dl.facts")
    return facts.locator("dt", has_text=re.compile(f"^{re.escape(term)}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


def read_dashboard(page) -> dict[str, int]:
    nav(page, "Dashboard")
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    numbers = {"tile:unowned": int(page.locator('[data-figure="unowned"]').inner_text())}
    for status in Status:
        cell = page.locator(f'[data-status-count="{status.value}"]')
        numbers[status.value] = int(cell.inner_text())
    return numbers


def expect_dashboard(page, numbers: dict[str, int]) -> None:
    expect(page.locator('[data-figure="unowned"]')).to_have_text(str(numbers["tile:unowned"]))
    for status in Status:
        expect(page.locator(f'[data-status-count="{status.value}"]')).to_have_text(
            str(numbers[status.value])
        )


def summary(page, text: str):
    return page.locator("details.action > summary", has_text=text)


def test_ownership_lifecycle_through_the_pages(people, live_server, estate):
    legacy, ledger = estate.legacy_backup_bot, estate.ledger_sync_export
    orphan = estate.jenkins_old_deployer  # stays unowned: otto's target

    # 2. Security's starting picture.
    sam = people("sam")
    before = read_dashboard(sam)
    # 30 paths: five unowned (one of them claimed), three overdue, two lapsed, two due.
    assert before == {
        "tile:unowned": 4,
        "unowned": 4,
        "claim_pending": 1,
        "active": 18,
        "review_due": 2,
        "overdue": 3,
        "lapsed": 2,
        "expired": 0,
        "awaiting_source": 0,
        "revoked": 0,
    }
    data_owned_before = int(sam.locator('tr[data-team="data"] td').first.inner_text())

    # 3. Pat claims the unowned path for payments, from the Unclaimed queue.
    pat = people("pat")
    nav(pat, "Unclaimed")
    expect(pat.get_by_role("heading", level=1, name="Unclaimed paths")).to_be_visible()
    pat.get_by_role("link", name="legacy-backup-bot", exact=True).click()
    expect(status_badge(pat)).to_have_text("Unowned")
    expect(summary(pat, "Claim it for your team")).to_be_visible()
    pat.get_by_label("Team", exact=True).select_option(label="Payments")
    pat.get_by_label("Why your team owns it", exact=True).fill(CLAIM_REASON)
    pat.get_by_label("Ticket link", exact=True).fill(TICKET)
    pat.get_by_role("button", name="Claim", exact=True).click()
    expect(pat.get_by_role("status")).to_contain_text("Claim sent")
    expect(status_badge(pat)).to_have_text("Claim pending")
    expect(pat.get_by_role("region", name="Open requests")).to_contain_text(CLAIM_REASON)
    # Pat may not decide his own team's claim.
    expect(pat.get_by_role("button", name="Approve", exact=True)).to_have_count(0)

    # 4. Sam approves it from the security queue.
    nav(sam, "Security queues")
    claims = sam.get_by_role("region", name=re.compile(r"^Pending claims"))
    expect(claims).to_contain_text("(2)")
    claims.get_by_role("link", name="legacy-backup-bot", exact=True).click()
    expect(status_badge(sam)).to_have_text("Claim pending")
    sam.get_by_role("button", name="Approve", exact=True).click()
    expect(sam.get_by_role("status")).to_contain_text("Approved: payments owns this path now.")
    expect(status_badge(sam)).to_have_text("Active")
    expect(record_value(sam, "Owner")).to_have_text("Payments")
    expect(sam.get_by_role("button", name="Approve", exact=True)).to_have_count(0)

    # 5. Pat attests it: four confirmations, decision Keep.
    open_from_inventory(pat, "legacy-backup-bot")
    expect(status_badge(pat)).to_have_text("Active")
    expect(record_value(pat, "Last attested")).to_have_text("never")
    attest = summary(pat, "Attest ownership")
    attest.click()
    for label in ATTEST_CONFIRMATIONS:
        pat.get_by_label(label, exact=True).check()
    expect(pat.get_by_label("Keep", exact=True)).to_be_checked()
    screenshot(pat, "path-detail")
    pat.get_by_role("button", name="Attest", exact=True).click()
    expect(pat.get_by_role("status")).to_contain_text("Attested.")
    timeline = pat.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text("Attested")
    expect(timeline).to_contain_text("Decision: Keep · still needed yes")
    expect(record_value(pat, "Last attested")).not_to_have_text("never")

    # 6. Lee offers the ledger export to data; dana accepts from My teams.
    lee = people("lee")
    open_from_inventory(lee, "ledger-sync-export")
    summary(lee, "Transfer to another team").click()
    transfer_form = lee.locator(
        f"form[action='{reverse('registry:path-transfer', args=[ledger.pk])}']"
    )
    # The team is typed as its slug (suggestions load as one types).
    transfer_form.get_by_label("To team", exact=True).fill("data")
    transfer_form.get_by_label("Reason", exact=True).fill(TRANSFER_REASON)
    lee.get_by_role("button", name="Transfer", exact=True).click()
    expect(lee.get_by_role("status")).to_contain_text("Transfer offered")
    expect(lee.get_by_role("region", name="Open requests")).to_contain_text(TRANSFER_REASON)
    expect(record_value(lee, "Owner")).to_have_text("Payments")
    # The offering side cannot accept its own offer.
    expect(lee.get_by_role("button", name="Accept", exact=True)).to_have_count(0)

    dana = people("dana")
    nav(dana, "My teams")
    waiting = dana.get_by_role("region", name="Transfers waiting for us")
    expect(waiting).to_contain_text(TRANSFER_REASON)
    waiting.get_by_role("link", name="ledger-sync-export", exact=True).click()
    dana.get_by_role("button", name="Accept", exact=True).click()
    expect(dana.get_by_role("status")).to_contain_text("Accepted: data owns this path now.")
    expect(record_value(dana, "Owner")).to_have_text("Data")
    expect(status_badge(dana)).to_have_text("Active")

    # 7. Otto, in no team, sees nothing and can change nothing.
    otto = people("otto")
    for path in (legacy, ledger, orphan):
        response = otto.goto(live_server.url + reverse("registry:path-detail", args=[path.pk]))
        assert response.status == 404, path.name
        expect(otto.locator("body")).not_to_contain_text(path.name)
        expect(otto.locator("main").get_by_role("button")).to_have_count(0)
        expect(otto.get_by_role("heading", name="Not found")).to_be_visible()
    nav(otto, "Inventory")
    expect(otto.locator("#results")).to_contain_text("No access paths match.")
    expect(otto.locator("#results").locator("a[href*='/paths/']")).to_have_count(0)
    nav(otto, "Unclaimed")
    expect(otto.get_by_role("main")).to_contain_text("No unowned paths")

    claims_before = Claim.objects.count()
    claim_url = live_server.url + reverse("registry:path-claim", args=[orphan.pk])
    form = {"team": "payments", "reason": "Otto would like to own this one, please."}
    csrf = next(c["value"] for c in otto.context.cookies() if c["name"] == "csrftoken")
    with_token = otto.request.post(
        claim_url, form=form | {"csrfmiddlewaretoken": csrf}, headers={"X-CSRFToken": csrf}
    )
    without_token = otto.request.post(claim_url, form=form)
    # With the token the request reaches the view, which does not know the path for otto.
    assert with_token.status == 404, with_token.status
    assert without_token.status == 403, without_token.status
    orphan.refresh_from_db()
    assert orphan.state == AccessPath.State.UNOWNED and orphan.owner_team_id is None
    assert Claim.objects.count() == claims_before

    # 8. The dashboard moved by exactly one claimed path; the transfer moved no status.
    after = dict(before)
    after["tile:unowned"] -= 1
    after["unowned"] -= 1
    after["active"] += 1
    nav(sam, "Dashboard")
    expect_dashboard(sam, after)
    expect(sam.locator('tr[data-team="data"] td').first).to_have_text(str(data_owned_before + 1))
    screenshot(sam, "dashboard")


def test_claim_works_without_javascript(people, live_server, estate):
    """The HTMX attributes are an enhancement: with scripts off the form posts plainly."""
    pat = people("pat", java_script_enabled=False)
    pat.goto(live_server.url + reverse("registry:path-detail", args=[estate.sftp_partner_key.pk]))
    pat.get_by_label("Why your team owns it", exact=True).fill(CLAIM_REASON)
    pat.get_by_label("Ticket link", exact=True).fill(TICKET)
    with pat.expect_navigation():
        pat.get_by_role("button", name="Claim", exact=True).click()
    expect(pat).to_have_url(
        live_server.url + reverse("registry:path-detail", args=[estate.sftp_partner_key.pk])
    )
    expect(pat.get_by_role("status")).to_contain_text("Claim sent")
    expect(status_badge(pat)).to_have_text("Claim pending")
    claim = Claim.objects.get(path=estate.sftp_partner_key)
    assert (claim.team.slug, claim.reason, claim.requested_by.username) == (
        "payments",
        CLAIM_REASON,
        "pat",
    )


def test_a_vague_claim_is_refused_next_to_its_field(people, live_server, estate):
    pat = people("pat")
    pat.goto(live_server.url + reverse("registry:path-detail", args=[estate.legacy_backup_bot.pk]))
    pat.get_by_label("Why your team owns it", exact=True).fill("ours")
    pat.get_by_label("Ticket link", exact=True).fill(TICKET)
    pat.get_by_role("button", name="Claim", exact=True).click()
    claim_form = pat.locator("details.action[open] form")
    expect(claim_form.locator(".errorlist")).to_contain_text("The justification is too short")
    expect(claim_form.get_by_label("Why your team owns it", exact=True)).to_have_value("ours")
    expect(status_badge(pat)).to_have_text("Unowned")
    assert not Claim.objects.filter(path=estate.legacy_backup_bot).exists()


def test_inventory_filtered_to_overdue(people, live_server, estate):
    sam = people("sam")
    nav(sam, "Inventory")
    results = sam.locator("#results")
    expect(results.get_by_role("link", name="legacy-backup-bot", exact=True)).to_be_visible()
    expect(results.locator("tbody tr")).to_have_count(len(ESTATE))
    screenshot(sam, "inventory")

    filters = sam.get_by_role("search")
    filters.get_by_role("group", name="Status").get_by_label("Overdue", exact=True).check()
    filters.get_by_role("button", name="Filter", exact=True).click()
    expect(sam).to_have_url(re.compile(r"[?&]status=overdue"))
    overdue = {"payments-api-deploy", "stripe-webhook-signer", "marketing-site-deploy"}
    expect(results.locator("tbody tr")).to_have_count(len(overdue))
    for name in overdue:
        expect(results.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(results.locator("tbody .badge")).to_have_text(["Overdue"] * len(overdue))
    screenshot(sam, "inventory-overdue")


def test_each_action_form_labels_its_own_fields(people, live_server, estate):
    lee = people("lee")
    path = estate.ledger_sync_export
    lee.goto(live_server.url + reverse("registry:path-detail", args=[path.pk]))
    summary(lee, "Revoke").click()
    ids = lee.locator("main [id]").evaluate_all("els => els.map(e => e.id)")
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    revoke_form = lee.locator(f"form[action='{reverse('registry:path-revoke', args=[path.pk])}']")
    expect(revoke_form.get_by_label("Why it is revoked", exact=True)).to_be_visible()


def test_a_never_attested_path_does_not_say_attested(people, live_server, estate):
    pat = people("pat")
    pat.goto(live_server.url + reverse("registry:path-detail", args=[estate.refunds_batch.pk]))
    expect(record_value(pat, "Last attested")).to_have_text("never")
    expect(status_badge(pat)).to_have_text("Active")
    expect(pat.locator(".status-reason")).to_contain_text("Not attested yet")


def test_export_and_save_follow_the_filter_applied_in_place(people, live_server, estate):
    sam = people("sam")
    nav(sam, "Inventory")
    filters = sam.get_by_role("search")
    filters.get_by_role("group", name="Status").get_by_label("Overdue", exact=True).check()
    filters.get_by_role("button", name="Filter", exact=True).click()
    expect(sam).to_have_url(re.compile(r"[?&]status=overdue"))
    expect(sam.locator("#results tbody tr")).to_have_count(3)
    export = sam.get_by_role("link", name="Export CSV", exact=True)
    expect(export).to_have_attribute("href", re.compile(r"status=overdue"), timeout=2_000)
    expect(sam.get_by_label("Save this filter as", exact=True)).to_be_visible(timeout=2_000)
