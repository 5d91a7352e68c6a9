from registry import services
from registry.audit import verify_chain
from registry.selectors import path_get
from tests.conftest import NOW


def test_walkthrough(personas, unowned_path):
    claim = services.path_claim(
        actor=personas.pat,
        path=unowned_path,
        team=personas.teams.payments,
        reason="Our billing export job runs under this account every night.",
        now=NOW,
    )
    services.claim_approve(actor=personas.sam, claim=claim, now=NOW)
    path = path_get(actor=personas.pat, path_id=unowned_path.pk, now=NOW)
    assert path.status == "active"
    assert verify_chain().intact
