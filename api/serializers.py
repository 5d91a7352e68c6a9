"""Representations and input shapes. Thin: they check types and resolve team slugs;
the registry's own rules are the services' (their refusals come back as 400/403/409)."""

from __future__ import annotations

import datetime as dt

from rest_framework import serializers

from registry.importers.formats import FORMATS
from registry.models import (
    AccessPath,
    Attestation,
    AuditEvent,
    Claim,
    ImportRun,
    Membership,
    Notification,
    PolicyException,
    SystemControlPolicy,
    Tag,
    Team,
    Transfer,
)
from registry.rules import errors
from registry.rules.control_points import authority_of
from registry.rules.links import path_url
from registry.rules.path_fields import AUTHORITY_TEAM_FIELDS, EDITABLE_FIELDS
from registry.rules.status import Status
from registry.runtime.progress import get_progress
from registry.selectors import path_identifiers


class TeamSlugField(serializers.SlugRelatedField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("slug_field", "slug")
        kwargs.setdefault("queryset", Team.objects.all())
        super().__init__(**kwargs)


class AccessPathSerializer(serializers.ModelSerializer):
    """An access path as the API shows it, with its status exact at read time."""

    owner_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    steward_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    # Empty until someone records the ticket (or the change), so not always a URI.
    ticket_url = serializers.CharField(read_only=True)
    change_url = serializers.CharField(read_only=True)
    # Blank: not an issuer.
    issuer_kind = serializers.ChoiceField(
        choices=AccessPath.IssuerKind.choices, allow_blank=True, read_only=True
    )
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    # many=True: DRF wraps it in a ManyRelatedField (the stubs type the declaration).
    tags: serializers.SlugRelatedField[Tag] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    url = serializers.SerializerMethodField()
    identifiers = serializers.SerializerMethodField(
        help_text="The credential's other names: [{kind, value}] (key_id, principal, "
        "fingerprint, client_id), live ones only."
    )
    approval = serializers.SerializerMethodField(
        help_text="Who approved the authority: {by, team, at, ticket_url} (nulls when not "
        "recorded)."
    )
    revoker_teams = serializers.SerializerMethodField(
        help_text="Slugs of the teams that may revoke it besides the owner and steward."
    )
    control_point_owners = serializers.SerializerMethodField(
        help_text="{iam, pam, runtime, secops}: each {team, source}, source being 'path' "
        "(set on the path), 'system' (the system's default), 'steward' (runtime) or null."
    )

    class Meta:
        model = AccessPath
        fields = [
            "id", "url", "name", "kind", "system", "external_id", "environment",
            "owner_team", "steward_team", "created_via", "created_by_ref", "consumers",
            "ticket_url", "artifact_ref", "justification", "privilege_scope", "risk_tier",
            "data_classification", "credential_lifetime", "rotation_days", "last_rotated_at",
            "last_used_at", "requires_human_signoff", "revocation_plan", "rollback_plan",
            "expires_at",
            "review_interval_days", "last_attested_at", "next_review_at", "state", "status",
            "escalation_stage", "version", "tags", "identifiers", "interactive_login",
            "last_seen_at", "not_seen_since", "created_at", "updated_at", "approval",
            "revoker_teams", "control_point_owners",
            "source_disabled_at", "source_disabled_by", "source_still_listed_at",
            "mfa_active", "issuer_kind", "max_lease_seconds",
            "change_url", "merged_by", "merged_by_team", "proposed_by",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, path: AccessPath) -> str:
        return path_url(path.pk)

    def get_identifiers(self, path: AccessPath) -> list[dict[str, str]]:
        return _identifiers(path)

    def get_approval(self, path: AccessPath) -> dict:
        return authority_of(path).approval_json()

    def get_revoker_teams(self, path: AccessPath) -> list[str]:
        return authority_of(path).revoker_slugs()

    def get_control_point_owners(self, path: AccessPath) -> dict:
        return authority_of(path).owners_json()

    def to_representation(self, path: AccessPath) -> dict:
        """The same output as DRF's generic field-by-field rendering (a test compares
        them), written out: a list page renders up to 200 of these, and DRF's per-field
        machinery cost more than the query itself."""
        data = {}
        for name in AccessPathSerializer.Meta.fields:  # a subclass adds its own after
            if name in _RENDER:
                data[name] = _RENDER[name](path)
            else:
                value = getattr(path, name)
                data[name] = iso_datetime(value) if isinstance(value, dt.datetime) else value
        return data


def iso_datetime(value: dt.datetime | None) -> str | None:
    """DRF's DateTimeField format: ISO 8601 in UTC with a Z."""
    if value is None:
        return None
    text = value.astimezone(dt.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _identifiers(path: AccessPath) -> list[dict[str, str]]:
    """From `selectors.with_identifiers`' prefetch (one query per page), else a query."""
    found = getattr(path, "live_identifiers", None)
    if found is None:
        found = path_identifiers(path=path)
    return [{"kind": i.kind, "value": i.value} for i in found]


def _tag_slugs(path: AccessPath) -> list[str]:
    """From selectors.paths.load_path_details when the page loaded them, else the
    relation (a prefetch, or a query)."""
    found = getattr(path, "tag_slugs", None)
    return found if found is not None else [t.slug for t in path.tags.all()]


_RENDER = {
    "id": lambda p: str(p.pk),
    "url": lambda p: path_url(p.pk),
    "owner_team": lambda p: p.owner_team.slug if p.owner_team else None,
    "steward_team": lambda p: p.steward_team.slug if p.steward_team else None,
    "merged_by_team": lambda p: p.merged_by_team.slug if p.merged_by_team else None,
    "tags": lambda p: _tag_slugs(p),
    "identifiers": _identifiers,
    "approval": lambda p: authority_of(p).approval_json(),
    "revoker_teams": lambda p: authority_of(p).revoker_slugs(),
    "control_point_owners": lambda p: authority_of(p).owners_json(),
}


class AccessPathWriteSerializer(serializers.ModelSerializer):
    """Fields a caller may set. Omitted fields stay as they are (PATCH) or take the
    registry's defaults (create)."""

    owner_team = TeamSlugField(required=False, allow_null=True)
    steward_team = TeamSlugField(required=False, allow_null=True)
    approved_by_team = TeamSlugField(required=False, allow_null=True)
    iam_team = TeamSlugField(required=False, allow_null=True)
    pam_team = TeamSlugField(required=False, allow_null=True)
    secops_team = TeamSlugField(required=False, allow_null=True)
    merged_by_team = TeamSlugField(
        required=False,
        allow_null=True,
        help_text="The team of the person who merged the change; it owns pipeline-made "
        "and AI-assisted access when no owner_team is given.",
    )
    revoker_teams = TeamSlugField(
        many=True,
        required=False,
        help_text="Replaces the teams that may revoke it besides the owner and steward.",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=20
    )
    identifiers = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField(max_length=500)),
        required=False,
        max_length=50,
        help_text="Replaces the path's live identifiers: [{kind, value}] with kind one of "
        "key_id, principal, fingerprint (SHA-256 hex, 'sha256:' prefix allowed), client_id.",
    )

    class Meta:
        model = AccessPath
        fields = sorted(EDITABLE_FIELDS | {"owner_team", "tags", "identifiers", "revoker_teams"})
        extra_kwargs = {
            name: {"required": False, "validators": []}
            for name in EDITABLE_FIELDS
            if name not in ("owner_team", "steward_team", *AUTHORITY_TEAM_FIELDS)
        }
        # Uniqueness is the services' to check (register-or-update relies on it).
        validators: list = []

    def validate(self, attrs: dict) -> dict:
        # A key this serializer does not take (state, version, status…) is refused, not
        # silently dropped: the caller must learn their change did not happen.
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({key: [errors.UNKNOWN_FIELD] for key in unknown})
        return attrs


# A registration may carry the new path's sign-off policy (services/signoff.py).
SIGNOFF_POLICY_HELP = (
    "The new path's sign-off policy: {actions, allowed_scopes, data_classes, max_records, "
    "rollback_path}. Later changes are a lead's (PUT .../signoff-policy/)."
)


class AccessPathCreateSerializer(AccessPathWriteSerializer):
    """Creating a path: its identity is required."""

    signoff_policy = serializers.DictField(required=False, help_text=SIGNOFF_POLICY_HELP)

    class Meta(AccessPathWriteSerializer.Meta):
        fields = [*AccessPathWriteSerializer.Meta.fields, "signoff_policy"]
        extra_kwargs = {
            **AccessPathWriteSerializer.Meta.extra_kwargs,
            **{f: {"required": True} for f in ("name", "kind", "system", "environment")},
        }


class AccessPathRegisterSerializer(AccessPathWriteSerializer):
    """Register-or-update: the key is required; name, kind and environment too when the
    path is new (the service says so), and only what changes when it exists."""

    signoff_policy = serializers.DictField(required=False, help_text=SIGNOFF_POLICY_HELP)

    class Meta(AccessPathWriteSerializer.Meta):
        fields = [*AccessPathWriteSerializer.Meta.fields, "signoff_policy"]
        extra_kwargs = {
            **AccessPathWriteSerializer.Meta.extra_kwargs,
            **{f: {"required": True} for f in ("system", "external_id")},
        }


class ClaimInput(serializers.Serializer):
    team = TeamSlugField()
    reason = serializers.CharField()
    # Optional: a claim keeps the path's own ticket and justification when it brings none.
    ticket_url = serializers.CharField(required=False, allow_blank=True, default="")
    justification = serializers.CharField(required=False, allow_blank=True, default="")
    proposed_expires_at = serializers.DateTimeField(required=False, allow_null=True)


class AttestInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Attestation.Decision.choices)
    still_needed = serializers.BooleanField()
    justification_accurate = serializers.BooleanField()
    least_privilege = serializers.BooleanField()
    no_human_use = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, default="")


class TransferInput(serializers.Serializer):
    to_team = TeamSlugField()
    reason = serializers.CharField()


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField()


class OptionalReasonInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


def reason_in(request, *, required: bool = True) -> str:
    """The reason a decision's body carries: a 400 naming `reason` when it is required
    and missing or blank."""
    data = (ReasonInput if required else OptionalReasonInput)(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data["reason"]


class ClaimSerializer(serializers.ModelSerializer):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    requested_by = serializers.CharField(source="requested_by_label", read_only=True)
    # Empty when the claimant gave none and the path had none: a plain string, not a URI.
    ticket_url = serializers.CharField(
        read_only=True, help_text="The ticket link the path carries once the claim is approved."
    )

    class Meta:
        model = Claim
        fields = ["id", "path", "team", "requested_by", "reason", "ticket_url",
                  "justification", "proposed_expires_at", "status", "decided_at",
                  "decision_reason", "created_at"]  # fmt: skip
        read_only_fields = fields


class TransferSerializer(serializers.ModelSerializer):
    from_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    to_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    requested_by = serializers.CharField(source="requested_by_label", read_only=True)

    class Meta:
        model = Transfer
        fields = ["id", "path", "from_team", "to_team", "requested_by", "reason", "status",
                  "decided_at", "decision_reason", "created_at"]  # fmt: skip
        read_only_fields = fields


class AttestationSerializer(serializers.ModelSerializer):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    attested_by = serializers.CharField(source="attested_by.get_username", read_only=True)

    class Meta:
        model = Attestation
        fields = ["id", "path", "team", "attested_by", "decision", "still_needed",
                  "justification_accurate", "least_privilege", "no_human_use", "note",
                  "next_review_at", "created_at"]  # fmt: skip
        read_only_fields = fields


class TeamSerializer(serializers.ModelSerializer):
    """A team in the directory. Its contact address only for people in a team (who may
    need to route something to it) and integrations; someone in no team sees names."""

    # DRF's metaclass moves declared fields off the class, so this field does not
    # shadow Field.parent; the stubs cannot tell.
    parent: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(  # type: ignore[assignment]
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = Team
        fields = ["slug", "name", "kind", "email", "parent", "is_active"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("sees_contacts", True):
            data["email"] = ""
        return data


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.get_username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "email", "role", "started_at"]
        read_only_fields = fields


class ExceptionSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.get_username", read_only=True)

    class Meta:
        model = PolicyException
        fields = ["id", "path", "rule", "reason", "expires_at", "requested_by", "status",
                  "decided_at", "decision_reason", "created_at"]  # fmt: skip
        read_only_fields = fields


class ExceptionInput(serializers.Serializer):
    path = serializers.UUIDField()
    rule = serializers.ChoiceField(choices=PolicyException.Rule.choices)
    reason = serializers.CharField()
    expires_at = serializers.DateTimeField()


class AuditEventSerializer(serializers.ModelSerializer):
    purged = serializers.SerializerMethodField(
        help_text="Values purged from this event: slot -> the purge event's seq."
    )

    class Meta:
        model = AuditEvent
        fields = ["seq", "created_at", "actor_type", "actor_label", "action", "object_type",
                  "object_id", "path", "changes", "reason", "request_id", "prev_hash",
                  "hash", "purged"]  # fmt: skip
        read_only_fields = fields

    def get_purged(self, event: AuditEvent) -> dict[str, int | None]:
        # Whatever is in the column (verify_audit reports a malformed marker): never a 500.
        purged = event.purged if isinstance(event.purged, dict) else {}
        return {
            slot: marker.get("by_seq") if isinstance(marker, dict) else None
            for slot, marker in purged.items()
        }


class AuditPurgeInput(serializers.Serializer):
    slot = serializers.CharField(
        help_text="reason, request_id, actor_label or changes.<field> (as in `changes`)"
    )
    reason = serializers.CharField()


class NotificationSerializer(serializers.ModelSerializer):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = Notification
        fields = ["id", "team", "audience", "channel", "path", "reason", "cycle", "stage",
                  "payload", "status", "attempts", "next_attempt_at", "sent_at",
                  "last_error", "created_at"]  # fmt: skip
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["user", "token"])
    username = serializers.CharField(allow_null=True)
    token = serializers.DictField(allow_null=True)
    teams = serializers.ListField(child=serializers.DictField())
    security_reviewer = serializers.BooleanField()


class ImportInput(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=list(FORMATS))
    system = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
    steward_team = TeamSlugField(required=False, allow_null=True, default=None)
    dry_run = serializers.BooleanField(required=False, default=False)
    # DRF's metaclass moves declared fields off the class, so this field does not
    # shadow BaseSerializer.partial; the stubs cannot tell.
    partial = serializers.BooleanField(required=False, default=False)  # type: ignore[assignment]
    full_sync = serializers.BooleanField(required=False, default=False)


class ImportRunSerializer(serializers.ModelSerializer):
    """An import and how far it has got (`processed` of `total` rows, live while it runs)."""

    steward_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    processed = serializers.SerializerMethodField()
    total = serializers.SerializerMethodField()

    class Meta:
        model = ImportRun
        fields = [
            "id", "source_format", "system", "file_name", "steward_team", "actor_label",
            "dry_run", "partial", "full_sync", "status", "processed", "total", "counts",
            "errors", "still_listed", "created_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def _progress(self, run: ImportRun) -> tuple[int, int]:
        if run.status in (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING):
            return get_progress(run.pk) or (run.processed, run.total)
        return run.processed, run.total

    def get_processed(self, run: ImportRun) -> int:
        return self._progress(run)[0]

    def get_total(self, run: ImportRun) -> int:
        return self._progress(run)[1]


class TriageInput(serializers.Serializer):
    value = serializers.CharField(
        max_length=600,
        trim_whitespace=True,
        help_text="An identifier (key id, principal, client id, external id) or a "
        "fingerprint (SHA-256 hex of the credential, 'sha256:' prefix allowed). Never "
        "the credential itself: that is refused.",
    )
    kind = serializers.ChoiceField(
        choices=["key_id", "principal", "fingerprint", "client_id", "external_id"],
        required=False,
        allow_null=True,
        help_text="Restrict the lookup to one kind of identifier (default: any).",
    )


class TriageAnswerSerializer(serializers.Serializer):
    """The answer's shape (docs/API.md): matches visible to the caller carry the path,
    its teams, leads and contacts, plan, attestation and exceptions; others only
    `route_to`."""

    query = serializers.DictField()
    matches = serializers.ListField(child=serializers.DictField())
    escalation_contacts = serializers.ListField(child=serializers.DictField())


class ControlPolicySerializer(serializers.ModelSerializer):
    """A system's default control-point owners (team slugs; null: no default)."""

    iam_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    pam_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    secops_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = SystemControlPolicy
        fields = ["system", "iam_team", "pam_team", "secops_team", "version", "updated_at"]
        read_only_fields = fields


class ControlPolicyInput(serializers.Serializer):
    """The whole policy (PUT): a team left out or null means no default for it."""

    iam_team = TeamSlugField(required=False, allow_null=True, default=None)
    pam_team = TeamSlugField(required=False, allow_null=True, default=None)
    secops_team = TeamSlugField(required=False, allow_null=True, default=None)
