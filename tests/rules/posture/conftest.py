"""The posture tests' paths are authorised (an approver, an owner for every control
point) unless a test says otherwise, so `missing_authority` is one rule among others."""

import pytest

from tests.rules.posture.helpers import authorised


@pytest.fixture
def make_path(make_path, personas):
    return authorised(make_path, personas)
