"""The inventory's FilterSet, shared by the HTML pages and the API (house rule 7)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    TextChoices,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThanOrEqual, LessThan
from django.utils import timezone
from django_filters.fields import IsoDateTimeField

from registry.models import AccessPath, AuditEvent, Notification, PolicyException, Team
from registry.rules import errors
from registry.rules.control_points import owned_by_q
from registry.rules.facts import attested_in_cycle_q
from registry.rules.policies import Policy, current_policy
from registry.rules.posture import RULES, any_violation_q, provenance_missing_q, violation_q
from registry.rules.status import Status, live_q, status_q
from registry.rules.validation import credential_in

ANY_VIOLATION = "any"


class TimelineEvent(TextChoices):
    """Events the dashboard charts count per week, each an audit action."""

    ATTESTED = "attested", "Attested"
    LAPSED = "lapsed", "Lapsed"
    REGISTERED_UNOWNED = "registered_unowned", "Registered without an owner"


def event_q(event: str) -> Q:
    match event:
        case TimelineEvent.ATTESTED:
            return Q(action="access_path.attested")
        case TimelineEvent.LAPSED:
            return Q(action="access_path.lapsed")
        case TimelineEvent.REGISTERED_UNOWNED:
            return Q(action="access_path.registered", changes__state__1="unowned")
    raise ValueError(f"unknown event {event!r}")


# A lapse event's change naming the moment the path lapsed ([None, ISO 8601]): the
# sweep notices a lapse at its next run, possibly weeks later (services/sweep.py).
LAPSED_AT = "lapsed_at"


def event_moment() -> Case:
    """When an audit event's change happened: `created_at` (services record at the
    moment they act), except a lapse that records when the path lapsed. Never after
    `created_at`, so `created_at >= x` stays a valid first cut on the (action,
    created_at) index. A purged value (registry/audit: "[purged]") falls back to
    `created_at` rather than failing to parse."""
    recorded = Q(action="access_path.lapsed", changes__has_key=LAPSED_AT) & ~Q(
        purged__has_key=f"changes.{LAPSED_AT}"
    )
    return Case(
        When(recorded, then=Cast(KT(f"changes__{LAPSED_AT}__1"), DateTimeField())),
        default=F("created_at"),
        output_field=DateTimeField(),
    )


def event_path_ids(
    event: str, *, after: dt.datetime | None, before: dt.datetime | None
) -> QuerySet:
    """The paths that had `event` at a moment (event_moment) in [after, before)."""
    events = AuditEvent.objects.filter(event_q(event), path__isnull=False)
    if after is not None:
        events = events.filter(created_at__gte=after)
    if after is not None:
        events = events.filter(GreaterThanOrEqual(event_moment(), after))
    if before is not None:
        events = events.filter(LessThan(event_moment(), before))
    return events.values("path_id")


def not_seen_q(*, now: dt.datetime) -> Q:
    """Live paths that the last full sync of their source did not report: candidates
    for retirement."""
    return live_q(now) & Q(not_seen_since__isnull=False)


def expiring_within_q(days: int, *, now: dt.datetime) -> Q:
    """Live, and expiring after now and at most `days` days ahead."""
    return live_q(now) & Q(expires_at__lte=now + dt.timedelta(days=days))


class UTCIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 in, UTC out; a date that cannot exist in UTC (year 9999 at -05:00) is
    bad input, not a server error, and no odd offset reaches the database."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return None
        try:
            return result.astimezone(dt.UTC)
        except OverflowError as exc:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class SearchField(forms.CharField):
    """Free-text search that refuses to carry a credential: a responder pasting a leaked
    token into the search box must not send it into queries, logs or saved filters."""

    def validate(self, value: str) -> None:
        super().validate(value)
        if value and (finding := credential_in("q", value)):
            raise ValidationError(errors.SEARCH_LOOKS_LIKE_SECRET.format(kind=finding.kind))


class SearchFilter(django_filters.CharFilter):
    field_class = SearchField


class FrameworkField(forms.CharField):
    """A framework id some posture rule maps to (OWASP NHI, NIST CSF 2.0, NIST AI RMF),
    matched regardless of case and spacing and given back as the rules spell it; any
    other is refused by name (a typo must not select nothing, or everything)."""

    def to_python(self, value: str | None) -> str:
        text = " ".join((super().to_python(value) or "").split())
        if not text:
            return ""
        known = {fid.upper(): fid for rule in RULES for fid in rule.framework_ids}
        found = known.get(text.upper())
        if found is None:
            raise ValidationError(
                errors.UNKNOWN_FRAMEWORK_ID.format(
                    value=text, known=", ".join(sorted(known.values()))
                ),
                code="unknown_framework",
            )
        return found


class FrameworkFilter(django_filters.CharFilter):
    field_class = FrameworkField


class AccessPathFilterSet(django_filters.FilterSet):
    q = SearchFilter(method="filter_q", label="Search")
    status = django_filters.MultipleChoiceFilter(
        choices=Status.choices,
        method="filter_status",
        label="Status",
        widget=forms.CheckboxSelectMultiple,
    )
    owner_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", label="Owner team"
    )
    steward_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", label="Steward team"
    )
    kind = django_filters.MultipleChoiceFilter(choices=AccessPath.Kind.choices, label="Kind")
    system = django_filters.CharFilter(field_name="system", lookup_expr="iexact", label="System")
    environment = django_filters.MultipleChoiceFilter(
        choices=AccessPath.Environment.choices, widget=forms.CheckboxSelectMultiple
    )
    risk_tier = django_filters.MultipleChoiceFilter(
        choices=AccessPath.RiskTier.choices, widget=forms.CheckboxSelectMultiple
    )
    created_via = django_filters.MultipleChoiceFilter(
        choices=AccessPath.CreatedVia.choices, label="Created via"
    )
    external_id = django_filters.CharFilter(field_name="external_id", label="External id")
    credential_lifetime = django_filters.MultipleChoiceFilter(
        choices=AccessPath.CredentialLifetime.choices, label="Credential lifetime"
    )
    requires_human_signoff = django_filters.BooleanFilter(label="Requires a human sign-off")
    interactive_login = django_filters.BooleanFilter(label="Allows interactive login")
    # Team references: the slug; the partial (team IS NOT NULL) indexes answer `= team`.
    approved_by_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", label="Approved by team"
    )
    # Control-point owners as resolved everywhere else: the path's own team, else its
    # system's default (rules/control_points).
    iam_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(),
        to_field_name="slug",
        method="filter_control_point",
        label="IAM owner team",
    )
    pam_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(),
        to_field_name="slug",
        method="filter_control_point",
        label="PAM owner team",
    )
    secops_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(),
        to_field_name="slug",
        method="filter_control_point",
        label="Security monitoring owner team",
    )
    # Issuers of just-in-time credentials, and the provenance of pipeline-made and
    # AI-assisted access (plain column tests).
    issuer = django_filters.BooleanFilter(method="filter_issuer", label="Issues credentials")
    issuer_kind = django_filters.MultipleChoiceFilter(
        choices=AccessPath.IssuerKind.choices, label="Issuer kind"
    )
    merged_by_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", label="Merged by team"
    )
    proposed_by = django_filters.CharFilter(
        field_name="proposed_by", lookup_expr="iexact", label="Proposed by (tool or agent)"
    )
    has_provenance = django_filters.BooleanFilter(
        method="filter_has_provenance",
        label="Records its change, merger and merging team, owner (and proposing tool)",
    )
    expires_before = UTCIsoDateTimeFilter(
        field_name="expires_at", lookup_expr="lt", label="Expires before"
    )
    expires_after = UTCIsoDateTimeFilter(
        field_name="expires_at", lookup_expr="gte", label="Expires on or after"
    )
    review_due_before = UTCIsoDateTimeFilter(
        field_name="next_review_at", lookup_expr="lt", label="Review due before"
    )
    tag = django_filters.CharFilter(field_name="tags__slug", label="Tag")
    has_exception = django_filters.BooleanFilter(
        method="filter_has_exception", label="Has an approved, unexpired policy exception"
    )
    posture = django_filters.ChoiceFilter(
        choices=[(ANY_VIOLATION, "Any posture violation")]
        + [(rule.code, rule.label) for rule in RULES],
        method="filter_posture",
        label="Posture violation",
    )
    framework = FrameworkFilter(
        method="filter_framework",
        label="Breaks a posture rule mapped to this framework id (NHI5, PR.AA-05, GOVERN 3.2)",
    )
    expiring_within_days = django_filters.NumberFilter(
        method="filter_expiring_within",
        min_value=1,
        max_value=3650,
        label="Live and expiring within this many days",
    )
    not_seen = django_filters.BooleanFilter(
        method="filter_not_seen", label="Missed by the last full sync of its source"
    )
    attested_in_cycle = django_filters.BooleanFilter(
        method="filter_attested_in_cycle",
        label="Attested by its team in the running review cycle",
    )
    event = django_filters.ChoiceFilter(
        choices=TimelineEvent.choices,
        method="filter_event",
        label="Had this event between event_after and event_before",
    )
    event_after = UTCIsoDateTimeFilter(method="filter_nothing", label="Event at or after")
    event_before = UTCIsoDateTimeFilter(method="filter_nothing", label="Event before")

    class Meta:
        model = AccessPath
        fields: list[str] = []

    def __init__(
        self,
        *args,
        now: dt.datetime | None = None,
        policy: Policy | None = None,
        steering: Iterable[str] = (),
        **kwargs,
    ) -> None:
        """`steering`: the caller's parameters that are not filters (a page's cursor and
        sort, the API's page_size...): accepted and left alone. Any other parameter that
        names no filter is refused (unknown_parameters)."""
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()
        self.policy = policy or current_policy()
        self.steering = frozenset(steering)

    def get_form_class(self):
        unknown = unknown_parameters(self.data or {}, filters=self.filters, steering=self.steering)
        form_class = super().get_form_class()
        if not unknown:
            return form_class

        class RefusingForm(form_class):  # type: ignore[valid-type, misc]
            def clean(self):
                cleaned = super().clean()
                for key, messages in unknown.items():
                    self._errors[key] = self.error_class(
                        [ValidationError(message, code="unknown_filter") for message in messages]
                    )
                return cleaned

        return RefusingForm

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(external_id__icontains=value)
            | Q(justification__icontains=value)
        )

    def filter_status(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        if not value:
            return queryset
        combined = Q()
        for status in value:
            combined |= status_q(status, now=self.now, policy=self.policy)
        return queryset.filter(combined)

    def filter_posture(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        if value == ANY_VIOLATION:
            return queryset.filter(any_violation_q(now=self.now, policy=self.policy))
        return queryset.filter(violation_q(value, now=self.now, policy=self.policy))

    def filter_framework(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        combined = Q()
        for rule in RULES:
            if value in rule.framework_ids:
                combined |= violation_q(rule.code, now=self.now, policy=self.policy)
        return queryset.filter(combined)

    def filter_expiring_within(self, queryset: QuerySet, name: str, value) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(expiring_within_q(int(value), now=self.now))

    def filter_not_seen(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        missed = not_seen_q(now=self.now)
        return queryset.filter(missed if value else ~missed)

    def filter_attested_in_cycle(
        self, queryset: QuerySet, name: str, value: bool | None
    ) -> QuerySet:
        if value is None:
            return queryset
        attested = attested_in_cycle_q(now=self.now, policy=self.policy)
        return queryset.filter(attested if value else ~attested)

    def filter_event(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        after = self.form.cleaned_data.get("event_after")
        before = self.form.cleaned_data.get("event_before")
        return queryset.filter(pk__in=event_path_ids(value, after=after, before=before))

    def filter_nothing(self, queryset: QuerySet, name: str, value) -> QuerySet:
        """event_after/event_before only bound `event`; alone they select nothing less."""
        return queryset

    def filter_control_point(self, queryset: QuerySet, name: str, value: Team | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(owned_by_q(name.removesuffix("_team"), value))

    def filter_issuer(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        plain = Q(issuer_kind="")
        return queryset.filter(~plain if value else plain)

    def filter_has_provenance(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        """The test posture MISSING_PROVENANCE makes (rules/posture.provenance_missing_q),
        for any path: false also finds paths a person made without recording any."""
        if value is None:
            return queryset
        missing = provenance_missing_q()
        return queryset.filter(~missing if value else missing)

    def filter_has_exception(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        live = Exists(
            PolicyException.objects.filter(
                path_id=OuterRef("pk"),
                status=PolicyException.Status.APPROVED,
                expires_at__gt=self.now,
            )
        )
        return queryset.filter(live if value else ~live)


def unknown_parameters(
    data: Iterable[str], *, filters: Iterable[str], steering: Iterable[str]
) -> dict[str, list[str]]:
    """The one rule of which query parameters a filtered list accepts: its filters and its
    caller's steering parameters. Any other is refused by name: a misspelt filter
    (`credential_lifetme=static`) silently returned the whole estate."""
    known = set(filters) | set(steering)
    message = errors.UNKNOWN_FILTER.format(known=", ".join(sorted(known)))
    return {key: [message] for key in data if key not in known}


class NotificationFilterSet(django_filters.FilterSet):
    """The outbox as a reader filters it (the API's notifications list): an unknown
    value is a 400 naming the parameter, never an ignored filter."""

    status = django_filters.ChoiceFilter(choices=Notification.Status.choices, label="Status")
    channel = django_filters.ChoiceFilter(choices=Notification.Channel.choices, label="Channel")
    reason = django_filters.ChoiceFilter(choices=Notification.Reason.choices, label="Reason")
    team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", label="Team"
    )
    path = django_filters.UUIDFilter(field_name="path_id", label="Access path id")

    class Meta:
        model = Notification
        fields: list[str] = []
