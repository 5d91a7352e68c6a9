"""Assertions shared by the service tests: a refusal changes nothing, a success writes
exactly the audit events it should."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection

from registry.audit import verify_chain
from registry.models import (
    AccessPath,
    Attestation,
    AuditEvent,
    Claim,
    Membership,
    PolicyException,
    Team,
    Transfer,
)
from registry.rules import errors

_MODELS = (AccessPath, Claim, Transfer, Attestation, PolicyException, Team, Membership, AuditEvent)


def snapshot() -> dict[str, list[dict]]:
    """Every registry row, so a refusal can be shown to have changed nothing at all."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in _MODELS}


@contextmanager
def refused(error_class: type[errors.ServiceError], message: str | None = None):
    """The block raises `error_class` (with `message`, when given), writes no audit event
    and leaves every row (path version and state included) as it was."""
    audit_count = AuditEvent.objects.count()
    before = snapshot()
    with pytest.raises(error_class) as exc:
        yield exc
    if message is not None:
        assert exc.value.message == message
    assert AuditEvent.objects.count() == audit_count
    assert snapshot() == before


@contextmanager
def records(*actions: str):
    """The block writes exactly these audit events, in order, and the chain holds."""
    start = AuditEvent.objects.count()
    yield
    written = AuditEvent.objects.filter(seq__gt=start).order_by("seq")
    assert [event.action for event in written] == list(actions)
    assert verify_chain().intact


def last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()


class AuditDown(Exception):
    pass


@contextmanager
def audit_write_fails(action: str | None = None):
    """The database refuses to store audit events (only those of `action`, when given),
    however the audit module writes them; the block must fail with that refusal."""

    def refuse(execute, sql, params, many, context):
        if 'INSERT INTO "registry_auditevent"' in sql and (action is None or action in str(params)):
            raise AuditDown
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse), pytest.raises(AuditDown):
        yield


@contextmanager
def audit_trigger_disabled():
    """Someone holding the database: on PostgreSQL, the append-only trigger is off."""
    postgres = connection.vendor == "postgresql"
    toggle = "ALTER TABLE registry_auditevent {} TRIGGER registry_auditevent_no_update_delete"
    with connection.cursor() as cursor:
        if postgres:
            # Fire the test transaction's deferred FK checks now: ALTER TABLE refuses a
            # table with pending trigger events.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(toggle.format("DISABLE"))
        yield
        if postgres:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(toggle.format("ENABLE"))
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
