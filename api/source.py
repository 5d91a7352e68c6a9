"""`POST /api/v1/access-paths/{id}/source-disabled/`: an integration (or a person)
confirms that a revoked or expired path's credential is disabled where it lives."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers import AccessPathSerializer
from api.views import IF_MATCH, errors, etag, expected_version
from registry import selectors, services
from registry.rules.actors import actor_for


class SourceDisabledInput(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="How it was disabled (e.g. 'key deleted in IAM by the revocation job').",
    )


class SourceDisabledView(APIView):
    """Record who confirmed, and when, that the credential is disabled at the source."""

    @extend_schema(
        operation_id="access_paths_source_disabled",
        request=SourceDisabledInput,
        responses={200: AccessPathSerializer, **errors(400, 401, 403, 404, 409, 412, 415)},
        parameters=[IF_MATCH],
        description="Only for a revoked or expired path, once (a second confirmation is "
        "409). Allowed to the owning, stewarding and revoking teams (people and their "
        "integration tokens with the write scope) and security.",
    )
    def post(self, request, pk):
        actor = actor_for(request)
        path = selectors.path_get(actor=actor, path_id=pk)
        if path is None:
            raise Http404
        data = SourceDisabledInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.path_confirm_source_disabled(
            actor=actor,
            path=path,
            note=data.validated_data["note"],
            expected_version=expected_version(request),
        )
        fresh = selectors.with_identifiers(
            selectors.path_queryset(actor=actor).prefetch_related("tags")
        ).get(pk=path.pk)
        return Response(AccessPathSerializer(fresh).data, headers={"ETag": etag(fresh.version)})
