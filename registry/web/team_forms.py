"""Forms for managing a team's members on its page: add someone, change a role, remove
someone. They turn text into values (a user, a role); the team services decide who may
do it and whether the change is allowed."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from registry.models import Membership
from registry.web.forms import PageForm

UNKNOWN_USER = "There is no active user called “{name}”. Check the username."


class MemberAddForm(PageForm):
    id_prefix = "member"

    username = forms.CharField(
        label="Username",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices, initial="member")

    def clean_username(self) -> User:
        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        if user is None:
            raise forms.ValidationError(UNKNOWN_USER.format(name=name))
        return user


class MemberRoleForm(PageForm):
    id_prefix = "role"

    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)


class MemberRemoveForm(PageForm):
    id_prefix = "remove"

    reason = forms.CharField(label="Why remove them", max_length=2000)
