"""Django's own account admin (users, groups) with the registry's one rule for text: no
credential in a name. Django's forms would store a token typed as a first name, and the
audit of the change would then refuse it mid-save; here the form says so first."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group, User

from registry.rules.validation import secret_errors

USER_TEXT_FIELDS = ("username", "first_name", "last_name", "email")


def _refuse_credentials(form: forms.BaseForm, fields: tuple[str, ...]) -> None:
    values = {name: form.cleaned_data.get(name) for name in fields if name in form.cleaned_data}
    for name, messages in secret_errors(values).items():
        form.add_error(name, messages)


class CheckedUserCreationForm(AdminUserCreationForm):
    def clean(self):
        cleaned = super().clean()
        _refuse_credentials(self, USER_TEXT_FIELDS)
        return cleaned


class CheckedUserChangeForm(UserChangeForm):
    def clean(self):
        cleaned = super().clean()
        _refuse_credentials(self, USER_TEXT_FIELDS)
        return cleaned


class CheckedGroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ("name", "permissions")

    def clean(self):
        cleaned = super().clean()
        _refuse_credentials(self, ("name",))
        return cleaned


class CheckedUserAdmin(UserAdmin):
    form = CheckedUserChangeForm
    add_form = CheckedUserCreationForm


class CheckedGroupAdmin(GroupAdmin):
    form = CheckedGroupForm


admin.site.unregister(User)
admin.site.register(User, CheckedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, CheckedGroupAdmin)
