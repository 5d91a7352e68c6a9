"""The admin's paths show and filter by the status the app gives them (issue 16).

The stored `state` says "active" for a path the app calls review due, overdue or lapsed;
operators must see what everyone else sees. Both halves reuse the one home of status
(rules/status.py): the filter selects with `status_q`, the inventory's predicate (index
ranges on (state, next_review_at) and (state, expires_at), never a scan of the table),
and each row shown gets `status_of` through `selectors.paths.attach_status` (one query
for the page, whatever its size).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest

from registry.models import AccessPath
from registry.rules.policies import current_policy
from registry.rules.status import Status, status_q
from registry.selectors.paths import attach_status
from registry.web.views._common import request_now


class PathStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return list(Status.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        if value not in Status.values:
            # The admin's own answer to a bad filter value: the list again, with ?e=1.
            raise IncorrectLookupParameters(f"status: unknown status {value!r}")
        return queryset.filter(status_q(value, now=request_now(request), policy=current_policy()))


class PathStatusChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # A list, not the page's queryset: iterating that again would load rows anew,
        # without the status attached to these.
        rows = list(self.result_list)
        attach_status(rows, now=request_now(request))
        self.result_list = rows


class PathStatusMixin:
    """For the paths' ModelAdmin: list `status` in list_display, PathStatusFilter in
    list_filter."""

    def get_changelist(self, request: HttpRequest, **kwargs) -> type[ChangeList]:
        return PathStatusChangeList

    @admin.display(description="status")
    def status(self, obj: AccessPath) -> str:
        return Status(obj.status).label  # type: ignore[attr-defined]
