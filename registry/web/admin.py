"""Django admin for operators. Nothing is deleted here and nothing changes state except
through the services: add and edit forms call them in `clean()` (so their refusals show
on the form), and transitions are admin actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.utils.text import slugify

from registry import services
from registry.models import (
    AccessPath,
    ApiToken,
    Attestation,
    AuditEvent,
    ChangeRequest,
    CredentialIdentifier,
    ImportRun,
    Incident,
    Membership,
    Notification,
    SavedFilter,
    SystemControlPolicy,
    Tag,
    Team,
)
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, ServiceError
from registry.rules.path_fields import EDITABLE_FIELDS
from registry.services.delivery import notification_retry
from registry.services.tokens import token_revoke
from registry.web.admin_status import PathStatusFilter, PathStatusMixin


class CappedCountPaginator(Paginator):
    """A changelist paginator that counts at most COUNT_CAP rows, never the table: COUNT(*)
    over a million paths was most of the changelist's time. Past the cap the page links
    stop (a search or a filter narrows the list); the pages before it are exact."""

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if not isinstance(rows, QuerySet):
            return len(rows)
        # COUNT(*) over (SELECT ... LIMIT cap): reads at most `cap` index entries.
        return rows.order_by()[: self.COUNT_CAP].count()


class NoDeleteAdmin(admin.ModelAdmin):
    """Records are never deleted; the full result count would scan big tables, so
    neither the changelist's total nor its paginator counts the whole table."""

    show_full_result_count = False
    paginator = CappedCountPaginator
    # Bare host names typed into URL fields become https:// (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(NoDeleteAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _staff_actor(request: HttpRequest | None) -> Actor:
    """The signed-in staff member acting through the admin site (it lets no one else in)."""
    if request is None:
        raise ImproperlyConfigured("ServiceForm needs the request: use ServiceAdmin.get_form.")
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    return Actor.for_user(user)


def run_each(modeladmin, request, queryset, call: Callable, done: str) -> None:
    """Apply a service to each selected object; report successes and refusals."""
    actor = Actor.for_user(request.user)
    succeeded = 0
    for obj in queryset:
        try:
            call(actor, obj)
            succeeded += 1
        except ServiceError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
    if succeeded:
        modeladmin.message_user(request, f"{done}: {succeeded}.", messages.SUCCESS)


def without_reason(title: str, call: Callable, done: str, *, name: str = ""):
    """An admin action that applies a service to each selected object."""

    @admin.action(description=title)
    def action(modeladmin, request, queryset):
        run_each(modeladmin, request, queryset, call, done)

    action.__name__ = name or slugify(title).replace("-", "_")
    return action


def with_reason(title: str, call: Callable, done: str):
    """An admin action that first asks for the reason the services require."""

    @admin.action(description=title)
    def action(modeladmin, request, queryset):
        if "apply" in request.POST:
            reason = request.POST.get("reason", "")
            run_each(modeladmin, request, queryset, lambda a, o: call(a, o, reason), done)
            return None
        return TemplateResponse(
            request,
            "admin/registry/reason_form.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": title,
                "objects": list(queryset),
                "action": request.POST.get("action"),
            },
        )

    action.__name__ = title.lower().replace(" ", "_")
    return action


def https_by_default(field, **kwargs):
    """Form fields for model fields, with bare host names in URL fields taken as https."""
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


class ServiceForm(forms.ModelForm):
    """A ModelForm whose clean() performs the change through a service.

    The admin view runs in one transaction, so a later failure still rolls it back; the
    service's refusals become form errors instead of server errors.
    """

    request: HttpRequest | None = None  # set by ServiceAdmin.get_form
    result: Any = None

    def perform(self, actor: Actor, data: dict):  # pragma: no cover - overridden
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        if self.errors or cleaned is None:
            return cleaned
        data = {
            k: v
            for k, v in cleaned.items()
            if k in self.changed_data or self.instance._state.adding
        }
        try:
            self.result = self.perform(_staff_actor(self.request), data)
        except Invalid as exc:
            for field, messages_ in exc.errors.items():
                target = field if field in self.fields else None
                for message in messages_:
                    self.add_error(target, message)
        except ServiceError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned

    def _post_clean(self):
        # The service validated and saved; the instance-level checks of ModelForm would
        # re-validate a row the service already wrote.
        pass


class ServiceAdmin(NoDeleteAdmin):
    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def save_form(self, request, form, change):
        return form.result

    def save_model(self, request, obj, form, change) -> None:
        pass  # saved by the service in form.clean()

    def save_related(self, request, form, formsets, change) -> None:
        # Inlines are read-only: let each formset record that it changed nothing (the
        # admin's change message reads that) without writing anything.
        for formset in formsets:
            formset.save(commit=False)


class AccessPathForm(ServiceForm):
    class Meta:
        formfield_callback = https_by_default
        model = AccessPath
        fields = sorted(EDITABLE_FIELDS | {"owner_team"})

    def perform(self, actor, data):
        if self.instance._state.adding:
            data = {k: v for k, v in data.items() if v not in (None, "")}
            return services.path_register(actor=actor, data=data)
        data.pop("owner_team", None)
        return services.path_update(actor=actor, path=self.instance, changes=data)


class NotificationInline(admin.TabularInline):
    """A path's notifications and their delivery, newest first (read-only)."""

    model = Notification
    fields = (
        "created_at",
        "team",
        "audience",
        "channel",
        "reason",
        "stage",
        "status",
        "attempts",
        "last_error",
    )
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AccessPath)
class AccessPathAdmin(PathStatusMixin, ServiceAdmin):
    form = AccessPathForm
    inlines = [NotificationInline]
    list_display = (
        "name",
        "system",
        "kind",
        "environment",
        "owner_team",
        "status",
        "risk_tier",
        "next_review_at",
        "expires_at",
        "escalation_stage",
    )
    # Only fields with choices: a list_filter without them runs SELECT DISTINCT over the
    # whole table on every page load. Status, not the stored state: the admin must not
    # call a lapsed or overdue path "active".
    list_filter = (
        PathStatusFilter,
        "kind",
        "environment",
        "risk_tier",
        "created_via",
        "issuer_kind",
    )
    search_fields = ("name", "=external_id")
    list_select_related = ("owner_team",)
    readonly_fields = (
        "state",
        "escalation_stage",
        "version",
        "last_attested_at",
        "next_review_at",
        "expiry_waiver",
        "created_at",
        "updated_at",
        # kept by the services: the last lease over the issuer's maximum, the last
        # credential pasted into the record and refused
        "lease_overrun_at",
        "secret_refused_at",
    )
    actions = [
        with_reason(
            "Revoke",
            lambda actor, path, reason: services.path_revoke(actor=actor, path=path, reason=reason),
            "Revoked",
        ),
        without_reason(
            "Mark expired (expiry reached)",
            lambda actor, path: services.path_expire(actor=actor, path=path),
            "Expired",
            name="expire",
        ),
    ]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("owner_team")  # ownership moves by claim or transfer only
        return fields


class TeamForm(ServiceForm):
    class Meta:
        formfield_callback = https_by_default
        model = Team
        fields = [
            "slug",
            "name",
            "kind",
            "parent",
            "email",
            "slack_webhook_url",
            "teams_webhook_url",
            "event_webhook_url",
            "event_webhook_secret",
        ]

    def perform(self, actor, data):
        if self.instance._state.adding:
            return services.team_create(actor=actor, data=data)
        return services.team_update(actor=actor, team=self.instance, changes=data)


@admin.register(Team)
class TeamAdmin(ServiceAdmin):
    form = TeamForm
    list_display = ("slug", "name", "kind", "email", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("slug", "name")
    readonly_fields = ("is_active", "created_at", "updated_at")
    actions = [
        with_reason(
            "Deactivate",
            lambda actor, team, reason: services.team_deactivate(
                actor=actor, team=team, reason=reason
            ),
            "Deactivated",
        ),
        with_reason(
            "Reactivate",
            lambda actor, team, reason: services.team_reactivate(
                actor=actor, team=team, reason=reason
            ),
            "Reactivated",
        ),
    ]


class SystemControlPolicyForm(ServiceForm):
    class Meta:
        model = SystemControlPolicy
        fields = ["system", "iam_team", "pam_team", "secops_team"]

    def perform(self, actor, data):
        teams = {f: data.get(f, getattr(self.instance, f, None)) for f in self.Meta.fields[1:]}
        return services.system_control_policy_set(
            actor=actor,
            system=data.get("system", self.instance.system),
            expected_version=None if self.instance._state.adding else self.instance.version,
            **teams,
        )


@admin.register(SystemControlPolicy)
class SystemControlPolicyAdmin(ServiceAdmin):
    """Per-system control-point owners, set through the service (audited)."""

    form = SystemControlPolicyForm
    list_display = ("system", "iam_team", "pam_team", "secops_team", "version", "updated_at")
    list_select_related = ("iam_team", "pam_team", "secops_team")
    search_fields = ("=system",)
    readonly_fields = ("version", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # The system names the row; another system is another row.
        return [*self.readonly_fields, "system"] if obj else self.readonly_fields


class MembershipForm(ServiceForm):
    class Meta:
        formfield_callback = https_by_default
        model = Membership
        fields = ["team", "user", "role"]

    def perform(self, actor, data):
        if self.instance._state.adding:
            return services.membership_add(
                actor=actor, team=data["team"], user=data["user"], role=data["role"]
            )
        return services.membership_set_role(
            actor=actor, membership=self.instance, role=data.get("role", self.instance.role)
        )


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    form = MembershipForm
    list_display = ("team", "user", "role", "started_at", "ended_at")
    list_filter = ("role",)
    list_select_related = ("team", "user")
    readonly_fields = ("started_at", "ended_at")
    actions = [
        with_reason(
            "End membership",
            lambda actor, m, reason: services.membership_end(
                actor=actor, membership=m, reason=reason
            ),
            "Ended",
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "team", "user"] if obj else self.readonly_fields


@admin.register(Attestation)
class AttestationAdmin(ReadOnlyAdmin):
    list_display = ("path", "team", "attested_by", "decision", "created_at")
    list_filter = ("decision",)
    list_select_related = ("path", "team", "attested_by")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """Dead deliveries are listed here for security (filter by status) and can be
    retried once their channel is fixed."""

    actions = [
        without_reason(
            "Retry dead notifications",
            lambda actor, n: notification_retry(actor=actor, notification=n),
            "Queued again",
            name="retry",
        )
    ]
    list_display = (
        "path",
        "team",
        "audience",
        "channel",
        "reason",
        "stage",
        "status",
        "attempts",
        "created_at",
    )
    list_filter = ("status", "channel", "audience")
    list_select_related = ("path", "team")
    readonly_fields = ("last_error",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "actor_label", "action", "object_type", "object_id")
    list_filter = ("actor_type",)
    search_fields = ("=object_id", "=request_id", "action")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are issued by `manage.py create_api_token` (or a team page), which shows
    the token once; here they are listed and revoked."""

    list_display = (
        "prefix",
        "name",
        "team",
        "user",
        "scopes",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_select_related = ("team", "user")
    search_fields = ("=prefix", "name")
    actions = [
        with_reason(
            "Revoke token",
            lambda actor, token, reason: token_revoke(actor=actor, token=token, reason=reason),
            "Revoked",
        ),
    ]


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    search_fields = ("slug",)


@admin.register(SavedFilter)
class SavedFilterAdmin(ReadOnlyAdmin):
    list_display = ["name", "user", "query", "created_at", "archived_at"]
    list_filter = ["archived_at"]


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "source_format", "system", "file_name", "status", "actor_label"]
    list_filter = ["status", "source_format"]


@admin.register(CredentialIdentifier)
class CredentialIdentifierAdmin(ReadOnlyAdmin):
    # Lookups by value (a leaked key id) use the (kind, value) index; no list_filter on
    # value, which would scan the table for its distinct values.
    list_display = ["kind", "value", "path", "source", "created_at", "retired_at"]
    list_filter = ["kind"]
    search_fields = ["=value"]
    list_select_related = ["path"]


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    # Read-only: every transition is a service (the incident pages and API).
    list_display = ["id", "state", "detected_at", "path", "detection", "source", "external_ref"]
    list_filter = ["state", "detection"]
    search_fields = ["=external_ref"]
    list_select_related = ["path"]


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ReadOnlyAdmin):
    # Read-only: deciding is a service (the path page and the API).
    list_display = ["id", "path", "status", "approver", "requested_by_label", "created_at"]
    list_filter = ["status", "approver"]
    list_select_related = ["path"]
