"""The inventory's FilterSet, shared by the HTML pages and the API (house rule 7)."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField

from registry.models import AccessPath, PolicyException, Team
from registry.policies import Policy, current_policy
from registry.status import Status, status_q


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


class AccessPathFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search")
    status = django_filters.MultipleChoiceFilter(
        choices=Status.choices, method="filter_status", label="Status"
    )
    owner_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", label="Owner team"
    )
    steward_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", label="Steward team"
    )
    kind = django_filters.MultipleChoiceFilter(choices=AccessPath.Kind.choices)
    system = django_filters.CharFilter(field_name="system", lookup_expr="iexact")
    environment = django_filters.MultipleChoiceFilter(choices=AccessPath.Environment.choices)
    risk_tier = django_filters.MultipleChoiceFilter(choices=AccessPath.RiskTier.choices)
    created_via = django_filters.MultipleChoiceFilter(choices=AccessPath.CreatedVia.choices)
    external_id = django_filters.CharFilter(field_name="external_id")
    expires_before = UTCIsoDateTimeFilter(field_name="expires_at", lookup_expr="lt")
    expires_after = UTCIsoDateTimeFilter(field_name="expires_at", lookup_expr="gte")
    review_due_before = UTCIsoDateTimeFilter(field_name="next_review_at", lookup_expr="lt")
    tag = django_filters.CharFilter(field_name="tags__slug", label="Tag")
    has_exception = django_filters.BooleanFilter(
        method="filter_has_exception", label="Has an approved, unexpired policy exception"
    )

    class Meta:
        model = AccessPath
        fields: list[str] = []

    def __init__(
        self, *args, now: dt.datetime | None = None, policy: Policy | None = None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()
        self.policy = policy or current_policy()

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
