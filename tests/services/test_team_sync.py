"""`manage.py import_teams`: teams, users and memberships from a Backstage catalog or a
CSV (readers: registry.importers.teams; rules: registry.services.team_sync). Every
change is an audited service call by the "import_teams" system actor; a second run of
the same file changes nothing; a bad file changes nothing and names its line. Full
syncs: tests/services/test_team_sync_full.py."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError

from registry import services
from registry.audit import verify_chain
from registry.models import AuditEvent, Team
from registry.rules.actors import Actor
from registry.services.security import SECURITY_ACTIONS
from tests.assertions import snapshot
from tests.services.team_sync_helpers import (
    ACME_TEAM_A,
    BROKEN_CSV,
    CATALOG,
    CATALOG_TEAMS,
    DANGLING,
    PERSONA_TEAMS,
    TEAMS_CSV,
    catalog,
    group,
    importer_events,
    members,
    run,
    status_of,
    team,
    user,
    write,
)

pytestmark = pytest.mark.django_db

# --- Backstage catalog -----------------------------------------------------------------


def test_catalog_imports_teams_parents_users_and_memberships(personas):
    before = AuditEvent.objects.count()

    out = run(CATALOG, "--format", "backstage")

    assert set(Team.objects.values_list("slug", flat=True)) == CATALOG_TEAMS | PERSONA_TEAMS
    rows = {
        t.slug: (t.name, t.kind, t.email, t.parent and t.parent.slug, t.is_active)
        for t in Team.objects.filter(slug__in=CATALOG_TEAMS).select_related("parent")
    }
    assert rows == {
        "engineering": ("Engineering", "other", "engineering@example.com", None, True),
        "checkout": ("Checkout", "product", "checkout@example.com", "engineering", True),
        # no spec.parent: engineering's spec.children names it
        "cloud-platform": (
            "Cloud Platform", "platform", "cloud-platform@example.com", "engineering", True
        ),
        # namespace "sec": the slug says so; its parent is named with an explicit namespace
        "sec-appsec": ("Application Security Engineering", "product", "", "engineering", True),
        "fraud-analytics": ("Fraud Analytics", "product", "", None, True),
    }  # fmt: skip
    User = get_user_model()
    for name in ("ana", "ben", "carl", "dina"):
        created = User.objects.get(username=name)
        assert created.email == f"{name}@example.com"
        assert not created.has_usable_password()
    # Group.spec.members and User.spec.memberOf, united; Backstage has no leads
    assert members("checkout") == {"ana": "member", "ben": "member"}
    assert members("cloud-platform") == {"carl": "member"}
    assert members("sec-appsec") == {"dina": "member"}
    assert members("fraud-analytics") == {"ben": "member"}
    assert members("engineering") == {}
    # persona teams are untouched
    assert members("payments") == {"pat": "member", "lee": "lead"}

    # every change is an audited service call by the importer, in one request (and each
    # new account is a security event of its own)
    new_accounts = AuditEvent.objects.filter(seq__gt=before, action="user.created")
    assert new_accounts.count() == 4
    written = AuditEvent.objects.filter(seq__gt=before).exclude(action__in=SECURITY_ACTIONS)
    assert written.count() == importer_events().count() == 10
    assert (
        sorted(written.values_list("action", flat=True))
        == ["membership.added"] * 5 + ["team.created"] * 5
    )
    assert len(set(written.values_list("request_id", flat=True))) == 1
    assert written.first().request_id
    assert verify_chain().intact

    assert "Teams: 5 created, 0 updated, 0 unchanged, 0 reactivated, 0 deactivated." in out
    assert "Users: 4 created, 0 updated." in out
    assert "Memberships: 5 added, 0 roles changed, 0 ended." in out
    assert "line 106: Component checkout-api skipped (not a Group or User)." in out
    assert "Unresolved" not in out


def test_the_format_follows_the_extension(personas):
    run(CATALOG)

    assert Team.objects.filter(slug__in=CATALOG_TEAMS).count() == 5


def test_references_default_to_the_namespace_of_the_entity_writing_them(db, tmp_path):
    services.team_create(
        actor=Actor.system("test-setup"), data={"slug": "infra", "name": "Infra (default ns)"}
    )
    path = catalog(
        tmp_path,
        "kind: Group\nmetadata:\n  name: infra\n  namespace: ops\nspec:\n  type: team\n"
        "  children: []",
        "kind: Group\nmetadata:\n  name: sre\n  namespace: ops\nspec:\n  type: team\n"
        "  parent: infra\n  children: []\n  members: [sam]",
        "kind: User\nmetadata:\n  name: sam\n  namespace: ops\nspec:\n  memberOf: []",
    )

    out = run(path)

    assert team("ops-sre").parent.slug == "ops-infra"  # not default/infra
    assert members("ops-sre") == {"ops+sam": "member"}  # <namespace>+<name>
    assert "Unresolved" not in out


def test_one_user_name_in_two_namespaces_is_two_users(db):
    """Backstage's own example organisation (acme team-a) has a `guest` in `default`
    and another in `development`: both import, the default one under its bare name."""
    out = run(ACME_TEAM_A)

    assert members("team-a") == {
        "breanna.davison": "member",
        "janelle.dawe": "member",
        "nigel.manning": "member",
        "guest": "member",
        "development+guest": "member",
    }
    User = get_user_model()
    assert User.objects.get(username="development+guest").email == "guest@example.com"
    assert User.objects.get(username="development+guest").has_usable_password() is False
    assert "'backstage': not in the file" in out  # team-a's parent lives in another file
    again = run(ACME_TEAM_A)  # the second run changes nothing
    assert "Users: 0 created, 0 updated." in again
    assert "Memberships: 0 added" in again
    assert User.objects.filter(username__endswith="guest").count() == 2


def test_user_references_name_the_namespaced_user(db, tmp_path):
    path = catalog(
        tmp_path,
        "kind: Group\nmetadata:\n  name: qa\nspec:\n  type: team\n  children: []\n"
        "  members: [guest, development/guest, user:development/Guest]",
        "kind: User\nmetadata:\n  name: guest\n  namespace: development\nspec:\n  memberOf: []",
        "kind: User\nmetadata:\n  name: guest\nspec:\n  memberOf: []",
    )

    run(path)

    assert members("qa") == {"guest": "member", "development+guest": "member"}


def test_dangling_references_are_reported_not_fatal(personas):
    out = run(DANGLING)

    assert team("payments-ops").parent is None
    assert team("payments-ops").name == "Payments Operations"
    assert members("payments-ops") == {"erin": "member"}
    assert "Unresolved references (5), not imported:" in out
    for line in [
        "line 11, Group default/payments-ops, spec.parent: 'finance': not in the file, "
        "and no team 'finance' in the registry",
        "line 12, Group default/payments-ops, spec.children: 'ghost-squad': not in the "
        "file, and no team 'ghost-squad' in the registry",
        "line 13, Group default/payments-ops, spec.members: 'user:ghost': not in the file, "
        "and no user 'ghost' in the registry",
        "line 24, User default/erin, spec.memberOf: 'group:partners/nowhere': not in the "
        "file, and no team 'partners-nowhere' in the registry",
        "line 25, User default/erin, spec.memberOf: 'user:default/erin': expected a Group "
        "reference",
    ]:
        assert line in out


def test_references_to_teams_and_users_the_registry_knows_resolve(personas, tmp_path):
    finance = services.team_create(
        actor=personas.system, data={"slug": "finance", "name": "Finance", "kind": "other"}
    )
    path = catalog(
        tmp_path,
        group("payments-ops", members=["otto", "user:default/Dana"], parent="finance"),
        user("erin", "payments-ops", "payments"),
    )

    out = run(path)

    assert team("payments-ops").parent == finance
    assert members("payments-ops") == {"dana": "member", "erin": "member", "otto": "member"}
    assert members("payments") == {"pat": "member", "lee": "lead", "erin": "member"}
    assert "Unresolved" not in out


def test_second_import_is_idempotent(personas):
    run(CATALOG)
    events = AuditEvent.objects.count()
    before = snapshot()
    users = list(get_user_model().objects.order_by("pk").values())

    out = run(CATALOG, "--full-sync")

    assert AuditEvent.objects.count() == events
    assert snapshot() == before
    assert list(get_user_model().objects.order_by("pk").values()) == users
    assert "Teams: 0 created, 0 updated, 5 unchanged, 0 reactivated, 0 deactivated." in out
    assert "Users: 0 created, 0 updated." in out
    assert "Memberships: 0 added, 0 roles changed, 0 ended." in out


def test_dry_run_changes_nothing(personas):
    before = snapshot()
    users = get_user_model().objects.count()

    out = run(CATALOG, "--dry-run", "--full-sync")

    assert snapshot() == before
    assert get_user_model().objects.count() == users
    assert "Dry run: nothing was saved." in out
    assert "Teams: 5 created" in out
    assert "Teams that would be created: engineering, checkout, cloud-platform" in out
    assert "Memberships: 5 added" in out


def test_dry_run_of_a_full_sync_shows_the_offboarding_without_doing_it(personas, tmp_path):
    run(catalog(tmp_path, group("ledger", members=["ana"]), user("ana")))
    before = snapshot()

    out = run(
        catalog(tmp_path, group("treasury"), user("ana"), name="v2.yaml"),
        "--full-sync",
        "--dry-run",
    )

    assert "Teams that would be deactivated (their paths lapse): ledger" in out
    assert snapshot() == before
    assert team("ledger").is_active


# --- CSV ----------------------------------------------------------------------------


def test_csv_imports_teams_parents_and_roles_and_reports_unknown_references(personas):
    users = get_user_model().objects.count()

    out = run(TEAMS_CSV, "--format", "csv")

    rows = {
        t.slug: (t.name, t.kind, t.email, t.parent and t.parent.slug)
        for t in Team.objects.filter(slug__in=CATALOG_TEAMS).select_related("parent")
    }
    assert rows == {
        "engineering": ("Engineering", "other", "engineering@example.com", None),
        "checkout": ("Checkout", "product", "checkout@example.com", "engineering"),
        "cloud-platform": ("Cloud Platform", "platform", "", "engineering"),
        "fraud-analytics": ("Fraud Analytics", "product", "", None),
    }
    assert members("checkout") == {"pat": "lead", "dana": "member", "otto": "member"}
    assert members("cloud-platform") == {}
    assert get_user_model().objects.count() == users  # a CSV creates no users
    assert (
        "  line 8, team cloud-platform, member: 'ghost': not in the file, and no user 'ghost' "
        "in the registry\n  line 9, team fraud-analytics, parent: 'finance': not in the file, "
        "and no team 'finance' in the registry\n"
    ) in out

    events = AuditEvent.objects.count()
    again = run(TEAMS_CSV)

    assert AuditEvent.objects.count() == events
    assert "0 created, 0 updated, 4 unchanged" in again


def test_csv_full_sync_ends_roles_and_memberships_and_offboards(personas, make_path, tmp_path):
    run(TEAMS_CSV)
    platform_path = make_path(owner_team=team("checkout"))
    path = write(
        tmp_path,
        "v2.csv",
        """
        team,member,role,name
        checkout,pat,member,
        checkout,dana,,Checkout & Payments
        engineering,,,
        fraud-analytics,,,
        """,
    )

    out = run(path, "--full-sync")

    assert members("checkout") == {"pat": "member", "dana": "member"}
    assert team("checkout").name == "Checkout & Payments"
    assert team("checkout").parent.slug == "engineering"  # not stated: kept
    assert not team("cloud-platform").is_active
    assert "checkout:pat (lead -> member)" in out
    assert "Memberships ended: checkout:otto" in out
    assert status_of(personas, platform_path) == "active"


# --- bad files ------------------------------------------------------------------------


def test_malformed_yaml_is_a_command_error_naming_the_line(personas, tmp_path):
    path = write(
        tmp_path,
        "bad.yaml",
        """
        kind: Group
        metadata:
          name: checkout
        spec: [unclosed
        ---
        kind: User
        """,
    )
    before = snapshot()

    with pytest.raises(CommandError, match=r"bad\.yaml, line 5: Not valid YAML"):
        run(path)

    assert snapshot() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Group\nmetadata:\n  name: a\nspec:\n  type: team\n---\n- 1\n", "line 7: A catalog"),
        ("kind: Group\nspec:\n  type: team\n", "line 1: The Group has no metadata"),
        ("metadata:\n  name: a\n", "line 1: The entity has no kind"),
        (
            "kind: Group\nmetadata:\n  name: 'no spaces'\n",
            "line 1: metadata.name is not a valid entity name",
        ),
        (
            "kind: Group\nmetadata:\n  name: a\nspec:\n  members: ana\n",
            "line 1: Group default/a: spec.members must be a list",
        ),
        (
            "kind: Group\nmetadata:\n  name: a\nspec:\n  members:\n    - ana\n    - 'x y'\n",
            "line 7: Group default/a: spec.members: not an entity reference: 'x y'",
        ),
        (
            "kind: User\nmetadata:\n  name: a\nspec:\n  profile:\n    email: nope\n",
            "line 1: User default/a: spec.profile.email is not an email",
        ),
        (
            "kind: Group\nmetadata:\n  name: sre\n  namespace: ops\n---\n"
            "kind: Group\nmetadata:\n  name: ops-sre\n",
            "line 6: Group default/ops-sre and Group ops/sre (line 1) both map to the team "
            "slug 'ops-sre'",
        ),
    ],
)
def test_a_catalog_that_cannot_be_read_names_its_line(personas, tmp_path, text, message):
    path = tmp_path / "org.yaml"
    path.write_text(text)
    before = snapshot()

    with pytest.raises(CommandError) as exc:
        run(path)

    assert message in str(exc.value)
    assert snapshot() == before


def test_a_refused_change_is_a_command_error_and_saves_nothing(personas, tmp_path):
    path = catalog(tmp_path, group("a", parent="b"), group("b", parent="a"), user("ana", "a"))
    before = snapshot()
    users = get_user_model().objects.count()

    with pytest.raises(CommandError, match="cannot be its own parent or the parent of its"):
        run(path)

    assert snapshot() == before
    assert get_user_model().objects.count() == users


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "line 3: kind: 'wizards' is not one of"),
        ("name,kind\nx,product\n", "line 1: The header has no team column"),
        ("team,member\npayments,pat,lead\n", "line 2: Expected 2 fields, found 3"),
        ("team,member,role\npayments,pat,owner\n", "line 2: role: 'owner' is not one of"),
        ("team,email\npayments,not-an-email\n", "line 2: email: not an email"),
        ("team,name\npay ments,x\n", "line 2: team: not a slug"),
        ("team,name\npayments,A\n\npayments,B\n", "line 4: name: 'B' contradicts 'A'"),
        ("team,member,role\np,pat,lead\np,pat,member\n", "line 3: role: 'member' contradicts"),
        ('team,name\npayments,"unclosed\n', "line 2: Not valid CSV"),
        (b"team\n\xff\xfe\n", "The file is not UTF-8 text"),
        ("", "line 1: The file is empty"),
    ],
)
def test_a_csv_that_cannot_be_read_names_its_line(personas, tmp_path, text, message):
    if text is None:
        path = BROKEN_CSV
    else:
        path = tmp_path / "teams.csv"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    before = snapshot()

    with pytest.raises(CommandError) as exc:
        run(path)

    assert message in str(exc.value)
    assert snapshot() == before


def test_a_file_of_unknown_format_or_missing_is_a_command_error(db, tmp_path):
    with pytest.raises(CommandError, match="give --format"):
        run(write(tmp_path, "teams.txt", "x"))
    with pytest.raises(CommandError, match="Cannot read"):
        run(tmp_path / "missing.yaml")
