"""The dashboard's figures, maintained instead of recomputed (registry/services/tallies.py).

Each access path has a PathFacts row: the facts it was last classified with (owner
team, status, posture flags, record quality) and the instant they stop being true
(`valid_until`: its next review boundary, its expiry, its rotation date…). A narrow
table of its own, so reclassifying a path rewrites five numbers and one index instead
of the paths table's wide row and its twenty-odd indexes. Database triggers (migration
0016) give every new path its row and make a path's facts run out when a column they
are computed from is written, whoever writes it.
PathTally holds signed deltas of those facts per (owner team, status), appended in the
same transaction as every write; their sum is the estate's figures as of each path's
classification. A read adds the exact figures of the few paths whose facts have run
out (an index range on facts_valid_until) and takes their stored facts back out, all
in one statement, so the result is exact at the moment of the read.

Appending deltas (rather than updating one counter row per key) takes no row lock that
two writers could wait on in opposite orders; the sweep folds them into one row per key
(services.tallies.fold_tally). Derived bookkeeping, rebuilt from the paths by
`manage.py tally --rebuild`: folding removes delta rows, never a record.
"""

from __future__ import annotations

import datetime as dt

from django.db import models

from registry.models.paths import AccessPath

# Facts never computed, or made to run out by a write: before any read's `now`.
FACTS_NEVER_VALID = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class PathFacts(models.Model):
    """What the tally counts one path as, until `valid_until`."""

    path = models.OneToOneField(
        AccessPath, primary_key=True, on_delete=models.PROTECT, related_name="facts"
    )
    team_key = models.BigIntegerField(default=0)  # the owning team's id, 0 for none
    status = models.CharField(max_length=16, blank=True, default="")  # "": never computed
    flags = models.IntegerField(default=0)  # rules.facts: one bit per posture rule, …
    quality = models.SmallIntegerField(default=0)
    valid_until = models.DateTimeField(default=FACTS_NEVER_VALID)

    class Meta:
        verbose_name_plural = "path facts"
        # The paths whose facts have run out: what a read counts directly.
        indexes = [models.Index(fields=["valid_until"], name="facts_valid_until")]

    def __str__(self) -> str:
        return f"{self.path_id}: {self.status or '-'} until {self.valid_until:%Y-%m-%d %H:%M}"


class PathTally(models.Model):
    """A signed delta of the estate's figures for one (owner team, status)."""

    # The owning team's id, 0 for none (a unique key over a nullable column would not
    # treat two nulls as equal).
    team_key = models.BigIntegerField()
    status = models.CharField(max_length=16)
    paths = models.IntegerField(default=0)
    quality = models.BigIntegerField(default=0)  # the sum of filled recommended fields
    expiring = models.IntegerField(default=0)
    not_seen = models.IntegerField(default=0)
    violating = models.IntegerField(default=0)  # breaking at least one posture rule
    attested = models.IntegerField(default=0)  # attested in the running review cycle
    r_no_expiry = models.IntegerField(default=0)
    r_nhi1_offboarding = models.IntegerField(default=0)
    r_nhi5_overprivileged = models.IntegerField(default=0)
    r_nhi7_long_lived = models.IntegerField(default=0)
    r_nhi8_environment_isolation = models.IntegerField(default=0)
    r_nhi9_reuse = models.IntegerField(default=0)
    r_nhi10_human_use = models.IntegerField(default=0)
    r_missing_ticket = models.IntegerField(default=0)
    r_weak_justification = models.IntegerField(default=0)
    r_stale_record = models.IntegerField(default=0)
    r_missing_authority = models.IntegerField(default=0)
    r_nhi2_secret_leakage = models.IntegerField(default=0)
    r_nhi4_insecure_authentication = models.IntegerField(default=0)
    r_nhi6_static_not_workload = models.IntegerField(default=0)
    r_nhi7_agent_static = models.IntegerField(default=0)
    r_nhi7_lease_over_max = models.IntegerField(default=0)
    r_missing_signoff_policy = models.IntegerField(default=0)
    r_missing_provenance = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["team_key", "status"], name="tally_key")]

    def __str__(self) -> str:
        return f"{self.team_key}/{self.status}: {self.paths:+d}"


class TallyVersion(models.Model):
    """What the stored facts were computed with (the rules' order and the policy's
    numbers). A read whose fingerprint differs does not trust the tally and counts from
    the paths; `manage.py tally --rebuild` (and the sweep) recompute it."""

    name = models.CharField(max_length=32, unique=True)
    fingerprint = models.CharField(max_length=64)
    rebuilt_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.fingerprint[:12]}"
