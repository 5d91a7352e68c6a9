"""Posture rules (registry.rules.posture) beyond one path breaking one rule: revoked and
expired paths have no posture at all; an approved, unexpired exception silences exactly
its rule on its path, while a pending, rejected or expired one silences nothing; over a
whole estate the filter equals `path_violations`, and record quality computed in Python
equals its SQL expression."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AccessPath, PolicyException
from registry.rules.facts import quality_expression
from registry.rules.posture import RECOMMENDED_FIELD_COUNT, record_quality
from registry.selectors.filters import ANY_VIOLATION
from tests.conftest import NOW
from tests.rules.posture.helpers import (
    ALL_CODES,
    BUILDERS,
    DAY,
    MINUTE,
    WAIVER_REASON,
    Rule,
    breaks,
    clean,
    filtered,
    violations,
    waive,
)

pytestmark = pytest.mark.django_db


# --- revoked and expired paths ------------------------------------------------------


def _breaks_everything(make_path, **overrides) -> AccessPath:
    path = make_path(
        privilege_scope="*",
        consumers="a job, b job",
        credential_lifetime="static",
        rotation_days=30,
        last_rotated_at=NOW - 60 * DAY,
        last_used_at=NOW - 200 * DAY,
        **overrides,
    )
    AccessPath.objects.filter(pk=path.pk).update(ticket_url="", justification="Legacy.")
    return AccessPath.objects.get(pk=path.pk)


def test_revoked_and_expired_paths_have_no_violations(personas, make_path):
    many = {
        Rule.NHI5_OVERPRIVILEGED,
        Rule.NHI9_REUSE,
        Rule.NHI7_LONG_LIVED,
        Rule.STALE_RECORD,
        Rule.MISSING_TICKET,
        Rule.WEAK_JUSTIFICATION,
    }
    revoked = _breaks_everything(make_path)
    expiring = _breaks_everything(make_path, expires_at=NOW + DAY)
    stored_expired = _breaks_everything(make_path, expires_at=NOW + DAY)
    for path in (revoked, expiring, stored_expired):
        assert violations(path) == many

    services.path_revoke(
        actor=personas.pat, path=revoked, reason="Replaced by workload identity.", now=NOW
    )
    services.path_expire(actor=personas.system, path=stored_expired, now=NOW + DAY)
    later = NOW + DAY  # `expiring` is past its expiry but no sweep has marked it
    for path in (revoked, expiring, stored_expired):
        assert clean(personas, path, later)
    for code in ALL_CODES:
        assert filtered(personas, code, later) == set()


# --- policy exceptions ----------------------------------------------------------------


@pytest.mark.parametrize("code", ALL_CODES)
def test_an_approved_exception_silences_exactly_its_rule_until_it_expires(
    personas, sid, make_path, code
):
    built = BUILDERS[code](personas, make_path)
    waived, other = built.paths
    # A second rule on the waived path, which the exception must leave alone.
    second = Rule.STALE_RECORD if code == Rule.NHI5_OVERPRIVILEGED else Rule.NHI5_OVERPRIVILEGED
    if second == Rule.NHI5_OVERPRIVILEGED:
        # A legacy row written behind the services' back carries its derived fact too.
        AccessPath.objects.filter(pk=waived.pk).update(privilege_scope="*", broad_scope=True)
    else:
        AccessPath.objects.filter(pk=waived.pk).update(last_used_at=NOW - 200 * DAY)
    at = built.at
    before = violations(waived, at)
    assert before == {code, second} | built.also

    # A lease over the maximum flags its issuer for 30 days: a shorter waiver ends first.
    days = 10 if code == Rule.NHI7_LEASE_OVER_MAX else 30
    exception = waive(personas, sid, waived, code, at=at, days=days)
    assert exception.status == PolicyException.Status.APPROVED

    assert violations(waived, at) == before - {code}
    assert waived.pk not in filtered(personas, code, at)
    assert waived.pk in filtered(personas, second, at)
    assert waived.pk in filtered(personas, ANY_VIOLATION, at)
    # The same rule on another path is not waived.
    assert breaks(personas, other, code, at)

    # Still silenced a minute before the exception ends; listed again from its end on.
    ends = exception.expires_at
    assert not breaks(personas, waived, code, ends - MINUTE)
    assert breaks(personas, waived, code, ends)
    assert violations(waived, ends + DAY) == before


def test_pending_and_rejected_exceptions_silence_nothing(personas, sid, make_path):
    path = make_path(privilege_scope="s3:*")
    pending = services.exception_request(
        actor=personas.sam,
        path=path,
        rule=Rule.NHI5_OVERPRIVILEGED,
        reason=WAIVER_REASON,
        expires_at=NOW + 30 * DAY,
        now=NOW,
    )
    assert breaks(personas, path, Rule.NHI5_OVERPRIVILEGED)
    services.exception_reject(actor=sid, exception=pending, reason="Narrow the scope.", now=NOW)
    assert breaks(personas, path, Rule.NHI5_OVERPRIVILEGED)


def test_an_exception_for_another_rule_silences_nothing(personas, sid, make_path):
    path = make_path(privilege_scope="s3:*")
    waive(personas, sid, path, Rule.STALE_RECORD, at=NOW)
    assert violations(path) == {Rule.NHI5_OVERPRIVILEGED}


# --- the filter and the page agree across an estate ----------------------------------


def test_posture_filter_equals_path_violations_over_an_estate(personas, make_path):
    estate = []
    for code, build in BUILDERS.items():
        if code == Rule.NO_EXPIRY:
            continue  # it breaks a month later than the others; covered above
        estate += build(personas, make_path).paths
    estate += [make_path(name=f"clean-{i}") for i in range(3)]
    estate.append(make_path(owner_team=None, justification="", ticket_url=""))
    at = NOW + DAY
    by_page = {path.pk: violations(path, at) for path in estate}
    for code in ALL_CODES:
        expected = {pk for pk, codes in by_page.items() if code in codes}
        assert filtered(personas, code, at) == expected, code
    assert filtered(personas, ANY_VIOLATION, at) == {pk for pk, codes in by_page.items() if codes}


# --- record quality -------------------------------------------------------------------


def test_record_quality_in_python_equals_the_sql_expression(personas, make_path, unowned_path):
    full = make_path(
        artifact_ref="github.com/acme/billing/infra/iam.tf",
        consumers="billing-export",
        privilege_scope="s3:GetObject on bucket/*",
        data_classification="confidential",
        revocation_plan="Delete the IAM user; the job fails closed.",
        created_by_ref="terraform run 4411",
        last_used_at=NOW - DAY,
        steward_team=personas.teams.platform,
    )
    partial = make_path(consumers="billing-export", privilege_scope="read-only", steward_team=None)
    minimal = make_path(steward_team=None)
    paths = [full, partial, minimal, unowned_path]
    filled = dict(
        AccessPath.objects.annotate(filled=quality_expression()).values_list("pk", "filled")
    )
    for path in paths:
        path.refresh_from_db()
        assert round(100 * filled[path.pk] / RECOMMENDED_FIELD_COUNT) == record_quality(path)
    assert record_quality(full) == 100
    # Default registration: ticket, justification and the default expiry.
    assert record_quality(minimal) == round(100 * 3 / RECOMMENDED_FIELD_COUNT)
    # Unowned, no expiry, no ticket, no justification: only its steward.
    assert record_quality(unowned_path) == round(100 * 1 / RECOMMENDED_FIELD_COUNT)
    assert record_quality(partial) == round(100 * 5 / RECOMMENDED_FIELD_COUNT)
