"""The trigger that makes facts run out on a write watches every column they read."""

from __future__ import annotations

import importlib
import re

import pytest
from django.db import connection

from registry.models import AccessPath, PathFacts
from registry.rules.facts import FACT_INPUTS, facts_expressions, valid_until_expression
from registry.rules.policies import current_policy
from tests.conftest import NOW


def test_the_trigger_watches_every_column_the_facts_are_computed_from(db):
    policy = current_policy()
    expressions = {f"x_{k}": v for k, v in facts_expressions(now=NOW, policy=policy).items()}
    expressions["x_until"] = valid_until_expression(now=NOW, policy=policy)
    sql = str(AccessPath.objects.annotate(**expressions).values(*expressions).query)
    read = set(re.findall(r'"registry_accesspath"\."(\w+)"', sql))
    read |= set(re.findall(r'U\d+\."(\w+)"', sql)) & {f.column for f in AccessPath._meta.fields}
    # The row's own identity and what only the services write with the facts.
    ignored = {"id", "name", "created_at", "updated_at", "version"}
    columns = {f.column for f in AccessPath._meta.concrete_fields}
    missing = (read & columns) - ignored - set(FACT_INPUTS)
    assert not missing, f"add {sorted(missing)} to FACT_INPUTS and to a new trigger migration"
    frozen = importlib.import_module("registry.migrations.0022_agents_leases_signoff")
    assert set(frozen.FACT_INPUTS) == set(FACT_INPUTS)


@pytest.mark.django_db
def test_a_write_that_bypasses_the_services_makes_the_row_run_out(make_path):
    path = make_path()
    assert PathFacts.objects.get(pk=path.pk).valid_until > NOW
    AccessPath.objects.filter(pk=path.pk).update(ticket_url="")
    assert PathFacts.objects.get(pk=path.pk).valid_until < NOW
    # A column the facts do not read leaves them as they are.
    PathFacts.objects.filter(pk=path.pk).update(valid_until=NOW)
    AccessPath.objects.filter(pk=path.pk).update(name="renamed")
    assert PathFacts.objects.get(pk=path.pk).valid_until == NOW


@pytest.mark.django_db
def test_every_path_has_its_facts_row_however_it_was_inserted(personas):
    path = AccessPath.objects.create(
        name="raw", kind="api_token", system="aws", environment="prod",
        review_interval_days=90, state_changed_at=NOW, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    facts = PathFacts.objects.get(pk=path.pk)
    assert (facts.status, facts.valid_until < NOW) == ("", True)
    assert connection.vendor in ("sqlite", "postgresql")
