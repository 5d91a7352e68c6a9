"""Readers for team directories: a Backstage catalog and a plain CSV.

Each reader turns a file into a `TeamDirectory` (teams, users, memberships, and the
references between them, each with the line it came from) and nothing more: what to
create, change or end is decided by registry.services.team_sync. A file that cannot be
read (bad YAML or CSV, an entity without a name, a bad email...) raises
`TeamFileError` naming its line; a reference to something the file does not define is
not an error here: the service resolves it against the registry, or reports it.

Backstage catalog (``--format backstage``)
-------------------------------------------
Multi-document YAML (documents separated by ``---``), as in a ``catalog-info.yaml``
or ``org.yaml``. Only ``kind: Group`` and ``kind: User`` are read; any other kind
(Component, System, Location...) is skipped with a note.

- Group -> a team. Its slug is the slugified entity name when the namespace is
  ``default``, else the slugified ``<namespace>-<name>`` (``ops/sre`` -> ``ops-sre``);
  two groups that map to one slug are refused. ``name`` is ``spec.profile.displayName``,
  else ``metadata.title``, else ``metadata.name``; ``email`` is ``spec.profile.email``
  (absent: not stated, the team keeps its email). ``kind`` comes from ``spec.type``
  and the group's name (see `team_kind`): "security" in either -> security,
  "platform" in either -> platform, a team-like type (team, product-area, product,
  squad, tribe, ...) -> product, anything else (business-unit, root...) -> other.
- ``spec.parent`` (a Group reference) is the team's parent. A group listed in another
  group's ``spec.children`` without a ``spec.parent`` of its own gets that group as
  parent; when both are stated and disagree, ``spec.parent`` wins and a note says so.
  No parent stated anywhere: not stated (the team keeps its parent).
- User -> a Django user, email ``spec.profile.email``. Its username is
  ``metadata.name`` in the ``default`` namespace, else ``<namespace>+<name>``
  (``user:development/guest`` -> ``development+guest``): Backstage allows one name in
  several namespaces (its own example organisation has two ``guest`` users), Django
  usernames allow no ``/``, and ``+`` is in no Backstage name, so no two entities share
  a username. Users who differ only in case are refused.
- Memberships: the union of ``Group.spec.members`` and ``User.spec.memberOf``. Backstage
  has no lead role: the role is not stated (new memberships are "member", existing
  roles are kept).
- References are ``[<kind>:][<namespace>/]<name>`` (or the compound form, a mapping
  with ``kind``, ``namespace``, ``name``). The kind defaults to Group for ``parent``,
  ``children`` and ``memberOf`` and to User for ``members``; a reference of another
  kind is reported, never followed. The namespace defaults, as in Backstage's
  descriptor format, to the namespace of the entity that writes the reference (which
  is ``default`` unless the entity says otherwise). Kinds, namespaces and names
  compare case-insensitively.

CSV (``--format csv``)
----------------------
UTF-8, a header row naming the columns ``team,name,kind,email,parent,member,role``
(any order; only ``team`` is required; columns not listed here are ignored). One row per
membership; a row without ``member`` only describes the team.

- ``team``: the team's slug. ``name``, ``kind`` (one of the registry's kinds:
  product, platform, security, iam, pam, other), ``email`` and ``parent`` (a team
  slug) describe the team: they may be written on any of its rows, blank means "not
  stated", and two rows stating different values are refused. A new team without a
  name is named after its slug.
- ``member``: a username, which must already exist in the registry (a CSV creates no
  users); ``role``: ``member`` or ``lead``, blank meaning "not stated" (new
  memberships are "member", existing roles are kept).
- Lines count the header as 1; blank lines are skipped.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import models
from django.utils.text import slugify

from registry.models import Membership, Team

DEFAULT_NAMESPACE = "default"


def _max_length(name: str) -> int:
    """The length limit of one of Team's text columns."""
    column = Team._meta.get_field(name)
    if not isinstance(column, models.Field) or column.max_length is None:
        raise TypeError(f"Team.{name} is not a column with a max_length.")
    return column.max_length


SLUG_MAX = _max_length("slug")
NAME_MAX = _max_length("name")

# Backstage's default naming rules (descriptor format, metadata.name / namespace).
_ENTITY_NAME = re.compile(r"^[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
_PRODUCT_TYPES = frozenset(
    {"team", "product-area", "product", "squad", "tribe", "feature-team", "product-team"}
)
CSV_COLUMNS = ("team", "name", "kind", "email", "parent", "member", "role")


class TeamFileError(Exception):
    """The file cannot be read; `line` is 1-based (0 when no line applies)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Link:
    """A reference written in the file, to a team (`key` = slug) or a user (`key` =
    lowercased username). `problem` is set when it cannot name one at all (a reference
    of the wrong kind): the service reports it and never follows it."""

    key: str
    text: str
    line: int
    entity: str  # who writes it: "Group default/payments", "User default/ana", "row"
    field: str  # spec.parent, spec.members, spec.memberOf, spec.children, parent, member
    problem: str = ""


@dataclass
class TeamEntry:
    slug: str
    line: int
    entity: str
    name: str | None = None
    kind: str | None = None
    email: str | None = None
    parent: Link | None = None  # None: not stated


@dataclass
class UserEntry:
    username: str
    line: int
    entity: str
    email: str | None = None


@dataclass
class MemberEntry:
    """`user` is in `team`. Either side may be a reference to resolve."""

    team: Link
    user: Link
    role: str | None = None  # None: not stated


@dataclass
class TeamDirectory:
    format: str
    teams: dict[str, TeamEntry] = field(default_factory=dict)  # by slug
    users: dict[str, UserEntry] = field(default_factory=dict)  # by lowercased username
    memberships: list[MemberEntry] = field(default_factory=list)
    # Backstage `spec.children` naming a group this file does not define: the service
    # checks the registry knows it (it never re-parents a team the file does not list).
    outside_children: list[Link] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- shared helpers ----------------------------------------------------------------


def team_slug(namespace: str, name: str) -> str:
    """The registry slug of the Group `namespace/name`."""
    base = name if namespace.lower() == DEFAULT_NAMESPACE else f"{namespace}-{name}"
    return slugify(base.replace(".", "-"))


def user_username(namespace: str, name: str) -> str:
    """The Django username of the User `namespace/name` (see the module docstring)."""
    return name if namespace.lower() == DEFAULT_NAMESPACE else f"{namespace.lower()}+{name}"


def team_kind(spec_type: str, name: str) -> str:
    """The registry's team kind for a Backstage group of type `spec_type` named `name`."""
    spec_type, name = spec_type.strip().lower(), name.lower()
    # Only the declared type makes a security team: its members review the whole
    # estate, which a group merely named "security-champions" must not get.
    if "security" in spec_type:
        return Team.Kind.SECURITY
    if "platform" in spec_type or "platform" in name:
        return Team.Kind.PLATFORM
    if spec_type in _PRODUCT_TYPES:
        return Team.Kind.PRODUCT
    return Team.Kind.OTHER


@dataclass(frozen=True)
class EntityRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.namespace}/{self.name}"


def parse_ref(value: Any, *, default_kind: str, default_namespace: str) -> EntityRef | None:
    """A Backstage entity reference, string or compound form, with the defaults filled
    in (all parts lowercased); None when it is not one."""
    if isinstance(value, dict):
        kind, namespace, name = value.get("kind"), value.get("namespace"), value.get("name")
        if not all(part is None or isinstance(part, str) for part in (kind, namespace, name)):
            return None
    elif isinstance(value, str):
        kind, rest = value.split(":", 1) if ":" in value else (None, value)
        namespace, name = rest.split("/", 1) if "/" in rest else (None, rest)
    else:
        return None
    kind = (kind or default_kind).strip().lower()
    namespace = (namespace or default_namespace).strip().lower()
    name = (name or "").strip()
    if not kind or not namespace or not _ENTITY_NAME.match(name):
        return None
    return EntityRef(kind, namespace, name.lower())


def _decode(source: BinaryIO) -> str:
    try:
        return source.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TeamFileError(0, f"The file is not UTF-8 text ({exc.reason}).") from exc


def _valid_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


# --- Backstage ---------------------------------------------------------------------


def read_backstage(source: BinaryIO) -> TeamDirectory:
    directory = TeamDirectory(format="backstage")
    groups: dict[str, tuple[EntityRef, int]] = {}  # slug -> (group, line)
    users: dict[str, tuple[EntityRef, int]] = {}
    children: list[tuple[str, Link]] = []  # (parent slug, child link)
    for node, entity in _documents(_decode(source)):
        line = node.start_mark.line + 1
        if entity is None:
            continue
        if not isinstance(entity, dict):
            raise TeamFileError(line, "A catalog entity must be a mapping.")
        kind = entity.get("kind")
        if not isinstance(kind, str) or not kind.strip():
            raise TeamFileError(line, "The entity has no kind.")
        if kind.strip().lower() not in ("group", "user"):
            name = _mapping(entity.get("metadata")).get("name")
            directory.notes.append(f"line {line}: {kind} {name} skipped (not a Group or User).")
            continue
        ref = _entity_ref(entity, kind.strip().lower(), line)
        spec = entity.get("spec") or {}
        if not isinstance(spec, dict):
            raise TeamFileError(line, f"{_label(ref)}: spec must be a mapping.")
        if ref.kind == "group":
            _read_group(directory, node, ref, entity, spec, line, groups, children)
        else:
            _read_user(directory, node, ref, spec, line, users)
    _parents_from_children(directory, children)
    return directory


def _documents(text: str) -> Iterable[tuple[yaml.Node, Any]]:
    """(node, value) per YAML document: the node keeps the lines, the value the data."""
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # check_node() said a document follows; never here
                break
            yield node, loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise TeamFileError(mark.line + 1 if mark else 0, f"Not valid YAML: {problem}.") from exc
    finally:
        loader.dispose()


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _label(ref: EntityRef) -> str:
    return f"{ref.kind.capitalize()} {ref.namespace}/{ref.name}"


def _text(value: Any, where: str, line: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TeamFileError(line, f"{where} must be a string.")
    return str(value).strip() or None


def _entity_ref(entity: dict, kind: str, line: int) -> EntityRef:
    metadata = entity.get("metadata")
    if not isinstance(metadata, dict):
        raise TeamFileError(line, f"The {kind.capitalize()} has no metadata.")
    name = _text(metadata.get("name"), "metadata.name", line)
    if not name or not _ENTITY_NAME.match(name) or len(name) > 63:
        raise TeamFileError(line, f"metadata.name is not a valid entity name: {name!r}.")
    namespace = _text(metadata.get("namespace"), "metadata.namespace", line) or DEFAULT_NAMESPACE
    if not _NAMESPACE.match(namespace) or len(namespace) > 63:
        raise TeamFileError(line, f"metadata.namespace is not a valid namespace: {namespace!r}.")
    return EntityRef(kind, namespace.lower(), name)


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value_node
    return None


def _refs(
    node: yaml.Node,
    spec: dict,
    key: str,
    *,
    owner: EntityRef,
    line: int,
    kind: str,
    many: bool = True,
) -> list[Link]:
    """The references in spec[key], as Links to team slugs (kind group) or usernames."""
    value = spec.get(key)
    if value is None:
        return []
    where = f"spec.{key}"
    spec_node = _child(_child(node, "spec"), key)
    if many and not isinstance(value, list):
        raise TeamFileError(line, f"{_label(owner)}: {where} must be a list.")
    items = value if many else [value]
    item_nodes = spec_node.value if many and isinstance(spec_node, yaml.SequenceNode) else []
    links = []
    for index, item in enumerate(items):
        at = item_nodes[index] if index < len(item_nodes) else spec_node
        item_line = at.start_mark.line + 1 if at is not None else line
        text = item if isinstance(item, str) else _compound_text(item)
        ref = parse_ref(item, default_kind=kind, default_namespace=owner.namespace)
        if ref is None:
            raise TeamFileError(
                item_line, f"{_label(owner)}: {where}: not an entity reference: {text!r}."
            )
        problem = "" if ref.kind == kind else f"expected a {kind.capitalize()} reference"
        if kind == "group":
            entity_key = team_slug(ref.namespace, ref.name)
        else:
            entity_key = user_username(ref.namespace, ref.name).lower()
        links.append(Link(entity_key, text, item_line, _label(owner), where, problem))
    return links


def _compound_text(item: Any) -> str:
    """The compound form {kind, namespace, name} as the string form, for messages."""
    if not isinstance(item, dict):
        return str(item)
    kind, namespace = item.get("kind"), item.get("namespace")
    return f"{f'{kind}:' if kind else ''}{f'{namespace}/' if namespace else ''}{item.get('name')}"


def _read_group(directory, node, ref, entity, spec, line, groups, children) -> None:
    slug = team_slug(ref.namespace, ref.name)
    label = _label(ref)
    if not slug or len(slug) > SLUG_MAX:
        raise TeamFileError(line, f"{label}: its slug {slug!r} is empty or too long.")
    if slug in groups:
        other, other_line = groups[slug]
        raise TeamFileError(
            line,
            f"{label} and {_label(other)} (line {other_line}) both map to the team slug {slug!r}.",
        )
    groups[slug] = (ref, line)
    profile = _mapping(spec.get("profile"))
    metadata = entity["metadata"]
    name = (
        _text(profile.get("displayName"), "spec.profile.displayName", line)
        or _text(metadata.get("title"), "metadata.title", line)
        or ref.name
    )
    if len(name) > NAME_MAX:
        raise TeamFileError(line, f"{label}: the display name is longer than {NAME_MAX}.")
    email = _text(profile.get("email"), "spec.profile.email", line)
    if email is not None and not _valid_email(email):
        raise TeamFileError(line, f"{label}: spec.profile.email is not an email: {email!r}.")
    spec_type = _text(spec.get("type"), "spec.type", line) or ""
    team = TeamEntry(
        slug=slug,
        line=line,
        entity=label,
        name=name,
        kind=team_kind(spec_type, ref.name),
        email=email,
    )
    parents = _refs(node, spec, "parent", owner=ref, line=line, kind="group", many=False)
    team.parent = parents[0] if parents else None
    directory.teams[slug] = team
    me = Link(slug, label, line, label, "metadata.name")
    for user in _refs(node, spec, "members", owner=ref, line=line, kind="user"):
        directory.memberships.append(MemberEntry(team=me, user=user))
    for child in _refs(node, spec, "children", owner=ref, line=line, kind="group"):
        children.append((slug, child))


def _read_user(directory, node, ref, spec, line, users) -> None:
    username = user_username(ref.namespace, ref.name)
    key = username.lower()
    label = _label(ref)
    if key in users:
        other, other_line = users[key]
        raise TeamFileError(
            line,
            f"{label} and {_label(other)} (line {other_line}) would be the same user {username!r}.",
        )
    users[key] = (ref, line)
    email = _text(_mapping(spec.get("profile")).get("email"), "spec.profile.email", line)
    if email is not None and not _valid_email(email):
        raise TeamFileError(line, f"{label}: spec.profile.email is not an email: {email!r}.")
    directory.users[key] = UserEntry(username=username, line=line, entity=label, email=email)
    me = Link(key, label, line, label, "metadata.name")
    for team in _refs(node, spec, "memberOf", owner=ref, line=line, kind="group"):
        directory.memberships.append(MemberEntry(team=team, user=me))


def _parents_from_children(directory: TeamDirectory, children: list[tuple[str, Link]]) -> None:
    for parent_slug, child in children:
        if child.problem:
            directory.outside_children.append(child)
            continue
        team = directory.teams.get(child.key)
        if team is None:
            directory.outside_children.append(child)
        elif team.parent is None:
            team.parent = Link(parent_slug, child.text, child.line, child.entity, "spec.children")
        elif team.parent.key != parent_slug and not team.parent.problem:
            directory.notes.append(
                f"line {child.line}: {child.entity} lists {child.text!r} as a child, but "
                f"its spec.parent (line {team.parent.line}) is {team.parent.text!r}: "
                "spec.parent wins."
            )


# --- CSV ---------------------------------------------------------------------------


def read_csv(source: BinaryIO) -> TeamDirectory:
    directory = TeamDirectory(format="csv")
    reader = csv.reader(io.StringIO(_decode(source), newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise TeamFileError(1, f"The header is not valid CSV ({exc}).") from exc
    if not header:
        raise TeamFileError(1, "The file is empty: expected a header " + ",".join(CSV_COLUMNS))
    header = [column.strip().lower() for column in header]
    if "team" not in header:
        raise TeamFileError(1, f"The header has no team column (expected {','.join(CSV_COLUMNS)}).")
    duplicated = sorted({c for c in header if c in CSV_COLUMNS and header.count(c) > 1})
    if duplicated:
        raise TeamFileError(1, "Columns named twice: " + ", ".join(duplicated) + ".")
    roles: dict[tuple[str, str], tuple[str | None, int]] = {}
    while True:
        line = reader.line_num + 1
        try:
            record = next(reader, None)
        except csv.Error as exc:
            raise TeamFileError(line, f"Not valid CSV ({exc}).") from exc
        if record is None:
            break
        if not any(value.strip() for value in record):
            continue
        if len(record) != len(header):
            raise TeamFileError(line, f"Expected {len(header)} fields, found {len(record)}.")
        row = {column: value.strip() for column, value in zip(header, record, strict=True)}
        _csv_row(directory, row, line, roles)
    return directory


def _csv_row(directory: TeamDirectory, row: dict[str, str], line: int, roles: dict) -> None:
    slug = row.get("team", "").lower()
    if not slug:
        raise TeamFileError(line, "team: empty.")
    try:
        validate_slug(slug)
    except ValidationError as exc:
        raise TeamFileError(line, f"team: not a slug: {slug!r}.") from exc
    if len(slug) > SLUG_MAX:
        raise TeamFileError(line, f"team: longer than {SLUG_MAX} characters.")
    entity = f"team {slug}"
    team = directory.teams.setdefault(slug, TeamEntry(slug=slug, line=line, entity=entity))
    values = {key: row.get(key, "") for key in ("name", "kind", "email", "parent")}
    if values["kind"] and values["kind"].lower() not in Team.Kind.values:
        raise TeamFileError(
            line, f"kind: {values['kind']!r} is not one of {', '.join(Team.Kind.values)}."
        )
    if values["email"] and not _valid_email(values["email"]):
        raise TeamFileError(line, f"email: not an email: {values['email']!r}.")
    if len(values["name"]) > NAME_MAX:
        raise TeamFileError(line, f"name: longer than {NAME_MAX} characters.")
    for key in ("name", "kind", "email"):
        value = values[key].lower() if key == "kind" else values[key]
        if not value:
            continue
        current = getattr(team, key)
        if current is not None and current != value:
            raise TeamFileError(line, f"{key}: {value!r} contradicts {current!r} stated earlier.")
        setattr(team, key, value)
    parent = values["parent"].lower()
    if parent:
        if team.parent is not None and team.parent.key != parent:
            raise TeamFileError(
                line, f"parent: {parent!r} contradicts {team.parent.key!r} stated earlier."
            )
        team.parent = Link(parent, values["parent"], line, entity, "parent")
    member = row.get("member", "")
    role = row.get("role", "").lower() or None
    if role is not None and role not in Membership.Role.values:
        raise TeamFileError(
            line, f"role: {role!r} is not one of {', '.join(Membership.Role.values)}."
        )
    if not member:
        if role is not None:
            raise TeamFileError(line, "role: given without a member.")
        return
    pair = (slug, member.lower())
    if pair in roles:
        stated, first_line = roles[pair]
        if role is not None and stated is not None and role != stated:
            raise TeamFileError(
                line, f"role: {role!r} contradicts {stated!r} for {member} on line {first_line}."
            )
        if role is not None and stated is None:
            roles[pair] = (role, first_line)
            _set_role(directory, pair, role)
        return
    roles[pair] = (role, line)
    directory.memberships.append(
        MemberEntry(
            team=Link(slug, slug, line, entity, "team"),
            user=Link(member.lower(), member, line, entity, "member"),
            role=role,
        )
    )


def _set_role(directory: TeamDirectory, key: tuple[str, str], role: str) -> None:
    for entry in directory.memberships:
        if (entry.team.key, entry.user.key) == key:
            entry.role = role


READERS = {"backstage": read_backstage, "csv": read_csv}
