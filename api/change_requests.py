"""Changes waiting for a second person (registry/services/change_requests.py): list and
read them in the caller's scope, approve or reject them."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from api import serializers as s
from api.views import _ListRetrieveViewSet, errors
from registry import selectors, services
from registry.models import ChangeRequest


class ChangeRequestSerializer(serializers.ModelSerializer):
    path = serializers.UUIDField(source="path_id", read_only=True)
    requested_by = serializers.CharField(source="requested_by_label", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.get_username", read_only=True, allow_null=True, default=None
    )
    changes = serializers.DictField(read_only=True)

    class Meta:
        model = ChangeRequest
        fields = [
            "id", "path", "changes", "reason", "approver", "status", "requested_by",
            "created_at", "decided_by", "decided_at", "decision_reason",
        ]  # fmt: skip
        read_only_fields = fields


@extend_schema(responses={200: ChangeRequestSerializer, **errors(401, 404)})
class ChangeRequestViewSet(_ListRetrieveViewSet):
    serializer_class = ChangeRequestSerializer
    queryset = ChangeRequest.objects.none()

    def scoped_queryset(self) -> QuerySet:
        return selectors.visible_change_requests(actor=self.actor)

    @extend_schema(
        request=s.OptionalReasonInput,
        responses={200: ChangeRequestSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        reason = s.reason_in(request, required=False)
        decided = services.change_request_decide(
            actor=self.actor,
            request=self.get_object(),
            approve=True,
            reason=reason,
        )
        return Response(ChangeRequestSerializer(decided).data)

    @extend_schema(
        request=s.ReasonInput,
        responses={200: ChangeRequestSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        reason = s.reason_in(request)
        decided = services.change_request_decide(
            actor=self.actor,
            request=self.get_object(),
            approve=False,
            reason=reason,
        )
        return Response(ChangeRequestSerializer(decided).data)
