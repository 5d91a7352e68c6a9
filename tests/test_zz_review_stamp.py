import pytest
from registry.models import AccessPath, PathFacts
from registry.models.tallies import FACTS_NEVER_VALID
from tests.conftest import NOW

@pytest.mark.django_db
def test_stamp_of_an_unchanged_path_runs_its_facts_out(make_path):
    p = make_path()
    assert PathFacts.objects.get(path=p).valid_until > NOW
    # imports._stamp for a path seen again, not_seen_since already NULL (nothing changes)
    AccessPath.objects.filter(pk=p.pk).update(last_seen_at=NOW, not_seen_since=None)
    assert PathFacts.objects.get(path=p).valid_until == FACTS_NEVER_VALID
