"""Django's sign-in signals and the account models' changes, into the audit chain.

Connected once by `RegistryConfig.ready()`. Every account change counts however it is
made (the admin, `changepassword`, `createsuperuser`, a view, the shell), because it is
seen where it is saved. Who acted comes from the request being served
(`registry.runtime.current_request`); outside one it is the system. The event is written in the
save's transaction when there is one (the admin's change views are atomic; so is every
many-to-many change), else in its own right after the save.

Not seen: `QuerySet.update()` and raw SQL (no signals), and fixtures loaded with
`loaddata` (raw saves).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.utils import timezone

from registry.rules.actors import Actor
from registry.runtime.current_request import current_request, source_address
from registry.services import security
from registry.web.middleware import mark_session_start

_BEFORE = "_security_before"
_M2M_BEFORE = "_security_m2m_before"


def acting_actor() -> Actor:
    """Who is making the change being saved: the signed-in person of the request being
    served, anonymous in a request without one, the system outside any request."""
    request = current_request()
    if request is None:
        return Actor.system(security.NO_REQUEST)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Actor.for_user(user)
    return security.anonymous_actor()


# --- signing in and out ---------------------------------------------------------------


def on_logged_in(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        mark_session_start(request)
    security.security_login_succeeded(
        user=user, source_address=source_address(request), now=timezone.now()
    )


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django has already masked the password (and anything named like a secret) in
    # `credentials`; only the user name is read here.
    # django-axes (registry's receiver runs after its own) marks the request: locked out
    # before any check (denied by its backend: not recorded again), or by this very
    # failure (it counted it: recorded, with the lockout).
    locked = getattr(request, "axes_locked_out", False)
    counted = getattr(request, "axes_failures_since_start", None) is not None
    if locked and not counted:
        return
    field = get_user_model().USERNAME_FIELD
    typed = credentials.get(field) or credentials.get("username") or ""
    security.security_login_failed(
        username=str(typed),
        source_address=source_address(request),
        now=timezone.now(),
        locks_out=locked,
    )


def on_logged_out(sender, request, user, **kwargs) -> None:
    if user is None or not user.is_authenticated:
        return  # signing out when not signed in changes nothing
    security.security_logged_out(
        user=user, source_address=source_address(request), now=timezone.now()
    )


# --- accounts -----------------------------------------------------------------------


def _watched(update_fields) -> tuple[str, ...]:
    fields = (*security.USER_FIELDS, "password")
    return fields if update_fields is None else tuple(f for f in fields if f in update_fields)


def remember_user(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Read the stored account before it is overwritten (the hash only to compare)."""
    setattr(instance, _BEFORE, None)
    watched = _watched(update_fields)
    if raw or instance._state.adding or instance.pk is None or not watched:
        return  # a sign-in's last_login, say: nothing to compare
    stored = sender._default_manager.filter(pk=instance.pk).values(*watched).first()
    setattr(instance, _BEFORE, stored)


def _is_rehash(instance, update_fields) -> bool:
    """Django re-hashes a correct password with newer settings when it checks it: it
    saves only the password, with the raw password already forgotten. That is the
    same password, not a change."""
    return update_fields == frozenset({"password"}) and instance._password is None


def user_saved(sender, instance, created, raw=False, update_fields=None, **kwargs) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if raw:
        return
    now = timezone.now()
    if created:
        security.security_user_created(actor=acting_actor(), user=instance, now=now)
        return
    if before is None:
        return
    changes = {
        name: [before[name], getattr(instance, name)]
        for name in security.USER_FIELDS
        if name in before and before[name] != getattr(instance, name)
    }
    if changes:
        security.security_user_changed(
            actor=acting_actor(), user=instance, changes=changes, now=now
        )
    if (
        "password" in before
        and before["password"] != instance.password
        and not _is_rehash(instance, update_fields)
    ):
        usable = (is_password_usable(before["password"]), is_password_usable(instance.password))
        security.security_password_changed(
            actor=acting_actor(), user=instance, usable=usable, now=now
        )


def user_deleted(sender, instance, **kwargs) -> None:
    security.security_user_deleted(actor=acting_actor(), user=instance, now=timezone.now())


def remember_group(sender, instance, raw=False, **kwargs) -> None:
    name = None
    if not raw and not instance._state.adding and instance.pk is not None:
        name = sender._default_manager.filter(pk=instance.pk).values_list("name", flat=True).first()
    setattr(instance, _BEFORE, name)


def group_saved(sender, instance, created, raw=False, **kwargs) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if raw:
        return
    if created:
        changes = {"name": [None, instance.name]}
    elif before is not None and before != instance.name:
        changes = {"name": [before, instance.name]}
    else:
        return
    security.security_group_changed(
        actor=acting_actor(), group=instance, changes=changes, now=timezone.now(), created=created
    )


def group_deleted(sender, instance, **kwargs) -> None:
    security.security_group_deleted(actor=acting_actor(), group=instance, now=timezone.now())


# --- many-to-many: a user's groups and permissions, a group's permissions -------------


def _group_names(related) -> list[str]:
    return list(related.values_list("name", flat=True))


def _permission_names(related) -> list[str]:
    return [
        f"{app}.{codename}"
        for app, codename in related.values_list("content_type__app_label", "codename")
    ]


class _SetWatch:
    """One many-to-many relation whose contents are recorded: `owner`'s `field`
    (a user's groups or permissions, a group's permissions), changed from either side."""

    def __init__(self, owner: type[models.Model], field: str, names, record) -> None:
        self.owner, self.field, self.names, self.record = owner, field, names, record

    def _owners(self, instance, reverse: bool, pk_set) -> list[models.Model]:
        if not reverse:
            return [instance]
        manager = self.owner._default_manager
        if pk_set is None:  # clear() from the other side: everyone who had it
            return list(manager.filter(**{self.field: instance}))
        return list(manager.filter(pk__in=pk_set))

    def __call__(self, sender, instance, action, reverse, pk_set, **kwargs) -> None:
        stage, _, kind = action.partition("_")
        if stage == "pre":
            owners = self._owners(instance, reverse, pk_set)
            before = {o.pk: (o, self.names(getattr(o, self.field))) for o in owners}
            instance.__dict__.setdefault(_M2M_BEFORE, {})[(sender, kind)] = before
            return
        before = instance.__dict__.get(_M2M_BEFORE, {}).pop((sender, kind), {})
        now = timezone.now()
        for owner, names in before.values():
            after = self.names(getattr(owner, self.field))
            if sorted(after) != sorted(names):
                self.record(owner=owner, field=self.field, before=names, after=after, now=now)


def _record_user_set(*, owner, field, before, after, now) -> None:
    security.security_group_membership_changed(
        actor=acting_actor(), user=owner, field=field, before=before, after=after, now=now
    )


def _record_group_permissions(*, owner, field, before, after, now) -> None:
    security.security_group_changed(
        actor=acting_actor(),
        group=owner,
        changes={"permissions": [sorted(before), sorted(after)]},
        now=now,
    )


def connect() -> None:
    User = get_user_model()
    uid = "registry.security."
    user_logged_in.connect(on_logged_in, dispatch_uid=uid + "login")
    user_login_failed.connect(on_login_failed, dispatch_uid=uid + "login_failed")
    user_logged_out.connect(on_logged_out, dispatch_uid=uid + "logout")
    pre_save.connect(remember_user, sender=User, dispatch_uid=uid + "user_pre")
    post_save.connect(user_saved, sender=User, dispatch_uid=uid + "user_post")
    post_delete.connect(user_deleted, sender=User, dispatch_uid=uid + "user_deleted")
    pre_save.connect(remember_group, sender=Group, dispatch_uid=uid + "group_pre")
    post_save.connect(group_saved, sender=Group, dispatch_uid=uid + "group_post")
    post_delete.connect(group_deleted, sender=Group, dispatch_uid=uid + "group_deleted")
    watches = [
        (User.groups.through, _SetWatch(User, "groups", _group_names, _record_user_set)),
        (
            User.user_permissions.through,
            _SetWatch(User, "user_permissions", _permission_names, _record_user_set),
        ),
        (
            Group.permissions.through,
            _SetWatch(Group, "permissions", _permission_names, _record_group_permissions),
        ),
    ]
    for through, watch in watches:
        m2m_changed.connect(
            watch, sender=through, weak=False, dispatch_uid=uid + through._meta.db_table
        )
