"""Leads manage their team's members on the team page: add someone with a role, make a
member a lead or a lead a member, remove someone with a reason, all through the team
services (audited). Security may too. A member is refused with a reason (403), bad input
is refused next to its field (400), and nothing changes; other people get 404."""

from __future__ import annotations

import pytest

from registry.models import AuditEvent, Membership
from registry.rules import errors
from registry.web.team_forms import UNKNOWN_USER
from tests.web.helpers import nothing_changes, text

pytestmark = pytest.mark.django_db

PAGE = "/teams/payments/"
ADD = f"{PAGE}members/"


def membership(personas, who: str, team: str = "payments") -> Membership:
    return Membership.objects.get(
        user=getattr(personas.users, who), team__slug=team, ended_at__isnull=True
    )


def role_url(m: Membership) -> str:
    return f"{PAGE}members/{m.pk}/role/"


def remove_url(m: Membership) -> str:
    return f"{PAGE}members/{m.pk}/remove/"


def current(team: str = "payments") -> dict[str, str]:
    rows = Membership.objects.filter(team__slug=team, ended_at__isnull=True)
    return {m.user.username: m.role for m in rows.select_related("user")}


def test_a_lead_adds_promotes_demotes_and_removes_a_member(client, personas):
    client.force_login(personas.users.lee)
    page = text(client.get(PAGE))
    assert 'action="/teams/payments/members/"' in page
    assert 'Make lead<span class="visually-hidden"> pat</span>' in page

    response = client.post(ADD, {"username": "otto", "role": "member"}, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert "Added otto to Payments as a member." in text(response)
    assert current() == {"lee": "lead", "pat": "member", "otto": "member"}

    otto = membership(personas, "otto")
    assert client.post(role_url(otto), {"role": "lead"}).status_code == 302
    assert current()["otto"] == "lead"
    assert "otto is now a lead." in text(client.get(PAGE))
    assert client.post(role_url(otto), {"role": "member"}).status_code == 302
    assert current()["otto"] == "member"

    reason = "Moved to the data team; no longer runs payouts."
    assert client.post(remove_url(otto), {"reason": reason}).status_code == 302
    assert "otto" not in current()
    ended = Membership.objects.get(pk=otto.pk)
    assert ended.ended_at is not None  # the row stays, with its end date

    audit = list(
        AuditEvent.objects.filter(action__startswith="membership.", object_id=str(otto.pk))
        .order_by("seq")
        .values_list("action", "actor_label", "changes", "reason")
    )
    assert [(a, who) for a, who, _, _ in audit] == [
        ("membership.added", "lee"),
        ("membership.role_changed", "lee"),
        ("membership.role_changed", "lee"),
        ("membership.ended", "lee"),
    ]
    assert audit[1][2] == {"role": ["member", "lead"]}
    assert audit[3][3] == reason


def test_security_manages_any_team(client, personas):
    client.force_login(personas.users.sam)
    assert client.post(ADD, {"username": "dana", "role": "lead"}).status_code == 302
    assert current()["dana"] == "lead"


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"username": "nobody", "role": "member"}, 400, UNKNOWN_USER.format(name="nobody")),
        ({"username": "", "role": "member"}, 400, "This field is required."),
        ({"username": "otto", "role": "owner"}, 400, "Select a valid choice."),
        ({"username": "pat", "role": "member"}, 409, errors.ALREADY_MEMBER),
    ],
)
def test_bad_additions_are_refused_next_to_the_field(client, personas, data, status, message):
    client.force_login(personas.users.lee)
    with nothing_changes():
        response = client.post(ADD, data)
    assert response.status_code == status
    assert message in text(response)
    form = response.context["member_form"]
    field = "role" if data["role"] == "owner" else None if status == 409 else "username"
    assert message in " ".join(form.errors[field or "__all__"])
    assert "<details open>" in text(response)  # the form is shown open, with its error


def test_row_errors_name_the_field_in_the_row(client, personas):
    pat = membership(personas, "pat")
    client.force_login(personas.users.lee)
    with nothing_changes():
        response = client.post(remove_url(pat), {"reason": "  "})
    assert response.status_code == 400
    page = text(response)
    assert (
        f'<div class="error" role="alert" id="member-error-{pat.pk}">'
        "<p>Why remove them: This field is required.</p></div>"
    ) in page
    assert f'aria-describedby="member-error-{pat.pk}"' in page
    with nothing_changes():
        response = client.post(role_url(pat), {"role": "boss"})
    assert response.status_code == 400
    assert "Role: Select a valid choice." in text(response)


def test_a_member_is_refused_and_offered_no_forms(client, personas):
    lee = membership(personas, "lee")
    client.force_login(personas.users.pat)
    page = text(client.get(PAGE))
    assert "members/" not in page and "Add a member" not in page
    posts = {
        ADD: {"username": "otto", "role": "member"},
        role_url(lee): {"role": "member"},
        remove_url(lee): {"reason": "Taking over the team."},
    }
    for url, data in posts.items():
        with nothing_changes():
            response = client.post(url, data)
        assert response.status_code == 403, url
        assert errors.NOT_A_LEAD in text(response)
    # Nor can the add form tell a member which accounts exist.
    for username in ("otto", "nobody-such"):
        with nothing_changes():
            probe = client.post(ADD, {"username": username, "role": "member"})
        assert probe.status_code == 403 and "no active user" not in text(probe)


@pytest.mark.parametrize("who", ["dana", "otto", "gwen"])
def test_others_get_404_and_nothing_changes(client, personas, who):
    pat = membership(personas, "pat")
    client.force_login(getattr(personas.users, who))
    posts = {
        ADD: {"username": "otto", "role": "member"},
        role_url(pat): {"role": "lead"},
        remove_url(pat): {"reason": "Not on this team any more."},
    }
    for url, data in posts.items():
        with nothing_changes():
            assert client.post(url, data).status_code == 404, url


def test_a_membership_of_another_team_or_an_ended_one_is_404(client, personas):
    dana = membership(personas, "dana", team="data")
    client.force_login(personas.users.sam)
    with nothing_changes():
        assert client.post(role_url(dana), {"role": "lead"}).status_code == 404
    pat = membership(personas, "pat")
    client.post(remove_url(pat), {"reason": "Left the company last week."})
    with nothing_changes():
        assert client.post(remove_url(pat), {"reason": "Again."}).status_code == 404


def test_a_lead_who_removes_themselves_lands_on_the_team_list(client, personas):
    lee = membership(personas, "lee")
    client.force_login(personas.users.lee)
    response = client.post(remove_url(lee), {"reason": "Handing the team over to pat."})
    assert response.status_code == 302 and response["Location"] == "/teams/"
    assert client.get(PAGE).status_code == 404


def test_pages_need_sign_in(client, personas):
    with nothing_changes():
        response = client.post(ADD, {"username": "otto", "role": "member"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
