"""Races between real database connections (PostgreSQL only).

Each contender runs in its own thread, so on its own connection and transaction; a
barrier releases them together. Services lock the path row first, so the second
contender waits for the first to commit and is then refused with the reason the first
one's outcome gives it, never deciding on a stale read. Each race is run several times.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from registry import services
from registry.audit import verify_chain
from registry.models import AccessPath, AuditChainHead, AuditEvent, Claim, Membership, Transfer
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import InvalidTransition, ServiceError
from registry.services.ownership import ANOTHER_CLAIM_APPROVED
from tests.conftest import NOW, path_data

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 5
CLAIM_REASON_PAYMENTS = "Our billing export job runs under this account every night."
CLAIM_REASON_DATA = "The warehouse loader reads raw payment events with this account."


@dataclass
class Outcome:
    value: Any = None
    refused: ServiceError | None = None
    crashed: BaseException | None = None

    @property
    def won(self) -> bool:
        return self.refused is None and self.crashed is None


def race(*contenders: Callable[[], Any], timeout: float = 30) -> list[Outcome]:
    """Run the callables at the same moment, each on its own thread and connection."""
    barrier = threading.Barrier(len(contenders), timeout=timeout)
    outcomes = [Outcome() for _ in contenders]

    def run(outcome: Outcome, contender: Callable[[], Any]) -> None:
        try:
            connection.ensure_connection()  # connect before the start line, not after it
            barrier.wait()
            outcome.value = contender()
        except ServiceError as exc:
            outcome.refused = exc
        except BaseException as exc:
            outcome.crashed = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(outcome, contender), daemon=True)
        for outcome, contender in zip(outcomes, contenders, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a contender hung: deadlock or lock wait"
    for outcome in outcomes:
        assert outcome.crashed is None, repr(outcome.crashed)
    return outcomes


def one_winner(outcomes: list[Outcome]) -> tuple[int, Outcome]:
    winners = [i for i, outcome in enumerate(outcomes) if outcome.won]
    assert len(winners) == 1, outcomes
    loser = next(outcome for outcome in outcomes if not outcome.won)
    return winners[0], loser


def assert_chain_exact() -> None:
    report = verify_chain()
    assert report.intact, report.problem
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert AuditChainHead.objects.get(pk=1).last_seq == len(seqs) == report.checked


def add_user(personas, username: str, team, role=Membership.Role.MEMBER):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "x")
    services.membership_add(actor=personas.system, team=team, user=user, role=role, now=NOW)
    return user


def as_user(user) -> Actor:
    """A fresh actor per contender: its roles are looked up on its own connection."""
    return Actor.for_user(user)


@pytest.fixture
def second_reviewer(personas):
    return add_user(personas, "sue", personas.teams.security)


@pytest.fixture
def second_data_member(personas):
    return add_user(personas, "dmitri", personas.teams.data)


@pytest.fixture
def contested_claims(personas, make_path):
    """An unowned path claimed by payments (A) and by data (B)."""

    def make() -> tuple[AccessPath, Claim, Claim]:
        path = make_path(owner_team=None, justification="", ticket_url="")
        claim_a = services.path_claim(
            actor=personas.pat, path=path, team=personas.teams.payments,
            reason=CLAIM_REASON_PAYMENTS, now=NOW,
        )  # fmt: skip
        claim_b = services.path_claim(
            actor=personas.dana, path=path, team=personas.teams.data,
            reason=CLAIM_REASON_DATA, now=NOW,
        )  # fmt: skip
        return path, claim_a, claim_b

    return make


@pytest.fixture
def offered_path(personas, make_path):
    """A payments path that payments' lead offers to data."""

    def make() -> tuple[AccessPath, Transfer]:
        path = make_path(owner_team=personas.teams.payments)
        transfer = services.path_transfer(
            actor=personas.lee, path=path, to_team=personas.teams.data,
            reason="The data team now runs the billing export.", now=NOW,
        )  # fmt: skip
        return path, transfer

    return make


# --- competing claims ----------------------------------------------------------------


def test_two_reviewers_approve_competing_claims(personas, second_reviewer, contested_claims):
    for _ in range(ROUNDS):
        path, claim_a, claim_b = contested_claims()
        outcomes = race(
            lambda a=claim_a: services.claim_approve(
                actor=as_user(personas.users.sam), claim=a, now=NOW
            ),
            lambda b=claim_b: services.claim_approve(
                actor=as_user(second_reviewer), claim=b, now=NOW
            ),
        )
        winner, loser = one_winner(outcomes)
        won_claim, lost_claim = (claim_a, claim_b) if winner == 0 else (claim_b, claim_a)

        assert isinstance(loser.refused, InvalidTransition)
        assert loser.refused.message == errors.CLAIM_NOT_PENDING.format(status="rejected")

        path.refresh_from_db()
        assert path.state == AccessPath.State.ACTIVE
        assert path.owner_team_id == won_claim.team_id
        assert path.version == 3  # registered, first claim, approval: nothing else wrote it
        won_claim.refresh_from_db()
        lost_claim.refresh_from_db()
        assert won_claim.status == Claim.Status.APPROVED
        assert lost_claim.status == Claim.Status.REJECTED
        assert lost_claim.decision_reason == ANOTHER_CLAIM_APPROVED
        events = AuditEvent.objects.filter(path=path, action__startswith="claim.")
        assert sorted(events.values_list("action", flat=True)) == [
            "claim.approved",
            "claim.rejected",
            "claim.requested",
            "claim.requested",
        ]
        assert_chain_exact()


def test_two_reviewers_approve_the_same_claim(personas, second_reviewer, contested_claims):
    for _ in range(ROUNDS):
        path, claim_a, _ = contested_claims()
        outcomes = race(
            lambda c=claim_a: services.claim_approve(
                actor=as_user(personas.users.sam), claim=c, now=NOW
            ),
            lambda c=claim_a: services.claim_approve(
                actor=as_user(second_reviewer), claim=c, now=NOW
            ),
        )
        winner, loser = one_winner(outcomes)
        assert isinstance(loser.refused, InvalidTransition)
        assert loser.refused.message == errors.CLAIM_NOT_PENDING.format(status="approved")
        claim_a.refresh_from_db()
        assert claim_a.decided_by == (personas.users.sam, second_reviewer)[winner]
        assert AuditEvent.objects.filter(path=path, action="claim.approved").count() == 1
        assert_chain_exact()


def test_approve_and_reject_of_competing_claims_agree(personas, second_reviewer, contested_claims):
    """Whoever goes first, A ends approved, B rejected, and the path owned by A's team."""
    for _ in range(ROUNDS):
        path, claim_a, claim_b = contested_claims()
        outcomes = race(
            lambda a=claim_a: services.claim_approve(
                actor=as_user(personas.users.sam), claim=a, now=NOW
            ),
            lambda b=claim_b: services.claim_reject(
                actor=as_user(second_reviewer), claim=b, reason="Data does not run it.", now=NOW
            ),
        )
        assert outcomes[0].won
        if not outcomes[1].won:
            assert outcomes[1].refused.message == errors.CLAIM_NOT_PENDING.format(status="rejected")
        path.refresh_from_db()
        claim_a.refresh_from_db()
        claim_b.refresh_from_db()
        assert path.owner_team_id == personas.teams.payments.pk
        assert path.state == AccessPath.State.ACTIVE
        assert (claim_a.status, claim_b.status) == (Claim.Status.APPROVED, Claim.Status.REJECTED)
        assert_chain_exact()


def test_two_teams_claim_the_same_path_at_once(personas, make_path):
    """Competing claims may wait side by side: both are recorded, the path moves once."""
    for _ in range(ROUNDS):
        path = make_path(owner_team=None, justification="", ticket_url="")
        outcomes = race(
            lambda p=path: services.path_claim(
                actor=as_user(personas.users.pat), path=p, team=personas.teams.payments,
                reason=CLAIM_REASON_PAYMENTS, now=NOW,
            ),
            lambda p=path: services.path_claim(
                actor=as_user(personas.users.dana), path=p, team=personas.teams.data,
                reason=CLAIM_REASON_DATA, now=NOW,
            ),
        )  # fmt: skip
        assert all(outcome.won for outcome in outcomes), outcomes
        path.refresh_from_db()
        assert path.state == AccessPath.State.CLAIM_PENDING
        assert path.version == 2
        assert Claim.objects.filter(path=path, status=Claim.Status.PENDING).count() == 2
        assert_chain_exact()


def test_two_members_claim_for_the_same_team_at_once(personas, make_path):
    """One pending claim per team and path: the second is refused with the reason."""
    for _ in range(ROUNDS):
        path = make_path(owner_team=None, justification="", ticket_url="")
        outcomes = race(
            *(
                lambda user=user, p=path: services.path_claim(
                    actor=as_user(user), path=p, team=personas.teams.payments,
                    reason=CLAIM_REASON_PAYMENTS, now=NOW,
                )
                for user in (personas.users.pat, personas.users.lee)
            )
        )  # fmt: skip
        _, loser = one_winner(outcomes)
        assert isinstance(loser.refused, InvalidTransition)
        assert loser.refused.message == errors.CLAIM_ALREADY_PENDING
        assert Claim.objects.filter(path=path).count() == 1
        assert_chain_exact()


# --- transfers -----------------------------------------------------------------------


def test_two_members_accept_the_same_transfer(personas, second_data_member, offered_path):
    for _ in range(ROUNDS):
        path, transfer = offered_path()
        outcomes = race(
            lambda t=transfer: services.transfer_accept(
                actor=as_user(personas.users.dana), transfer=t, now=NOW
            ),
            lambda t=transfer: services.transfer_accept(
                actor=as_user(second_data_member), transfer=t, now=NOW
            ),
        )
        winner, loser = one_winner(outcomes)
        assert isinstance(loser.refused, InvalidTransition)
        assert loser.refused.message == errors.TRANSFER_NOT_PENDING.format(status="accepted")

        path.refresh_from_db()
        transfer.refresh_from_db()
        assert path.owner_team_id == personas.teams.data.pk
        assert path.version == 2  # registered, accepted
        assert transfer.status == Transfer.Status.ACCEPTED
        assert transfer.decided_by == (personas.users.dana, second_data_member)[winner]
        assert AuditEvent.objects.filter(path=path, action="transfer.accepted").count() == 1
        assert_chain_exact()


def test_accept_and_decline_of_the_same_transfer(personas, second_data_member, offered_path):
    for _ in range(ROUNDS):
        path, transfer = offered_path()
        outcomes = race(
            lambda t=transfer: services.transfer_accept(
                actor=as_user(personas.users.dana), transfer=t, now=NOW
            ),
            lambda t=transfer: services.transfer_decline(
                actor=as_user(second_data_member), transfer=t, reason="Not ours.", now=NOW
            ),
        )
        winner, loser = one_winner(outcomes)
        decided = (Transfer.Status.ACCEPTED, Transfer.Status.DECLINED)[winner]
        assert loser.refused.message == errors.TRANSFER_NOT_PENDING.format(status=decided)
        path.refresh_from_db()
        transfer.refresh_from_db()
        assert transfer.status == decided
        expected_owner = personas.teams.data if winner == 0 else personas.teams.payments
        assert path.owner_team_id == expected_owner.pk
        assert_chain_exact()


def test_revoke_races_a_transfer_accept(personas, offered_path):
    """A path revoked while its transfer is being accepted: never revoked *and* moved."""
    for _ in range(ROUNDS):
        path, transfer = offered_path()
        outcomes = race(
            lambda t=transfer: services.transfer_accept(
                actor=as_user(personas.users.dana), transfer=t, now=NOW
            ),
            lambda p=path: services.path_revoke(
                actor=as_user(personas.users.sam), path=p, reason="Leaked in a log.", now=NOW
            ),
        )
        assert outcomes[1].won, outcomes[1].refused
        path.refresh_from_db()
        transfer.refresh_from_db()
        assert path.state == AccessPath.State.REVOKED
        if outcomes[0].won:  # accepted first, then revoked under its new owner
            assert transfer.status == Transfer.Status.ACCEPTED
            assert path.owner_team_id == personas.teams.data.pk
        else:  # revoked first: the pending transfer was closed with it
            assert outcomes[0].refused.message == errors.TRANSFER_NOT_PENDING.format(
                status="declined"
            )
            assert transfer.status == Transfer.Status.DECLINED
            assert path.owner_team_id == personas.teams.payments.pk
        assert_chain_exact()


# --- the audit chain under concurrent writers ----------------------------------------


def test_concurrent_writers_keep_the_chain_gap_free(personas):
    writers = 4
    per_writer = 5
    before = AuditEvent.objects.count()

    def register(worker: int) -> list[AccessPath]:
        return [
            services.path_register(
                actor=Actor.system(f"importer-{worker}"),
                data=path_data(owner_team=personas.teams.payments, external_id=f"w{worker}-{i}"),
                now=NOW,
            )
            for i in range(per_writer)
        ]

    outcomes = race(*(lambda w=w: register(w) for w in range(writers)))
    assert all(outcome.won for outcome in outcomes)
    assert AuditEvent.objects.count() == before + writers * per_writer
    assert_chain_exact()


def test_the_first_event_ever_written_by_two_writers(db):
    """With no chain head yet, two first writers still produce events #1 and #2."""
    assert not AuditChainHead.objects.exists()
    outcomes = race(
        *(
            lambda slug=slug: services.team_create(
                actor=Actor.system("bootstrap"), data={"slug": slug, "name": slug.title()},
                now=NOW,
            )
            for slug in ("alpha", "beta")
        )
    )  # fmt: skip
    assert all(outcome.won for outcome in outcomes), outcomes
    assert list(AuditEvent.objects.values_list("seq", flat=True)) == [1, 2]
    assert_chain_exact()
