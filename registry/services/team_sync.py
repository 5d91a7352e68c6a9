"""Bring teams, users and memberships in line with a team directory (a Backstage
catalog or a CSV, read by registry.importers.teams).

Every change goes through the team services (team_create, team_update,
team_deactivate, team_reactivate, membership_add, membership_set_role, membership_end),
acting as `Actor.system("import_teams")`, so each is audited. Users have no service:
new ones are created with `create_user` and an unusable password (they sign in through
the identity provider), and their email follows the file; neither is audited.

Rules:
- Upsert, idempotent: a team is found by slug (case-insensitively), a user by username
  (case-insensitively). Only what the file states is written; a second run of the same
  file changes nothing and writes no audit event.
- A team's kind is never changed to or from security, iam or pam by an import (kind
  decides who reviews everything): the file's kind applies to new teams, and to other
  kind changes; a refused change is a note.
- Memberships the file states are added (role "member" unless the file says "lead");
  an existing membership keeps its role unless the file states one.
- A team the file lists that is inactive is reactivated only when the import was what
  deactivated it; one deactivated by a person stays inactive (a note says so).
- References the file makes to teams or users that neither it nor the registry knows
  are reported (line, entity, field, reference) and otherwise ignored; a parent that
  cannot be resolved leaves the team's parent as it was.
- Full sync (`full_sync=True`) also:
  * ends the current memberships, in each team the file lists, of users the file no
    longer lists in it (an emptied team makes its paths lapse);
  * deactivates every active team the file does not list that the importer manages,
    that is, a team with an audit event by the import_teams actor on the team itself
    or on one of its memberships (it created, changed or staffed it, from either
    format: keep one source of truth per registry), so its paths lapse (offboarding,
    OWASP NHI1). Teams of kind security are never deactivated (a note says so).
- All or nothing: the whole sync is one transaction. A service refusal (an invalid
  value, a parent cycle) raises TeamSyncError naming the file line and nothing is
  saved. `dry_run=True` runs everything, reports it, and rolls back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.functions import Lower

from registry.importers.teams import Link, TeamDirectory, TeamEntry
from registry.models import AuditEvent, Membership, Team
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import InvalidTransition, ServiceError
from registry.services._common import resolve_now
from registry.services.teams import (
    membership_add,
    membership_end,
    membership_set_role,
    team_create,
    team_deactivate,
    team_reactivate,
    team_update,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ACTOR_LABEL = "import_teams"
# Kinds an import never sets on an existing team nor takes away from one.
PROTECTED_KINDS = frozenset({Team.Kind.SECURITY, Team.Kind.IAM, Team.Kind.PAM})


class TeamSyncError(Exception):
    """A change the file asks for was refused; nothing was saved."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Unresolved:
    line: int
    entity: str
    field: str
    ref: str
    why: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.entity}, {self.field}: {self.ref!r}: {self.why}"


@dataclass
class SyncReport:
    dry_run: bool = False
    full_sync: bool = False
    teams_created: list[str] = field(default_factory=list)
    teams_updated: list[str] = field(default_factory=list)
    teams_unchanged: list[str] = field(default_factory=list)
    teams_reactivated: list[str] = field(default_factory=list)
    teams_deactivated: list[str] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    users_updated: list[str] = field(default_factory=list)
    memberships_added: list[str] = field(default_factory=list)
    roles_changed: list[str] = field(default_factory=list)
    memberships_ended: list[str] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            name: len(value)
            for name, value in vars(self).items()
            if isinstance(value, list) and name not in ("notes",)
        }

    def lines(self) -> list[str]:
        """The summary a person reads."""
        c = self.counts()
        verb = "would be" if self.dry_run else "were"
        out = [
            "Dry run: nothing was saved." if self.dry_run else "Import saved.",
            f"Teams: {c['teams_created']} created, {c['teams_updated']} updated, "
            f"{c['teams_unchanged']} unchanged, {c['teams_reactivated']} reactivated, "
            f"{c['teams_deactivated']} deactivated.",
            f"Users: {c['users_created']} created, {c['users_updated']} updated.",
            f"Memberships: {c['memberships_added']} added, {c['roles_changed']} roles "
            f"changed, {c['memberships_ended']} ended.",
        ]
        for title, items in (
            ("created", self.teams_created),
            ("updated", self.teams_updated),
            ("reactivated", self.teams_reactivated),
            ("deactivated (their paths lapse)", self.teams_deactivated),
        ):
            if items:
                out.append(f"Teams that {verb} {title}: {', '.join(items)}")
        for title, items in (
            ("Users created", self.users_created),
            ("Users updated", self.users_updated),
            ("Memberships added", self.memberships_added),
            ("Roles changed", self.roles_changed),
            ("Memberships ended", self.memberships_ended),
        ):
            if items:
                out.append(f"{title}: {', '.join(items)}")
        if self.unresolved:
            out.append(f"Unresolved references ({len(self.unresolved)}), not imported:")
            out.extend(f"  {item}" for item in self.unresolved)
        if self.notes:
            out.append("Notes:")
            out.extend(f"  {note}" for note in self.notes)
        return out


def team_sync(
    *,
    directory: TeamDirectory,
    full_sync: bool = False,
    dry_run: bool = False,
    source: str = "",
    actor: Actor | None = None,
    now: dt.datetime | None = None,
) -> SyncReport:
    report = SyncReport(dry_run=dry_run, full_sync=full_sync)
    report.notes.extend(directory.notes)
    run = _Sync(
        directory=directory,
        actor=actor or Actor.system(ACTOR_LABEL),
        now=resolve_now(now),
        report=report,
        source=source or f"{directory.format} import",
    )
    if full_sync and not directory.teams:
        raise TeamSyncError(
            0,
            "The file lists no teams: a full sync would offboard every team the importer "
            "manages. Refused; check the file (or import it without --full-sync).",
        )
    with transaction.atomic():
        run.teams_and_users()
        run.memberships()
        if full_sync:
            run.end_unlisted_memberships()
            run.deactivate_unlisted_teams()
        if dry_run:
            transaction.set_rollback(True)
    report.unresolved.sort(key=lambda item: item.line)
    return report


class _Sync:
    def __init__(
        self,
        *,
        directory: TeamDirectory,
        actor: Actor,
        now: dt.datetime,
        report: SyncReport,
        source: str,
    ) -> None:
        self.directory = directory
        self.actor = actor
        self.now = now
        self.report = report
        self.source = source
        self.teams: dict[str, Team] = {}  # lowercased slug -> team
        self.users: dict[str, User] = {}  # lowercased username -> user
        self.ambiguous_users: set[str] = set()
        self.desired: dict[tuple[int, int], str | None] = {}  # (team, user) -> role
        self._reported: set[tuple[int, str, str]] = set()

    # --- resolving ----------------------------------------------------------------

    def unresolved(self, link: Link, why: str) -> None:
        key = (link.line, link.field, link.text)
        if key not in self._reported:
            self._reported.add(key)
            self.report.unresolved.append(
                Unresolved(link.line, link.entity, link.field, link.text, why)
            )

    def team_for(self, link: Link) -> Team | None:
        if link.problem:
            self.unresolved(link, link.problem)
            return None
        team = self.teams.get(link.key)
        if team is None:
            self.unresolved(link, f"not in the file, and no team {link.key!r} in the registry")
        return team

    def user_for(self, link: Link) -> User | None:
        if link.problem:
            self.unresolved(link, link.problem)
            return None
        if link.key in self.ambiguous_users:
            self.unresolved(link, "several registry users have this name (ignoring case)")
            return None
        user = self.users.get(link.key)
        if user is None:
            self.unresolved(link, f"not in the file, and no user {link.key!r} in the registry")
        return user

    def refused(self, line: int, what: str, exc: ServiceError) -> TeamSyncError:
        detail = exc.message
        if isinstance(exc, errors.Invalid):
            detail = "; ".join(
                f"{name}: {' '.join(messages)}" for name, messages in exc.errors.items()
            )
        return TeamSyncError(line, f"{what} was refused: {detail}")

    # --- users and teams ----------------------------------------------------------

    def teams_and_users(self) -> None:
        for known in Team.objects.select_related("parent"):
            self.teams[known.slug.lower()] = known
        self._load_users()
        self._write_users()
        deferred: list[tuple[TeamEntry, Team]] = []
        for entry in self._parents_first():
            team = self._write_team(entry)
            if team is None:
                continue
            if entry.parent is not None and not self._parent_settled(entry, team):
                deferred.append((entry, team))
            self._reactivate_if_ours(entry, team)
        for entry, team in deferred:  # parents created after their children (cycles)
            self._set_parent(entry, team)
        for link in self.directory.outside_children:
            team = self.team_for(link)
            if team is not None:
                self.report.notes.append(
                    f"line {link.line}: {link.entity} lists {link.text!r} as a child: team "
                    f"{team.slug} is not in the file, its parent is left as it is."
                )

    def _load_users(self) -> None:
        keys = set(self.directory.users)
        keys |= {entry.user.key for entry in self.directory.memberships}
        found: dict[str, list] = {}
        rows = get_user_model().objects.annotate(key=Lower("username")).filter(key__in=keys)
        for user in rows:
            found.setdefault(user.key, []).append(user)
        for key, users in found.items():
            if len(users) > 1:
                self.ambiguous_users.add(key)
            else:
                self.users[key] = users[0]

    def _write_users(self) -> None:
        User = get_user_model()
        for key, entry in sorted(self.directory.users.items()):
            if key in self.ambiguous_users:
                self.report.notes.append(
                    f"line {entry.line}: {entry.entity}: several registry users are named "
                    f"{entry.username!r} (ignoring case): not imported."
                )
                continue
            user = self.users.get(key)
            if user is None:
                # No password: create_user calls set_unusable_password().
                user = User.objects.create_user(
                    entry.username, email=entry.email or "", password=None
                )
                self.users[key] = user
                self.report.users_created.append(entry.username)
            elif entry.email and user.email != entry.email:
                user.email = entry.email
                user.save(update_fields=["email"])
                self.report.users_updated.append(user.get_username())

    def _parents_first(self) -> list[TeamEntry]:
        entries = self.directory.teams
        order: list[TeamEntry] = []
        done: set[str] = set()

        def visit(slug: str, path: set[str]) -> None:
            if slug in done or slug in path:
                return
            entry = entries[slug]
            parent = entry.parent
            if parent is not None and not parent.problem and parent.key in entries:
                visit(parent.key, path | {slug})
            done.add(slug)
            order.append(entry)

        for slug in sorted(entries):
            visit(slug, set())
        return order

    def _write_team(self, entry: TeamEntry) -> Team | None:
        team = self.teams.get(entry.slug)
        parent = self._ready_parent(entry)
        if team is None:
            data: dict[str, Any] = {
                "slug": entry.slug,
                "name": entry.name or entry.slug,
                "kind": entry.kind or Team.Kind.PRODUCT,
            }
            if entry.email is not None:
                data["email"] = entry.email
            if parent is not None:
                data["parent"] = parent
            try:
                team = team_create(actor=self.actor, data=data, now=self.now)
            except ServiceError as exc:
                raise self.refused(entry.line, f"Creating team {entry.slug}", exc) from exc
            self.teams[entry.slug] = team
            self.report.teams_created.append(entry.slug)
            return team
        changes = {}
        for name in ("name", "email"):
            value = getattr(entry, name)
            if value is not None and getattr(team, name) != value:
                changes[name] = value
        if entry.kind is not None and entry.kind != team.kind:
            if {entry.kind, team.kind} & PROTECTED_KINDS:
                self.report.notes.append(
                    f"line {entry.line}: team {team.slug} keeps its kind {team.kind!r} (the "
                    f"file says {entry.kind!r}; an import never changes a kind to or from "
                    "security, iam or pam)."
                )
            else:
                changes["kind"] = entry.kind
        if parent is not None and team.parent_id != parent.pk:
            changes["parent"] = parent
        self._update(entry, team, changes)
        return self.teams[entry.slug]

    def _update(self, entry: TeamEntry, team: Team, changes: dict) -> None:
        slug = team.slug
        if not changes:
            written = self.report.teams_updated + self.report.teams_created
            if slug not in written and slug not in self.report.teams_unchanged:
                self.report.teams_unchanged.append(slug)
            return
        try:
            updated = team_update(actor=self.actor, team=team, changes=changes, now=self.now)
        except ServiceError as exc:
            raise self.refused(entry.line, f"Updating team {slug}", exc) from exc
        self.teams[entry.slug] = updated
        if slug in self.report.teams_unchanged:
            self.report.teams_unchanged.remove(slug)
        if slug not in self.report.teams_updated + self.report.teams_created:
            self.report.teams_updated.append(slug)

    def _ready_parent(self, entry: TeamEntry) -> Team | None:
        """The parent to write now: resolved, and already existing."""
        link = entry.parent
        if link is None or link.problem:
            return None
        if link.key in self.directory.teams and link.key not in self.teams:
            return None  # in the file, not created yet: set after it is
        if link.key == entry.slug:
            return None  # refused by team_update in the deferred pass
        return self.teams.get(link.key)

    def _parent_settled(self, entry: TeamEntry, team: Team) -> bool:
        link = entry.parent
        if link is None:
            return True  # no parent to set
        if link.problem or (link.key not in self.directory.teams and link.key not in self.teams):
            self.team_for(link)  # reports it
            return True
        parent = self.teams.get(link.key)
        return parent is not None and team.parent_id == parent.pk

    def _set_parent(self, entry: TeamEntry, team: Team) -> None:
        if entry.parent is None:
            return
        parent = self.teams.get(entry.parent.key)
        if parent is None:
            return
        team = self.teams[entry.slug]
        if team.parent_id != parent.pk:
            self._update(entry, team, {"parent": parent})

    def _reactivate_if_ours(self, entry: TeamEntry, team: Team) -> None:
        if team.is_active:
            return
        last = (
            AuditEvent.objects.filter(
                object_type="team", object_id=str(team.pk), action="team.deactivated"
            )
            .order_by("-seq")
            .first()
        )
        if last is None or last.actor_label != ACTOR_LABEL:
            who = last.actor_label if last is not None else "someone"
            self.report.notes.append(
                f"line {entry.line}: team {team.slug} is inactive (deactivated by {who}): "
                "left inactive; reactivate it by hand if it is back."
            )
            return
        try:
            team = team_reactivate(
                actor=self.actor,
                team=team,
                reason=f"Listed again in the team directory ({self.source}).",
                now=self.now,
            )
        except InvalidTransition:
            return  # reactivated meanwhile
        self.teams[entry.slug] = team
        self.report.teams_reactivated.append(team.slug)
        if team.slug in self.report.teams_unchanged:
            self.report.teams_unchanged.remove(team.slug)

    # --- memberships ----------------------------------------------------------------

    def memberships(self) -> None:
        pairs: dict[tuple[int, int], tuple[Team, User, str | None]] = {}
        for entry in self.directory.memberships:
            team = self.team_for(entry.team)
            user = self.user_for(entry.user)
            if team is None or user is None:
                continue
            key = (team.pk, user.pk)
            role = entry.role if entry.role is not None else pairs.get(key, (0, 0, None))[2]
            pairs[key] = (team, user, role)
        self.desired = {key: role for key, (_, _, role) in pairs.items()}
        current = {
            (m.team_id, m.user_id): m
            for m in Membership.objects.filter(
                ended_at__isnull=True, team_id__in={team_id for team_id, _ in pairs}
            ).select_related("team", "user")
        }
        ordered = sorted(pairs.items(), key=lambda i: (i[1][0].slug, i[1][1].get_username()))
        for key, (team, user, role) in ordered:
            label = f"{team.slug}:{user.get_username()}"
            existing = current.get(key)
            if existing is None:
                try:
                    membership_add(
                        actor=self.actor,
                        team=team,
                        user=user,
                        role=role or Membership.Role.MEMBER,
                        now=self.now,
                    )
                except InvalidTransition:
                    continue  # added meanwhile
                self.report.memberships_added.append(f"{label} ({role or 'member'})")
            elif role is not None and existing.role != role:
                membership_set_role(actor=self.actor, membership=existing, role=role, now=self.now)
                self.report.roles_changed.append(f"{label} ({existing.role} -> {role})")

    def end_unlisted_memberships(self) -> None:
        listed = {self.teams[slug].pk for slug in self.directory.teams if slug in self.teams}
        stale = (
            Membership.objects.filter(ended_at__isnull=True, team_id__in=listed)
            .select_related("team", "user")
            .order_by("team__slug", "user__username")
        )
        for membership in stale:
            if (membership.team_id, membership.user_id) in self.desired:
                continue
            try:
                membership_end(
                    actor=self.actor,
                    membership=membership,
                    reason=(
                        f"No longer listed in {membership.team.slug} in the team directory "
                        f"({self.source}, full sync)."
                    ),
                    now=self.now,
                )
            except InvalidTransition:
                continue  # ended meanwhile
            self.report.memberships_ended.append(
                f"{membership.team.slug}:{membership.user.get_username()}"
            )

    def deactivate_unlisted_teams(self) -> None:
        ours = AuditEvent.objects.filter(
            actor_type=AuditEvent.ActorType.SYSTEM, actor_label=ACTOR_LABEL
        )
        team_ids = {
            int(pk) for pk in ours.filter(object_type="team").values_list("object_id", flat=True)
        }
        membership_ids = {
            int(pk)
            for pk in ours.filter(object_type="membership").values_list("object_id", flat=True)
        }
        team_ids |= set(
            Membership.objects.filter(pk__in=membership_ids).values_list("team_id", flat=True)
        )
        listed = {slug.lower() for slug in self.directory.teams}
        for team in Team.objects.filter(pk__in=team_ids, is_active=True).order_by("slug"):
            if team.slug.lower() in listed:
                continue
            if team.kind == Team.Kind.SECURITY:
                self.report.notes.append(
                    f"team {team.slug} is not in the file but stays active: an import never "
                    "deactivates a security team."
                )
                continue
            try:
                team_deactivate(
                    actor=self.actor,
                    team=team,
                    reason=f"No longer in the team directory ({self.source}, full sync).",
                    now=self.now,
                )
            except InvalidTransition:
                continue  # deactivated meanwhile
            self.report.teams_deactivated.append(team.slug)
