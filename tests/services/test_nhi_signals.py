"""The facts behind NHI2 (secret leakage), NHI4 (insecure authentication) and NHI6 (a
static key where the platform offers workload identity), and the dashboard's tally kept
exact through each of them (the direct count of tests/selectors/test_tally_exact.py).

- NHI2: an open leak incident (services/incidents.py refreshes the path's facts as it
  opens, is linked, contained, closed), or a change refused because a field held a
  credential (services/leak_signals.py, from the page's and the API's refusal) until a
  later rotation;
- NHI4: the AWS credential report's mfa_active, imported where the report states it;
- NHI6: the system's control policy (offers_workload_identity), on every surface.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from registry import services
from registry.importers import aws_credential_report
from registry.models import AccessPath, AuditEvent, ImportRun, SystemControlPolicy
from registry.rules import errors
from registry.rules.policies import current_policy
from registry.rules.posture import violation_q
from registry.selectors.tallies import tally_groups
from registry.services.leak_signals import ACTION as SECRET_REFUSED
from tests.api.helpers import session, url
from tests.conftest import NOW
from tests.importers.helpers import SAMPLES
from tests.selectors.test_tally_exact import direct_groups, tallied_groups
from tests.web.helpers import submit_edit

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
LOW = {"risk_tier": AccessPath.RiskTier.LOW, "expires_at": NOW + dt.timedelta(days=60)}
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
NHI2, NHI4, NHI6 = "nhi2_secret_leakage", "nhi4_insecure_authentication", "nhi6_static_not_workload"


def counted(personas, code: str, now: dt.datetime) -> int:
    """The dashboard's count of `code`, checked against the direct count of everything."""
    assert tallied_groups(personas.sam, now) == direct_groups(personas.sam, now)
    groups = tally_groups(personas.sam, now=now, policy=current_policy())
    return sum(group[f"r_{code}"] for group in groups)


def breaks(path: AccessPath, code: str, now: dt.datetime) -> bool:
    rows = AccessPath.objects.filter(violation_q(code, now=now, policy=current_policy()))
    return rows.filter(pk=path.pk).exists()


def no_credential_anywhere() -> None:
    for event in AuditEvent.objects.all():
        assert GITHUB_TOKEN not in repr((event.changes, event.reason))


# --- NHI2: leak incidents ------------------------------------------------------------


def test_an_open_incident_breaks_nhi2_until_contained_or_closed(personas, make_path):
    path = make_path(name="billing-export", **LOW)
    make_path(name="bystander", **LOW)
    assert counted(personas, NHI2, NOW) == 0
    opened = services.incident_open(actor=personas.pat, path=path, summary="In a gist.", now=NOW)
    assert counted(personas, NHI2, NOW) == 1
    assert breaks(path, NHI2, NOW)
    services.incident_contain(actor=personas.pat, incident=opened, now=NOW + HOUR)
    assert counted(personas, NHI2, NOW + HOUR) == 0
    again = services.incident_open(actor=personas.pat, path=path, summary="Again.", now=NOW + HOUR)
    assert counted(personas, NHI2, NOW + HOUR) == 1
    services.incident_close(
        actor=personas.sam, incident=again, reason="A test credential, not a leak.",
        now=NOW + 2 * HOUR,
    )  # fmt: skip
    assert counted(personas, NHI2, NOW + 2 * HOUR) == 0


def test_an_unmatched_incident_counts_once_linked(personas, make_path):
    path = make_path(name="billing-export", **LOW)
    unmatched = services.incident_open(
        actor=personas.sam, identifier="AKIAZZZZZZZZZZZZZZZZ", summary="In a log.", now=NOW
    )
    assert unmatched.path_id is None
    assert counted(personas, NHI2, NOW) == 0
    services.incident_link_path(actor=personas.sam, incident=unmatched, path=path, now=NOW)
    assert counted(personas, NHI2, NOW) == 1


# --- NHI2: a credential pasted into the registry ---------------------------------------


def assert_signal(path: AccessPath, fields: list[str], before: AccessPath) -> AccessPath:
    fresh = AccessPath.objects.get(pk=path.pk)
    assert fresh.secret_refused_at is not None
    # The refused change rolled back, and the signal is no change of the record.
    assert (fresh.version, fresh.justification) == (before.version, before.justification)
    event = AuditEvent.objects.filter(action=SECRET_REFUSED).latest("seq")
    assert (event.object_id, event.path_id) == (str(path.pk), path.pk)
    assert event.changes["fields"] == [None, fields]
    no_credential_anywhere()
    return fresh


def test_a_secret_refused_by_the_api_breaks_nhi2_until_rotated(personas, make_path):
    path = make_path(name="billing-export", **LOW)
    pat = session(personas.users.pat)
    pasted = f"The nightly export job signs in with {GITHUB_TOKEN} to read invoices."
    response = pat.patch(url(path), {"justification": pasted}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["justification"] == [
        errors.LOOKS_LIKE_SECRET.format(kind="GitHub token")
    ]
    fresh = assert_signal(path, ["justification"], path)
    later = fresh.secret_refused_at + HOUR
    assert breaks(fresh, NHI2, later)
    assert counted(personas, NHI2, later) == 1
    # A rotation recorded after the refusal clears it.
    services.path_update(
        actor=personas.pat, path=fresh, changes={"last_rotated_at": later}, now=later
    )
    assert not breaks(fresh, NHI2, later)
    assert counted(personas, NHI2, later) == 0


def test_a_credential_given_as_an_identifier_is_a_signal(personas, make_path):
    path = make_path(name="billing-export", **LOW)
    pat = session(personas.users.pat)
    body = {"identifiers": [{"kind": "key_id", "value": GITHUB_TOKEN}]}
    response = pat.patch(url(path), body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["identifiers"] == [
        errors.IDENTIFIER_IS_A_CREDENTIAL.format(kind="GitHub token")
    ]
    assert_signal(path, ["identifiers"], path)


def test_a_secret_refused_by_the_edit_page_is_a_signal(client, personas, make_path):
    path = make_path(name="billing-export", **LOW)
    client.force_login(personas.users.pat)
    response = submit_edit(client, path, justification=f"Uses {GITHUB_TOKEN} nightly")
    assert response.status_code == 400
    assert GITHUB_TOKEN not in response.content.decode()
    fresh = assert_signal(path, ["justification"], path)
    assert counted(personas, NHI2, fresh.secret_refused_at) == 1


def test_other_refusals_and_outsiders_leave_no_signal(personas, make_path):
    path = make_path(name="billing-export", **LOW)
    pat, otto = session(personas.users.pat), session(personas.users.otto)
    assert pat.patch(url(path), {"justification": "n/a"}, format="json").status_code == 400
    body = {"justification": f"Uses {GITHUB_TOKEN}"}
    assert otto.patch(url(path), body, format="json").status_code == 404
    assert AccessPath.objects.get(pk=path.pk).secret_refused_at is None
    assert not AuditEvent.objects.filter(action=SECRET_REFUSED).exists()


# --- NHI4: the credential report's MFA --------------------------------------------------


def report_import(personas, content: bytes, now: dt.datetime):
    rows = aws_credential_report.read(io.BytesIO(content))
    return services.paths_import(actor=personas.sam, rows=rows, source_format="aws", now=now)


def test_a_console_password_without_mfa_breaks_nhi4(personas):
    sample = (SAMPLES / "aws-credential-report.csv").read_bytes()
    report_import(personas, sample, NOW)
    bot = AccessPath.objects.get(name="reporting-bot")
    assert (bot.interactive_login, bot.mfa_active) == (True, False)
    assert AccessPath.objects.get(name="ci-deployer").mfa_active is False
    assert breaks(bot, NHI4, NOW)
    assert counted(personas, NHI4, NOW) == 1
    # The same report again states nothing new.
    again = report_import(personas, sample, NOW + HOUR)
    assert again.run.status == ImportRun.Status.APPLIED
    assert AccessPath.objects.get(pk=bot.pk).version == bot.version

    line = next(line for line in sample.split(b"\n") if line.startswith(b"reporting-bot,"))
    cells = line.split(b",")
    assert cells[7] == b"false"  # mfa_active
    # A report that does not say leaves what the last one said.
    unsaid = sample.replace(line, b",".join([*cells[:7], b"not_supported", *cells[8:]]))
    report_import(personas, unsaid, NOW + 2 * HOUR)
    assert AccessPath.objects.get(pk=bot.pk).mfa_active is False
    # MFA turned on at the source: the next report clears NHI4.
    enabled = sample.replace(line, b",".join([*cells[:7], b"true", *cells[8:]]))
    report_import(personas, enabled, NOW + 3 * HOUR)
    assert AccessPath.objects.get(pk=bot.pk).mfa_active is True
    assert counted(personas, NHI4, NOW + 3 * HOUR) == 0


# --- NHI6: the system offers workload identity -------------------------------------------


def offer(personas, system: str, offered: bool, now: dt.datetime = NOW) -> SystemControlPolicy:
    return services.system_control_policy_set(
        actor=personas.sam, system=system, iam_team=None, pam_team=None, secops_team=None,
        offers_workload_identity=offered, now=now,
    )  # fmt: skip


def test_nhi6_follows_the_control_policy(personas, make_path):
    static = {"credential_lifetime": AccessPath.CredentialLifetime.STATIC, **LOW}
    key = make_path(name="aws-key", system="aws", **static)
    make_path(name="aws-wi", system="aws", kind=AccessPath.Kind.WORKLOAD_IDENTITY, **static)
    make_path(name="aws-short", system="aws", credential_lifetime="short_lived", **LOW)
    make_path(name="gcp-key", system="gcp", **static)
    assert counted(personas, NHI6, NOW) == 0
    policy = offer(personas, "aws", True)
    assert policy.offers_workload_identity is True
    created = AuditEvent.objects.filter(action="control_policy.created").latest("seq")
    assert created.changes == {"system": [None, "aws"], "offers_workload_identity": [None, True]}
    assert counted(personas, NHI6, NOW) == 1
    assert breaks(key, NHI6, NOW)
    offer(personas, "aws", False, NOW + HOUR)
    updated = AuditEvent.objects.filter(action="control_policy.updated").latest("seq")
    assert updated.changes == {"offers_workload_identity": [True, False]}
    assert counted(personas, NHI6, NOW + HOUR) == 0
    versions = SystemControlPolicy.objects.get(system="aws").version
    offer(personas, "aws", False, NOW + HOUR)  # the same policy again: nothing changes
    assert SystemControlPolicy.objects.get(system="aws").version == versions


def test_the_api_reads_and_writes_the_offer(personas, make_path):
    key = make_path(name="aws-key", system="aws", credential_lifetime="static", **LOW)
    sam = session(personas.users.sam)
    detail = reverse("control-policy-detail", args=["aws"])
    saved = sam.put(detail, {"offers_workload_identity": True}, format="json")
    assert saved.status_code == 200
    assert saved.json()["offers_workload_identity"] is True
    assert session(personas.users.pat).get(detail).json()["offers_workload_identity"] is True
    now = timezone.now()
    assert breaks(key, NHI6, now) and counted(personas, NHI6, now) == 1
    # PUT states the whole policy: left out, the platform does not offer it.
    assert sam.put(detail, {}, format="json").json()["offers_workload_identity"] is False
    bad = sam.put(detail, {"offers_workload_identity": "perhaps"}, format="json")
    assert bad.status_code == 400 and "offers_workload_identity" in bad.json()["errors"]
    assert SystemControlPolicy.objects.get(system="aws").offers_workload_identity is False


def test_the_page_sets_the_offer(client, personas):
    page = reverse("registry:control-policies")
    client.force_login(personas.users.sam)
    response = client.post(page, {"system": "gcp", "offers_workload_identity": "on"})
    assert response.status_code == 302
    assert SystemControlPolicy.objects.get(system="gcp").offers_workload_identity is True
    shown = client.get(page).content.decode()
    assert '<td data-workload-identity="gcp">offered</td>' in shown
    assert client.post(page, {"system": "gcp"}).status_code == 302
    assert SystemControlPolicy.objects.get(system="gcp").offers_workload_identity is False
