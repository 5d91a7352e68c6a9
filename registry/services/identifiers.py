"""A path's credential identifiers: key ids, principals, client ids and fingerprints.

Values are normalised here (the one home): fingerprints lowercase 64-hex without a
`sha256:` prefix, everything else trimmed. An identifier names a credential and is never
one: values go through the detector with the rules for `external_id` (a key id such as
`AKIA…` is allowed). Records are never deleted; removing one sets `retired_at`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction

from registry.audit import AuditEntry, audit_record, audit_record_many
from registry.models import AccessPath, CredentialIdentifier
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition
from registry.rules.validation import credential_in
from registry.services._common import lock_path, refuse_if, resolve_now

Kind = CredentialIdentifier.Kind
KINDS = frozenset(Kind.values)
UNIQUE_KINDS = CredentialIdentifier.UNIQUE_KINDS
MAX_IDENTIFIERS = 50
MAX_LENGTH = 500
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
FIELD = "identifiers"

Pair = tuple[str, str]


def normalise(kind: Any, value: Any) -> Pair:
    """(kind, value) as stored, or Invalid naming why not."""
    if not isinstance(kind, str) or kind.strip().lower() not in KINDS:
        raise Invalid.single(FIELD, errors.IDENTIFIER_KIND.format(kind=str(kind)[:40]))
    kind = kind.strip().lower()
    if not isinstance(value, str) or not value.strip():
        raise Invalid.single(FIELD, errors.IDENTIFIER_EMPTY)
    value = value.strip()
    if len(value) > MAX_LENGTH:
        raise Invalid.single(FIELD, errors.IDENTIFIER_TOO_LONG)
    if kind == Kind.FINGERPRINT:
        value = value.lower().removeprefix("sha256:").strip()
        if not _HEX64.match(value):
            raise Invalid.single(FIELD, errors.IDENTIFIER_FINGERPRINT)
        return kind, value
    if finding := credential_in("external_id", value):
        raise Invalid.single(FIELD, errors.IDENTIFIER_IS_A_CREDENTIAL.format(kind=finding.kind))
    return kind, value


def parse(items: Any) -> list[Pair]:
    """Identifiers from the API's list of {kind, value} (or (kind, value) pairs),
    normalised, duplicates dropped, in a stable order."""
    if not isinstance(items, list | tuple):
        raise Invalid.single(FIELD, errors.IDENTIFIERS_INVALID)
    pairs: set[Pair] = set()
    for item in items:
        if isinstance(item, Mapping) and set(item) <= {"kind", "value"}:
            pairs.add(normalise(item.get("kind"), item.get("value")))
        elif isinstance(item, list | tuple) and len(item) == 2:
            pairs.add(normalise(item[0], item[1]))
        else:
            raise Invalid.single(FIELD, errors.IDENTIFIERS_INVALID)
    if len(pairs) > MAX_IDENTIFIERS:
        raise Invalid.single(FIELD, errors.TOO_MANY_IDENTIFIERS.format(count=MAX_IDENTIFIERS))
    return sorted(pairs)


def parse_text(text: str, *, separator: str = "\n") -> list[Pair]:
    """`kind:value` items, one per line (the page) or `;`-separated (the registry CSV).
    The value keeps any further colons (ARNs, system:serviceaccount:ns:name)."""
    pairs = []
    for item in text.split(separator):
        item = item.strip()
        if not item:
            continue
        kind, sep, value = item.partition(":")
        if not sep:
            raise Invalid.single(FIELD, errors.IDENTIFIERS_INVALID)
        pairs.append((kind, value))
    return parse(pairs)


def as_text(pairs: Iterable[Pair]) -> list[str]:
    return [f"{kind}:{value}" for kind, value in pairs]


def live_identifiers(path: AccessPath) -> list[CredentialIdentifier]:
    return list(
        CredentialIdentifier.objects.filter(path_id=path.pk, retired_at__isnull=True).order_by(
            "kind", "value"
        )
    )


def _refuse_taken(path: AccessPath, pairs: Sequence[Pair]) -> None:
    """A value registered on another path is refused without naming that path."""
    if not pairs:
        return
    values = {value for kind, value in pairs if kind in UNIQUE_KINDS}
    if not values:
        return
    taken = {
        (i.kind, i.value)
        for i in CredentialIdentifier.objects.filter(
            value__in=values, kind__in=UNIQUE_KINDS, retired_at__isnull=True
        )
        .exclude(path_id=path.pk)
        .only("kind", "value")
    }
    if taken & set(pairs):
        raise InvalidTransition(errors.IDENTIFIER_TAKEN, field=FIELD)


def _write(
    path: AccessPath,
    *,
    add: Sequence[Pair],
    retire: Sequence[CredentialIdentifier],
    source: str,
    now: dt.datetime,
) -> None:
    if retire:
        CredentialIdentifier.objects.filter(pk__in=[i.pk for i in retire]).update(retired_at=now)
    try:
        with transaction.atomic():
            CredentialIdentifier.objects.bulk_create(
                [
                    CredentialIdentifier(
                        path_id=path.pk, kind=k, value=v, source=source, created_at=now
                    )
                    for k, v in add
                ]
            )
    except IntegrityError as exc:  # registered concurrently on another path
        raise InvalidTransition(errors.IDENTIFIER_TAKEN, field=FIELD) from exc


@transaction.atomic
def identifiers_set(
    *,
    actor: Actor,
    path: AccessPath,
    identifiers: Any,
    source: str = "manual",
    now: dt.datetime | None = None,
) -> list[CredentialIdentifier]:
    """Make the path's live identifiers exactly `identifiers` (new ones added, missing
    ones retired). Whoever may edit the path may set them. Returns the live ones."""
    now = resolve_now(now)
    wanted = parse(identifiers)
    locked = lock_path(path.pk)
    refuse_if(permissions.refuse_update(actor, locked))
    return apply_identifiers(actor=actor, locked=locked, wanted=wanted, source=source, now=now)


def apply_identifiers(
    *, actor: Actor, locked: AccessPath, wanted: list[Pair], source: str, now: dt.datetime
) -> list[CredentialIdentifier]:
    """identifiers_set on a path its caller has locked and checked (registering a path
    with identifiers checks the registration's permission, not the edit's)."""
    current = live_identifiers(locked)
    have = {(i.kind, i.value) for i in current}
    add = [p for p in wanted if p not in have]
    retire = [i for i in current if (i.kind, i.value) not in set(wanted)]
    if not add and not retire:
        return current
    _refuse_taken(locked, add)
    _write(locked, add=add, retire=retire, source=source, now=now)
    audit_record(
        actor=actor,
        action="access_path.identifiers_changed",
        obj=locked,
        now=now,
        changes={FIELD: [as_text(sorted(have)), as_text(wanted)]},
    )
    return live_identifiers(locked)


@transaction.atomic
def identifiers_record_many(
    *,
    actor: Actor,
    found: Mapping[Any, Sequence[Pair]],
    source: str,
    now: dt.datetime | None = None,
) -> dict[Any, Invalid | InvalidTransition]:
    """Imports: add each path's identifiers as its source lists them (never retiring
    what a person or another source recorded). `found` maps path ids to raw pairs.
    Identifiers already recorded cost no write; one audit append for all paths.
    Returns the refusals per path id (nothing is written for a refused path)."""
    now = resolve_now(now)
    refusals: dict[Any, Invalid | InvalidTransition] = {}
    wanted: dict[Any, list[Pair]] = {}
    for path_id, pairs in found.items():
        try:
            wanted[path_id] = parse(list(pairs))
        except Invalid as exc:
            refusals[path_id] = exc
    values = {v for pairs in wanted.values() for _k, v in pairs}
    live: dict[Pair, set] = {}
    for i in CredentialIdentifier.objects.filter(value__in=values, retired_at__isnull=True):
        live.setdefault((i.kind, i.value), set()).add(i.path_id)
    paths = AccessPath.objects.in_bulk(list(wanted))
    before: dict[Any, list[Pair]] = {}
    for i in CredentialIdentifier.objects.filter(path_id__in=list(wanted), retired_at__isnull=True):
        before.setdefault(i.path_id, []).append((i.kind, i.value))
    rows: list[CredentialIdentifier] = []
    entries: list[AuditEntry] = []
    claimed: dict[Pair, Any] = {}
    for path_id, pairs in wanted.items():
        path = paths[path_id]
        if message := permissions.refuse_update(actor, path):
            refusals[path_id] = InvalidTransition(message, field=FIELD)
            continue
        new = [p for p in pairs if path.pk not in live.get(p, ())]
        if any(
            p[0] in UNIQUE_KINDS and (live.get(p) or claimed.get(p, path.pk) != path.pk)
            for p in new
        ):
            refusals[path_id] = InvalidTransition(errors.IDENTIFIER_TAKEN, field=FIELD)
            continue
        if not new:
            continue
        for p in new:
            claimed.setdefault(p, path.pk)
        rows += [
            CredentialIdentifier(path_id=path.pk, kind=k, value=v, source=source, created_at=now)
            for k, v in new
        ]
        entries.append(
            AuditEntry(
                action="access_path.identifiers_changed",
                obj=path,
                changes={
                    FIELD: [
                        as_text(sorted(before.get(path.pk, []))),
                        as_text(sorted({*before.get(path.pk, []), *new})),
                    ]
                },
                reason=f"Recorded by the {source.removeprefix('import:')} import.",
            )
        )
    CredentialIdentifier.objects.bulk_create(rows)
    audit_record_many(actor=actor, now=now, entries=entries)
    return refusals


def identifiers_import(
    *, actor: Actor, rows: Sequence[Any], source: str, now: dt.datetime
) -> list[tuple[Any, dict[str, list[str]]]]:
    """The import engine's hook: record the identifiers of a chunk of applied rows
    (`ImportRow.identifiers`) on their paths. Returns (row, errors) for each row whose
    identifiers were refused, for the import's report."""
    carrying = [r for r in rows if getattr(r, "identifiers", None) and not r.errors]
    if not carrying:
        return []
    ids = {r.data.get("external_id") for r in carrying if r.data.get("external_id")}
    paths = {
        (p.system, p.external_id): p.pk
        for p in AccessPath.objects.filter(external_id__in=ids).only("id", "system", "external_id")
    }
    found: dict[Any, list[Pair]] = {}
    by_path: dict[Any, Any] = {}
    for row in carrying:
        path_id = paths.get((row.data.get("system"), row.data.get("external_id")))
        if path_id is not None:
            found.setdefault(path_id, []).extend(row.identifiers)
            by_path[path_id] = row
    refusals = identifiers_record_many(actor=actor, found=found, source=f"import:{source}", now=now)
    return [(by_path[pid], {FIELD: [exc.message]}) for pid, exc in refusals.items()]
