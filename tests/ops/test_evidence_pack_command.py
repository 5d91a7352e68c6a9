"""`manage.py evidence_pack`: writes the pack (tests/selectors/test_evidence_pack.py) for
a period to a file and prints its summary; refuses bad dates."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from registry.models import AuditChainHead, AuditEvent
from tests.assertions import last_event
from tests.selectors.evidence_helpers import MEMBERS, build_estate, members, table

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(personas, make_path, sid):
    return build_estate(personas, make_path, sid)


# --- the command ---------------------------------------------------------------------


def test_command_writes_the_pack_and_prints_the_summary(estate, tmp_path):
    target = tmp_path / "pack.zip"
    out = io.StringIO()
    call_command(
        "evidence_pack", "--from", "2026-11-15", "--to", "2027-02-20", "--output", str(target),
        stdout=out,
    )  # fmt: skip
    files = members(target.read_bytes())
    assert list(files) == MEMBERS
    doc = json.loads(files["manifest.json"])
    assert doc["generated_by"] == "evidence_pack"
    assert doc["period"]["start"] == "2026-11-15T00:00:00+00:00"
    assert doc["period"]["end"] == "2027-02-20T00:00:00+00:00"
    assert len(table(files["revocations.csv"], "revocations.csv")) == 1
    text = out.getvalue()
    assert "2026-11-15T00:00:00+00:00 to 2027-02-20T00:00:00+00:00" in text
    assert "paths.csv: 7 rows, sha256 " + doc["files"]["paths.csv"]["sha256"] in text
    assert f"Written to {target}" in text
    assert list(tmp_path.iterdir()) == [target]  # no partial file left behind
    event = last_event()
    assert (event.action, event.actor_type, event.actor_label) == (
        "evidence_pack.generated",
        "system",
        "evidence_pack",
    )
    assert event.request_id


def test_command_writes_the_pack_then_fails_on_a_broken_chain(estate, tmp_path):
    AuditChainHead.objects.update(last_hash="f" * 64)
    target = tmp_path / "pack.zip"
    with pytest.raises(CommandError, match="The audit chain is BROKEN at event #"):
        call_command("evidence_pack", "--from", "2026-11-15", "--to", "2027-02-20",
                     "--output", str(target), stdout=io.StringIO())  # fmt: skip
    doc = json.loads(members(target.read_bytes())["manifest.json"])
    assert doc["audit_chain"]["verified"]["ok"] is False


def test_command_default_file_name(personas, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call_command(
        "evidence_pack", "--from", "2026-01-01", "--to", "2026-04-01", stdout=io.StringIO()
    )
    assert [p.name for p in tmp_path.iterdir()] == ["nhi-evidence-2026-01-01-2026-04-01.zip"]


@pytest.mark.parametrize(
    ("first", "until", "message"),
    [
        ("2026-13-01", "2027-01-01", "Not a date: '2026-13-01'; use YYYY-MM-DD."),
        ("2026-01-01", "tomorrow", "Not a date: 'tomorrow'; use YYYY-MM-DD."),
        ("2026-02-01", "2026-02-01", "--to (2026-02-01) must be after --from (2026-02-01)"),
        ("2026-02-01", "2026-01-01", "--to (2026-01-01) must be after --from (2026-02-01)"),
    ],
)
def test_command_refuses_bad_dates(personas, tmp_path, monkeypatch, first, until, message):
    monkeypatch.chdir(tmp_path)
    before = AuditEvent.objects.count()
    with pytest.raises(CommandError) as exc:
        call_command("evidence_pack", "--from", first, "--to", until, stdout=io.StringIO())
    assert message in str(exc.value)
    assert list(tmp_path.iterdir()) == []
    assert AuditEvent.objects.count() == before
