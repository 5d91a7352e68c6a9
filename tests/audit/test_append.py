"""The batch append (registry/audit/record.py) computes exactly what the chain defines:
its shortcuts (plain values encoded without a JSON encoder, one salted hash state copied
per slot, changes stored as the text their commitments encoded, COPY on PostgreSQL) give
the hashes `event_hash` recomputes from the rows read back, and the secret scan done
once per distinct value still refuses a credential anywhere in a batch."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from registry.audit import AuditEntry, audit_record_many, event_hash, verify_chain
from registry.audit.chain import canonical
from registry.models import AuditEvent, Team
from registry.rules.errors import Invalid
from tests.conftest import NOW

pytestmark = [pytest.mark.django_db]

AWS_SECRET = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class Text(str):
    pass


class Number(int):
    pass


@pytest.mark.parametrize(
    "value",
    [
        "", "plain", 'quote " backslash \\ tab \t newline \n', "\x01 control", "é 決済 😀",
        "\u2028 line separator", None, True, False, 0, -7, 10**30, 1.5, [None, "after"],
        [True, 3], [], [[1]], [None, {"b": 1, "a": [None]}], {"z": 1, "a": "b"}, (1, 2),
        Text("a str subclass"), Number(3), [Text("x"), None], [1.0, None],
    ],
)  # fmt: skip
def test_canonical_is_json_dumps_sorted_compact_unescaped(value):
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(value) == expected


def _entries(teams: list[Team]) -> list[AuditEntry]:
    return [
        AuditEntry(
            action="team.changed",
            obj=team,
            changes={
                "name": [None, f"Zahlungen {team.slug} 決済"],
                "kind": [None, "team"],
                "members": [None, [1, 2]],
                "when": [None, NOW],
                "parent": [None, team],
            },
            reason='Quoting "and" \\ escapes\nover lines.',
        )
        for team in teams
    ]


def test_a_batch_hashes_as_the_chain_recomputes_it(personas):
    teams = [
        Team.objects.create(slug=f"t{i}", name=f"T{i}", created_at=NOW, updated_at=NOW)
        for i in range(3)
    ]
    with transaction.atomic():
        made = audit_record_many(actor=personas.system, now=NOW, entries=_entries(teams))
    stored = {
        event.seq: event for event in AuditEvent.objects.filter(seq__in=[e.seq for e in made])
    }
    for event in made:
        back = stored[event.seq]
        assert back.hash == event.hash == event_hash(back) == event_hash(event)
        assert back.changes == event.changes
        assert back.purged == {}
    assert [e.prev_hash for e in made[1:]] == [e.hash for e in made[:-1]]
    assert verify_chain().intact


def test_a_credential_anywhere_in_a_batch_refuses_it_all(personas):
    teams = [
        Team.objects.create(slug=f"t{i}", name=f"T{i}", created_at=NOW, updated_at=NOW)
        for i in range(3)
    ]
    entries = _entries(teams)
    entries.append(
        AuditEntry(action="team.changed", obj=teams[0], changes={"kind": [None, AWS_SECRET]})
    )
    before = AuditEvent.objects.count()
    with pytest.raises(Invalid) as refused, transaction.atomic():
        audit_record_many(actor=personas.system, now=NOW, entries=entries)
    assert set(refused.value.errors) == {"kind"}
    assert AuditEvent.objects.count() == before
