"""`/api/v1/access-paths/{id}/leases/`: a pipeline records the leases an issuer path
issued (POST, in batches), and anyone who sees the path reads its issuance (GET).

The batch is checked by the service (registry/services/leases.py), which names a bad
item's field as `leases[i].field`; the serializers here document the shapes."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.parsers import read_body
from api.views import errors
from registry import selectors
from registry.rules import errors as messages
from registry.rules.actors import actor_for
from registry.rules.errors import Invalid
from registry.rules.policies import current_policy
from registry.selectors.leases import IssuanceSummary, issuance_summary
from registry.services.leases import leases_record

# A lease as JSON takes about 150 bytes, at most some 550 with both texts at their 200
# characters; 1 KiB each leaves room for escapes and whitespace without letting a body
# grow unbounded (api/parsers.read_body; every other endpoint keeps Django's 2.5 MB).
BODY_BYTES_PER_LEASE = 1024


class LeaseInput(serializers.Serializer):
    lease_ref = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="The issuer's id for the lease (Vault lease_id, STS session name): a "
        "retried batch does not count it twice. Never the credential.",
    )
    subject = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Who received it: the workload, job or agent.",
    )
    issued_at = serializers.DateTimeField(help_text="ISO 8601 with its time zone.")
    ttl_seconds = serializers.IntegerField(min_value=1)


class LeaseBatchInput(serializers.Serializer):
    leases = LeaseInput(many=True)


class LeaseBatchResult(serializers.Serializer):
    recorded = serializers.IntegerField(help_text="Leases recorded now.")
    duplicates = serializers.IntegerField(
        help_text="Leases already recorded (same lease_ref under this issuer): not counted again."
    )
    over_max = serializers.IntegerField(
        help_text="Recorded leases longer than the issuer's max_lease_seconds."
    )


class HourCountSerializer(serializers.Serializer):
    hour = serializers.DateTimeField()
    leases = serializers.IntegerField()


class IssuanceSummarySerializer(serializers.Serializer):
    issuer_kind = serializers.CharField()
    max_lease_seconds = serializers.IntegerField(allow_null=True)
    leases_total = serializers.IntegerField()
    leases_24h = serializers.IntegerField()
    leases_30d = serializers.IntegerField()
    longest_seconds = serializers.IntegerField(allow_null=True)
    longest_30d_seconds = serializers.IntegerField(allow_null=True)
    typical_up_to_seconds = serializers.IntegerField(
        allow_null=True, help_text="The upper bound of the bucket holding the median lease."
    )
    typical_over_last = serializers.BooleanField(
        help_text="The median lease is longer than the last bucket (7 days)."
    )
    average_seconds = serializers.IntegerField(allow_null=True)
    last_issued_at = serializers.DateTimeField(allow_null=True)
    last_subject = serializers.CharField()
    recorded_by = serializers.ListField(child=serializers.DictField())
    series = HourCountSerializer(many=True)


def summary_json(issuer_kind: str, summary: IssuanceSummary) -> dict[str, Any]:
    data = {
        "issuer_kind": issuer_kind,
        "max_lease_seconds": summary.max_lease_seconds,
        "leases_total": summary.leases_total,
        "leases_24h": summary.leases_24h,
        "leases_30d": summary.leases_30d,
        "longest_seconds": summary.longest_seconds,
        "longest_30d_seconds": summary.longest_30d_seconds,
        "typical_up_to_seconds": summary.typical_up_to_seconds,
        "typical_over_last": summary.typical_over_last,
        "average_seconds": summary.average_seconds,
        "last_issued_at": summary.last_issued_at,
        "last_subject": summary.last_subject,
        "recorded_by": [{"label": label, "leases": n} for label, n in summary.recorded_by],
        "series": [{"hour": point.hour, "leases": point.leases} for point in summary.series],
    }
    return IssuanceSummarySerializer(data).data


class LeasesView(APIView):
    """An issuer's leases: recorded in batches, read as its issuance."""

    @property
    def max_body_bytes(self) -> int:
        return current_policy().max_leases_per_request * BODY_BYTES_PER_LEASE

    def _path(self, request, pk):
        path = selectors.path_get(actor=actor_for(request), path_id=pk)
        if path is None:
            raise Http404
        return path

    @extend_schema(
        operation_id="access_paths_leases_summary",
        responses={200: IssuanceSummarySerializer, **errors(401, 403, 404)},
        description="The issuer's issuance from its hourly rollups: volumes (all time, "
        "24 hours, 30 days), the longest, typical and average lease, the last issuance, "
        "who recorded the leases, and the last 48 hours hour by hour.",
    )
    def get(self, request, pk):
        path = self._path(request, pk)
        summary = issuance_summary(path, now=timezone.now())
        return Response(summary_json(path.issuer_kind, summary))

    @extend_schema(
        operation_id="access_paths_leases_record",
        request=LeaseBatchInput,
        responses={201: LeaseBatchResult, **errors(400, 401, 403, 404, 409, 413, 415)},
        description="Record up to the policy's max_leases_per_request (5,000) leases "
        "issued under this issuer path. A bad item refuses the whole batch (400 naming "
        "`leases[i].field`); a lease_ref already recorded is counted as a duplicate, not "
        "again. The owning and stewarding teams' people and tokens (write scope) only; "
        "anyone else gets 404. A path that is not a live, owned issuer is 409.",
    )
    def post(self, request, pk):
        actor = actor_for(request)
        path = self._path(request, pk)
        read_body(request, self.max_body_bytes)
        body = request.data
        if not isinstance(body, dict):
            raise Invalid.single(
                "leases",
                messages.LEASES_BATCH_SIZE.format(limit=current_policy().max_leases_per_request),
            )
        if unknown := sorted(set(body) - {"leases"}):
            raise Invalid({name: [messages.UNKNOWN_FIELD] for name in unknown})
        batch = leases_record(actor=actor, issuer=path, leases=body.get("leases"))
        result = {
            "recorded": batch.recorded,
            "duplicates": batch.duplicates,
            "over_max": batch.over_max,
        }
        return Response(LeaseBatchResult(result).data, status=201)
