"""Claims and transfers of ownership (registry/services/ownership.py): list and read
them in the caller's scope; a security reviewer decides a claim, a person of the
receiving team accepts or declines a transfer. Raising either is an action on the
path (api/views.py)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from api import serializers as s
from api.exceptions import errors
from api.views import _ListRetrieveViewSet
from registry import selectors, services
from registry.models import Claim, Transfer


@extend_schema(responses={200: s.ClaimSerializer, **errors(401, 404)})
class ClaimViewSet(_ListRetrieveViewSet):
    serializer_class = s.ClaimSerializer

    queryset = Claim.objects.none()

    def scoped_queryset(self) -> QuerySet:
        return selectors.visible_claims(actor=self.actor)

    @extend_schema(
        request=s.OptionalReasonInput,
        responses={200: s.ClaimSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        reason = s.reason_in(request, required=False)
        claim = services.claim_approve(actor=self.actor, claim=self.get_object(), reason=reason)
        return Response(s.ClaimSerializer(claim).data)

    @extend_schema(
        request=s.ReasonInput,
        responses={200: s.ClaimSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        reason = s.reason_in(request)
        claim = services.claim_reject(actor=self.actor, claim=self.get_object(), reason=reason)
        return Response(s.ClaimSerializer(claim).data)


@extend_schema(responses={200: s.TransferSerializer, **errors(401, 404)})
class TransferViewSet(_ListRetrieveViewSet):
    serializer_class = s.TransferSerializer

    queryset = Transfer.objects.none()

    def scoped_queryset(self) -> QuerySet:
        return selectors.visible_transfers(actor=self.actor)

    @extend_schema(
        request=None, responses={200: s.TransferSerializer, **errors(401, 403, 404, 409)}
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        transfer = services.transfer_accept(actor=self.actor, transfer=self.get_object())
        return Response(s.TransferSerializer(transfer).data)

    @extend_schema(
        request=s.ReasonInput,
        responses={200: s.TransferSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        reason = s.reason_in(request)
        transfer = services.transfer_decline(
            actor=self.actor, transfer=self.get_object(), reason=reason
        )
        return Response(s.TransferSerializer(transfer).data)
