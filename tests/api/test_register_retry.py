"""Register-or-update retried by a caller who may register a path but not edit it
(issue 14): the identical call answers 200 with the path and changes nothing; a call
that would change something still needs the edit permission."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AccessPath
from registry.rules import errors
from tests.api.helpers import DAY, assert_error, unchanged, url, version
from tests.conftest import path_data


@pytest.fixture
def unowned_body(now):
    """What a pipeline sends for access it found and cannot place: no owner and no
    steward, so nobody but security may edit it afterwards (the payments token neither)."""
    return path_data(
        external_id="arn:aws:iam::123:role/found-by-ci",
        owner_team=None,
        justification="",
        ticket_url="",
        # Found by the pipeline's scan, not made by it: no change to record (a
        # pipeline-made path is owned by the team that merged it, docs/provenance.md).
        created_via="discovery",
        created_by_ref="github-actions/scan#7",
        tags=["discovered"],
        expires_at=(now + 30 * DAY).isoformat(),
        identifiers=[{"kind": "principal", "value": "arn:aws:iam::123:role/found-by-ci"}],
    )


def test_the_same_registration_again_is_200_and_changes_nothing(ci, unowned_body):
    first = ci.post(url(action="register"), unowned_body, format="json")
    assert first.status_code == 201, first.content
    path = AccessPath.objects.get(pk=first.json()["id"])
    assert path.owner_team_id is None
    with unchanged():
        again = ci.post(url(action="register"), unowned_body, format="json")
    assert again.status_code == 200, again.content
    assert again.json()["id"] == str(path.pk)
    assert again["ETag"] == 'W/"1"' and version(path) == 1


def test_tags_in_another_order_or_case_are_still_the_same(ci, unowned_body):
    assert ci.post(url(action="register"), unowned_body, format="json").status_code == 201
    with unchanged():
        again = ci.post(
            url(action="register"), unowned_body | {"tags": [" Discovered "]}, format="json"
        )
    assert again.status_code == 200, again.content


@pytest.mark.parametrize(
    "change",
    [
        {"created_by_ref": "github-actions/scan#8"},
        {"tags": ["discovered", "pci"]},
        {"identifiers": [{"kind": "principal", "value": "arn:aws:iam::123:role/other"}]},
        {"steward_team": "data"},
    ],
    ids=["field", "tags", "identifiers", "steward"],
)
def test_a_registration_that_would_change_it_still_needs_the_edit_permission(
    ci, unowned_body, change
):
    assert ci.post(url(action="register"), unowned_body, format="json").status_code == 201
    with unchanged():
        response = ci.post(url(action="register"), unowned_body | change, format="json")
    assert_error(response, 403, errors.NOT_A_MEMBER)


def test_an_identical_call_by_the_owner_is_unchanged_too(ci, pipeline_body):
    assert ci.post(url(action="register"), pipeline_body, format="json").status_code == 201
    with unchanged():
        again = ci.post(url(action="register"), pipeline_body, format="json")
    assert again.status_code == 200


def test_an_identical_call_on_a_revoked_path_is_still_refused(ci, personas, pipeline_body):
    created = ci.post(url(action="register"), pipeline_body, format="json").json()
    path = AccessPath.objects.get(pk=created["id"])
    services.path_revoke(actor=personas.system, path=path, reason="Retired with the old deployer.")
    with unchanged():
        response = ci.post(url(action="register"), pipeline_body, format="json")
    assert response.status_code == 409, response.content
