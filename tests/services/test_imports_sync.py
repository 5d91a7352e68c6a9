"""Importing what a source says over time: history ("last attested") is carried into the
review clock; a full sync flags what its source no longer lists; a source that reports
a credential disabled or expired retires it.

The command's clock is pinned at NOW and moved on by the tests (the `clock` fixture,
tests/services/conftest.py)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from django.utils import timezone

from registry import services
from registry.models import AccessPath, AuditEvent
from registry.rules.policies import current_policy
from registry.selectors.dashboard import dashboard_stats
from tests.conftest import NOW
from tests.services.imports_helpers import (
    ARN,
    DAY,
    ENTRA_EXPIRED,
    FORMATS,
    GCP_ETL_KEY,
    estate,
    import_sample,
    last_seq,
    listed,
    new_events,
    run,
    run_of,
    sample_json,
    write_csv,
    write_json,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock")]

# --- history -------------------------------------------------------------------------------


def test_last_attested_history_moves_the_review_clock(personas, make_path, tmp_path):
    path = make_path(system="vault", external_id="vault:approle/legacy", created_via="discovery")
    assert path.last_attested_at is None and path.next_review_at == NOW + 90 * DAY
    attested = NOW - 20 * DAY
    new_attested = NOW - 10 * DAY
    rows = [
        {"system": "vault", "external_id": "vault:approle/legacy", "name": "",
         "kind": "", "environment": "", "owner_team": "", "justification": "",
         "ticket_url": "", "last_attested_at": attested.isoformat()},
        {"system": "vault", "external_id": "vault:approle/new", "name": "new-legacy-job",
         "kind": "ci_secret", "environment": "prod", "owner_team": "payments",
         "justification": "The release pipeline signs artefacts with this key.",
         "ticket_url": "https://tickets.example.com/browse/SEC-9", "last_attested_at":
         new_attested.isoformat()},
    ]  # fmt: skip
    seq = last_seq()

    output, _ = run(write_csv(tmp_path, "history.csv", rows), "--format", "csv")

    assert run_of(output).counts == {"created": 1, "updated": 1}
    path.refresh_from_db()
    assert path.last_attested_at == attested
    assert path.next_review_at == attested + dt.timedelta(days=path.review_interval_days)
    assert path.version == 2
    created = AccessPath.objects.get(external_id="vault:approle/new")
    assert created.last_attested_at == new_attested
    assert created.next_review_at == new_attested + dt.timedelta(days=created.review_interval_days)
    assert new_events(seq) == [
        "access_path.history_imported",
        "access_path.registered",
        "access_path.history_imported",
        "import.applied",
    ]
    event = AuditEvent.objects.filter(action="access_path.history_imported", path=path).get()
    assert event.actor_label == "import_paths"
    assert "before this registry" in event.reason
    assert set(event.changes) == {"last_attested_at", "next_review_at"}

    # an older review than the registry's is ignored
    rows[0]["last_attested_at"] = (NOW - 30 * DAY).isoformat()
    rows[1]["last_attested_at"] = new_attested.isoformat()
    seq = last_seq()

    output, _ = run(write_csv(tmp_path, "older.csv", rows), "--format", "csv")

    assert run_of(output).counts == {"unchanged": 2}
    assert new_events(seq) == ["import.applied"]
    path.refresh_from_db()
    assert (path.last_attested_at, path.version) == (attested, 2)


def test_history_older_than_a_real_attestation_is_ignored(personas, make_path, tmp_path):
    path = make_path(system="vault", external_id="vault:approle/attested", created_via="discovery")
    services.path_attest(
        actor=personas.lee,
        path=path,
        decision="keep",
        still_needed=True,
        justification_accurate=True,
        least_privilege=True,
        no_human_use=True,
        now=NOW - DAY,
    )
    path.refresh_from_db()
    rows = [{"system": "vault", "external_id": "vault:approle/attested",
             "last_attested_at": (NOW - 5 * DAY).isoformat()}]  # fmt: skip
    before = estate()

    output, _ = run(write_csv(tmp_path, "h.csv", rows), "--format", "csv")

    assert run_of(output).counts == {"unchanged": 1}
    assert estate()["paths"] == before["paths"]
    after = AccessPath.objects.get(pk=path.pk)
    assert (after.last_attested_at, after.next_review_at) == (NOW - DAY, path.next_review_at)


# --- full sync -----------------------------------------------------------------------------

K8S_MISSED = {"kube-system/coredns", "product-catalog/catalog-api"}


def k8s_without(tmp_path: Path, names: set[str], file_name: str = "k8s-smaller.json") -> Path:
    document = sample_json("k8s-serviceaccounts.json")
    document["items"] = [
        item
        for item in document["items"]
        if f"{item['metadata'].get('namespace')}/{item['metadata']['name']}" not in names
    ]
    return write_json(tmp_path, file_name, document)


def not_seen_headline(personas) -> int:
    stats = dashboard_stats(actor=personas.sam, now=timezone.now(), policy=current_policy())
    (figure,) = [f for f in stats.headline if f.label == "Not seen in last sync"]
    assert figure.query == "not_seen=true"
    return figure.count


def k8s(*external_ids: str) -> set[tuple[str, str]]:
    return {("kubernetes", external_id) for external_id in external_ids}


def test_full_sync_flags_the_live_paths_its_source_no_longer_lists(
    personas, make_path, tmp_path, clock
):
    import_sample("k8s-serviceaccounts")
    # the same source for another cluster, other sources, and other ways in
    import_sample("k8s-serviceaccounts", "--system", "kubernetes-eu")
    import_sample("gcp-sa-keys")
    csv_rows = [{"name": "metrics", "kind": "service_account", "system": "kubernetes",
                 "external_id": "kube-system/metrics-server", "environment": "other"}]  # fmt: skip
    run(write_csv(tmp_path, "k8s.csv", csv_rows), "--format", "csv")
    manual = make_path(system="kubernetes", external_id="payments-prod/manual")
    # a revoked path the source no longer lists is no candidate for retirement
    frontend = AccessPath.objects.get(system="kubernetes", external_id="staging-web/frontend")
    services.path_revoke(actor=personas.sam, path=frontend, reason="Decommissioned.", now=NOW)
    clock.now = later = NOW + dt.timedelta(hours=6)
    before = estate()

    output, _ = run(
        k8s_without(tmp_path, K8S_MISSED | {"staging-web/frontend"}),
        "--format",
        "k8s-serviceaccounts",
        "--full-sync",
    )

    sync = run_of(output)
    assert sync.counts == {"unchanged": 2, "not_seen": 2}
    assert sync.full_sync
    flagged = AccessPath.objects.filter(not_seen_since__isnull=False)
    assert {(p.system, p.external_id) for p in flagged} == k8s(*K8S_MISSED)
    assert set(flagged.values_list("not_seen_since", flat=True)) == {later}
    # flagging is bookkeeping: no version bump, no audit event but the run's
    assert estate()["paths"] == before["paths"]
    assert estate()["events"] - before["events"] == Counter({"import.applied": 1})
    assert AccessPath.objects.get(pk=manual.pk).not_seen_since is None
    assert not_seen_headline(personas) == 2
    assert listed(personas, not_seen="true") == k8s(*K8S_MISSED)
    everything = set(AccessPath.objects.values_list("system", "external_id"))
    assert listed(personas, not_seen="false") == everything - k8s(*K8S_MISSED)

    # a second full sync that misses them again keeps the first date
    clock.now = NOW + dt.timedelta(hours=12)
    output, _ = run(
        k8s_without(tmp_path, K8S_MISSED | {"staging-web/frontend"}),
        "--format",
        "k8s-serviceaccounts",
        "--full-sync",
    )
    assert run_of(output).counts["not_seen"] == 0
    assert set(flagged.values_list("not_seen_since", flat=True)) == {later}

    # seen again (in any later import of the source) clears the flag
    clock.now = NOW + dt.timedelta(days=1)
    output, _ = run(
        k8s_without(tmp_path, {"kube-system/coredns", "staging-web/frontend"}),
        "--format",
        "k8s-serviceaccounts",
    )
    assert run_of(output).counts == {"unchanged": 3}
    catalog = AccessPath.objects.get(system="kubernetes", external_id="product-catalog/catalog-api")
    assert (catalog.not_seen_since, catalog.last_seen_at) == (None, NOW + dt.timedelta(days=1))
    assert listed(personas, not_seen="true") == k8s("kube-system/coredns")
    assert not_seen_headline(personas) == 1


def test_a_flagged_path_that_stops_being_live_leaves_the_headline(personas, tmp_path):
    import_sample("k8s-serviceaccounts")
    run(k8s_without(tmp_path, K8S_MISSED), "--format", "k8s-serviceaccounts", "--full-sync")
    coredns = AccessPath.objects.get(external_id="kube-system/coredns")

    services.path_revoke(actor=personas.sam, path=coredns, reason="Gone from the cluster.")

    assert not_seen_headline(personas) == 1
    assert listed(personas, not_seen="true") == k8s("product-catalog/catalog-api")


def test_full_sync_of_the_registry_format_flags_only_its_own_system(personas, tmp_path):
    import_sample("csv")
    import_sample("aws-credential-report")
    rows = [{"name": "vault-data-export", "kind": "api_token", "system": "vault",
             "external_id": "vault:token/data-export", "environment": "staging",
             "created_via": "iac"}]  # fmt: skip

    output, _ = run(write_csv(tmp_path, "vault.csv", rows), "--format", "csv", "--full-sync")

    assert run_of(output).counts == {"unchanged": 1, "not_seen": 2}
    assert listed(personas, not_seen="true") == {
        ("vault", "vault:approle/billing-reader"),
        ("vault", "vault:userpass/ops-console"),
    }


# --- disabled and expired credentials ------------------------------------------------------


def test_disabled_or_expired_credentials_are_not_registered(personas):
    for fmt in (
        "aws-credential-report",
        "gcp-sa-keys",
        "github-pat-grants",
        "entra-app-credentials",
    ):
        import_sample(fmt)

    registered = set(AccessPath.objects.values_list("external_id", flat=True))
    for fmt in (
        "aws-credential-report",
        "gcp-sa-keys",
        "github-pat-grants",
        "entra-app-credentials",
    ):
        assert not FORMATS[fmt][2] & registered
    assert not AuditEvent.objects.filter(action="access_path.revoked").exists()


def test_a_registered_live_path_reported_disabled_is_revoked(personas, make_path, tmp_path):
    alice = make_path(system="aws", external_id=ARN + "alice", created_via="discovery")
    import_sample("gcp-sa-keys")
    etl = AccessPath.objects.get(external_id=GCP_ETL_KEY)
    seq = last_seq()

    output = import_sample("aws-credential-report")

    assert run_of(output).counts == {"created": 4, "revoked": 1, "skipped_gone": 1}
    alice.refresh_from_db()
    assert alice.state == AccessPath.State.REVOKED
    event = AuditEvent.objects.get(action="access_path.revoked", path=alice, seq__gt=seq)
    assert event.actor_label == "import_paths"
    assert event.reason == "The aws-credential-report import reports it disabled."

    # a GCP key disabled since the last import
    document = sample_json("gcp-sa-keys.json")
    for key in document:
        if key["name"] == GCP_ETL_KEY:
            key["disabled"] = True
    output, _ = run(write_json(tmp_path, "gcp.json", document), "--format", "gcp-sa-keys")

    assert run_of(output).counts == {"unchanged": 1, "revoked": 1, "skipped_gone": 1}
    etl.refresh_from_db()
    assert etl.state == AccessPath.State.REVOKED
    event = AuditEvent.objects.get(action="access_path.revoked", path=etl)
    assert "gcp-sa-keys import" in event.reason and "disabled" in event.reason

    # reported disabled again: already revoked, nothing to do
    before = estate()
    output, _ = run(write_json(tmp_path, "gcp.json", document), "--format", "gcp-sa-keys")
    assert run_of(output).counts == {"unchanged": 2, "skipped_gone": 1}
    assert estate()["paths"] == before["paths"]


def test_a_registered_live_path_reported_expired_is_revoked(personas, make_path):
    secret = make_path(
        system="entra",
        external_id=ENTRA_EXPIRED,
        expires_at=NOW + 30 * DAY,
        created_via="discovery",
    )

    output = import_sample("entra-app-credentials")

    assert run_of(output).counts == {"created": 3, "revoked": 1}
    secret.refresh_from_db()
    assert secret.state == AccessPath.State.REVOKED
    event = AuditEvent.objects.get(action="access_path.revoked", path=secret)
    assert event.reason == "The entra-app-credentials import reports it expired on 2026-06-01."
