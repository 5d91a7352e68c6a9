"""NHI_POLICY from the environment: a JSON object with the Policy's keys, checked at
start-up (registry/rules/policies.py `policy_overrides`, called by config/settings.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from registry.rules.policies import (
    Policy,
    current_policy,
    policy_from_mapping,
    policy_overrides,
)

EXAMPLE = (
    '{"review_interval_days": {"critical": 14, "high": 60, "medium": 180, "low": 365}, '
    '"reminder_offsets_days": [14, 7, 1]}'
)
ROOT = Path(__file__).resolve().parents[2]


def test_an_unknown_key_is_refused_by_name():
    with pytest.raises(ImproperlyConfigured, match="unknown key 'review_intervals_days'"):
        policy_overrides({"review_intervals_days": {"critical": 14}})


def test_an_unknown_risk_tier_is_refused_by_name():
    with pytest.raises(ImproperlyConfigured, match=r"'review_interval_days'.*'urgent'"):
        policy_overrides({"review_interval_days": {"urgent": 14}})


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"max_expiry_days": "730"}, "'max_expiry_days'"),
        ({"max_expiry_days": 7.5}, "'max_expiry_days'"),
        ({"max_expiry_days": True}, "'max_expiry_days'"),
        ({"max_expiry_days": -1}, "'max_expiry_days'"),
        ({"review_interval_days": 30}, "'review_interval_days'"),
        ({"review_interval_days": {"critical": "14"}}, "'review_interval_days.critical'"),
        ({"reminder_offsets_days": 14}, "'reminder_offsets_days'"),
        ({"reminder_offsets_days": []}, "'reminder_offsets_days'"),
        ({"reminder_offsets_days": [14, "7"]}, "'reminder_offsets_days'"),
        ({"escalation_days": [0, 7, 3, 14]}, "'escalation_days'"),
        ({"escalation_days": [0, 3, 7]}, "'escalation_days'"),
        ({"escalation_days": [0, 3, 7, 7]}, "'escalation_days'"),  # two stages at once
        ({"incident_escalation_hours": {"0": 1}}, "'incident_escalation_hours'"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_its_key(overrides, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        policy_overrides(overrides)


def test_not_an_object_is_refused():
    with pytest.raises(ImproperlyConfigured, match="NHI_POLICY must be a JSON object"):
        policy_overrides([["max_expiry_days", 30]])


def test_lists_become_tuples_where_the_policy_holds_tuples():
    checked = policy_overrides(
        json.loads('{"reminder_offsets_days": [21, 7], "escalation_days": [0, 2, 5, 10],'
                   ' "incident_escalation_hours": [0, 2, 8]}')
    )  # fmt: skip
    assert checked == {
        "reminder_offsets_days": (21, 7),
        "escalation_days": (0, 2, 5, 10),
        "incident_escalation_hours": (0, 2, 8),
    }
    policy = policy_from_mapping(checked)
    assert policy.reminder_offsets_days == (21, 7)
    assert policy.escalation_days == (0, 2, 5, 10)
    # Hashable like the defaults (Policy is frozen), and the properties work.
    assert hash(policy.escalation_days)
    assert policy.review_window.days == 21


def test_a_risk_tier_left_out_keeps_its_default():
    checked = policy_overrides({"review_interval_days": {"critical": 14}})
    assert checked["review_interval_days"] == {**Policy().review_interval_days, "critical": 14}


def test_a_valid_override_changes_the_current_policy(settings):
    settings.NHI_POLICY = policy_overrides(json.loads(EXAMPLE))
    policy = current_policy()
    assert policy.interval_for("critical") == 14
    assert policy.interval_for("high") == 60
    assert policy.reminder_offsets_days == (14, 7, 1)
    assert policy.max_expiry_days == Policy().max_expiry_days  # untouched keys keep defaults


def _settings_in_a_fresh_process(**env: str) -> subprocess.CompletedProcess:
    """Load the settings module as a deployment does, with `env` in the environment."""
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.NHI_POLICY))"
    )
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith("NHI_DELIVERY_")
    }
    environ |= {"DJANGO_SETTINGS_MODULE": "tests.settings", **env}
    return subprocess.run(  # noqa: S603 - our own interpreter and a fixed program
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_settings_read_nhi_policy_from_the_environment():
    done = _settings_in_a_fresh_process(NHI_POLICY=EXAMPLE)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(EXAMPLE)


def test_a_bad_nhi_policy_stops_start_up_naming_the_key():
    done = _settings_in_a_fresh_process(NHI_POLICY='{"max_expiry_dayz": 30}')
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "unknown key 'max_expiry_dayz'" in done.stderr
