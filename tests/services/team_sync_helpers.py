"""Helpers shared by the import_teams tests (tests/services/test_team_sync*.py): the
sample catalogs, running the command, reading teams and memberships back, and writing
Backstage entities."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from django.core.management import call_command

from registry.models import AuditEvent, Membership, Team
from registry.selectors import path_get
from registry.services.team_sync import ACTOR_LABEL
from tests.conftest import NOW

SAMPLES = Path(__file__).parents[1] / "samples"
CATALOG = SAMPLES / "backstage-catalog.yaml"
DANGLING = SAMPLES / "backstage-catalog-dangling.yaml"
ACME_TEAM_A = SAMPLES / "backstage-acme-team-a.yaml"
TEAMS_CSV = SAMPLES / "teams.csv"
BROKEN_CSV = SAMPLES / "teams-broken.csv"
CATALOG_TEAMS = {"engineering", "checkout", "cloud-platform", "sec-appsec", "fraud-analytics"}
PERSONA_TEAMS = {"security", "platform", "payments", "data", "growth"}


# --- helpers ------------------------------------------------------------------------


def run(*args: object) -> str:
    out = io.StringIO()
    call_command("import_teams", *map(str, args), stdout=out)
    return out.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def members(slug: str) -> dict[str, str]:
    """Current username -> role in the team."""
    return dict(
        Membership.objects.filter(team__slug=slug, ended_at__isnull=True).values_list(
            "user__username", "role"
        )
    )


def team(slug: str) -> Team:
    return Team.objects.select_related("parent").get(slug=slug)


def importer_events():
    return AuditEvent.objects.filter(actor_type="system", actor_label=ACTOR_LABEL)


def status_of(personas, path) -> str:
    return path_get(actor=personas.sam, path_id=path.pk, now=NOW).status


def group(name: str, *, members=(), parent: str | None = None, type_: str = "team") -> str:
    spec = [f"  type: {type_}", "  children: []", f"  members: [{', '.join(members)}]"]
    if parent:
        spec.append(f"  parent: {parent}")
    return "\n".join(
        [
            "apiVersion: backstage.io/v1alpha1",
            "kind: Group",
            f"metadata:\n  name: {name}",
            "spec:",
            *spec,
        ]
    )


def user(name: str, *member_of: str) -> str:
    return "\n".join(
        [
            "apiVersion: backstage.io/v1alpha1",
            "kind: User",
            f"metadata:\n  name: {name}",
            f"spec:\n  profile:\n    email: {name}@example.com",
            f"  memberOf: [{', '.join(member_of)}]",
        ]
    )


def catalog(tmp_path: Path, *entities: str, name: str = "org.yaml") -> Path:
    path = tmp_path / name
    path.write_text("\n---\n".join(entities) + "\n")
    return path
