"""Leak incidents in the API: list (keyset pages, the caller's visibility), retrieve,
report (create), and the transitions `contain/`, `close/` (security also `link/`), each
with the incident's `expected_version` (in the body, or as If-Match)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.pagination import RegistryCursorPagination
from api.views import IF_MATCH, _ScopedViewSet, errors, etag, expected_version
from registry import selectors, services
from registry.models import AccessPath, Incident, Team
from registry.rules.links import incident_url
from registry.selectors.incidents import incident_list
from registry.services.incidents import MANUAL_DETECTIONS


class IncidentCursorPagination(RegistryCursorPagination):
    """Newest detection first, constant cost at any depth (the incident_detected index)."""

    ordering = ("-detected_at", "-id")


class IncidentPathSerializer(serializers.ModelSerializer):
    owner_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    steward_team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = AccessPath
        fields = ["id", "name", "system", "environment", "owner_team", "steward_team"]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer):
    """An incident as its readers see it (the path's own readers, and security)."""

    url = serializers.SerializerMethodField()
    path = IncidentPathSerializer(read_only=True, allow_null=True)
    reported_by = serializers.CharField(source="reported_by_label", read_only=True)
    contained_by = serializers.CharField(source="contained_by_label", read_only=True)
    closed_by = serializers.CharField(source="closed_by_label", read_only=True)
    # The scanner's link as it gave it; empty when a person reported the leak.
    alert_url = serializers.CharField(read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id", "url", "state", "path", "detection", "source", "external_ref", "alert_url",
            "secret_type", "location", "matched_by", "summary", "detected_at", "reported_by",
            "contained_at", "contained_by", "closed_at", "closed_by", "escalation_stage",
            "version", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, incident: Incident) -> str:
        return incident_url(incident.pk)


class IncidentReportInput(serializers.Serializer):
    path = serializers.UUIDField(required=False, help_text="A path you can see.")
    identifier = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=600,
        help_text="Or an identifier or fingerprint of the leaked credential (never the "
        "credential itself). The answer then says only whom it was routed to when you "
        "cannot see the path.",
    )
    kind = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    detection = serializers.ChoiceField(
        choices=[(d.value, d.label) for d in MANUAL_DETECTIONS], default="manual"
    )
    detected_at = serializers.DateTimeField(required=False)
    summary = serializers.CharField(required=False, allow_blank=True, default="")
    location = serializers.CharField(required=False, allow_blank=True, default="")
    url = serializers.CharField(required=False, allow_blank=True, default="")
    secret_type = serializers.CharField(required=False, allow_blank=True, default="")


class IncidentRoutedSerializer(serializers.Serializer):
    """The answer to a report about a credential the reporter cannot see: enough to know
    it was routed, nothing about the path."""

    visible = serializers.BooleanField()
    state = serializers.CharField()
    route_to = serializers.DictField(allow_null=True)


class VersionInput(serializers.Serializer):
    expected_version = serializers.IntegerField(required=False, min_value=1)


class ContainInput(VersionInput):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class CloseInput(VersionInput):
    reason = serializers.CharField()


class LinkInput(VersionInput):
    path = serializers.UUIDField()


def _version(request, data: serializers.Serializer) -> int | None:
    given = data.validated_data.get("expected_version")
    return given if given is not None else expected_version(request)


def _routed(incident: Incident) -> dict:
    path = incident.path
    team = (path.owner_team or path.steward_team) if path is not None else None
    route = {"slug": team.slug, "name": team.name, "email": team.email or None} if team else None
    return {"visible": False, "state": incident.state, "route_to": route}


# A report answers with the incident when the reporter can see it, else with where it
# was routed (nothing about the path): either shape, documented as oneOf.
_REPORTED = PolymorphicProxySerializer(
    component_name="IncidentReported",
    serializers=[IncidentSerializer, IncidentRoutedSerializer],
    resource_type_field_name=None,
)


@extend_schema(responses={200: IncidentSerializer, **errors(401, 404)})
class IncidentViewSet(_ScopedViewSet):
    serializer_class = IncidentSerializer
    pagination_class = IncidentCursorPagination
    lookup_value_regex = "[0-9]+"
    queryset = Incident.objects.none()

    def scoped_queryset(self) -> QuerySet:
        state = self.request.query_params.get("state") or None
        if state is not None and state not in Incident.State.values:
            raise serializers.ValidationError({"state": [f"Use one of {Incident.State.values}."]})
        return incident_list(actor=self.actor, state=state)

    def _respond(self, incident: Incident, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().filter(pk=incident.pk).first()
        if fresh is None:  # reported by someone who cannot see the path
            return Response(IncidentRoutedSerializer(_routed(incident)).data, status=code)
        return Response(
            IncidentSerializer(fresh).data, status=code, headers={"ETag": etag(fresh.version)}
        )

    @extend_schema(responses={200: IncidentSerializer(many=True), **errors(400, 401, 404)})
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(IncidentSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        incident = self.get_object()
        return Response(IncidentSerializer(incident).data, headers={"ETag": etag(incident.version)})

    @extend_schema(
        request=IncidentReportInput,
        responses={201: _REPORTED, **errors(400, 401, 403, 404, 415)},
        description="Report a leak: of a path you can see, or by an identifier or "
        "fingerprint of the credential. When you cannot see its path the answer is only "
        '{"visible": false, "state", "route_to"}.',
    )
    def create(self, request):
        data = IncidentReportInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        path = None
        if values.get("path") is not None:
            path = selectors.path_get(actor=self.actor, path_id=values["path"])
            if path is None:
                raise Http404
        incident = services.incident_open(
            actor=self.actor,
            path=path,
            identifier=values.get("identifier") or "",
            kind=values.get("kind") or None,
            detection=values["detection"],
            detected_at=values.get("detected_at"),
            summary=values["summary"],
            location=values["location"],
            alert_url=values["url"],
            secret_type=values["secret_type"],
        )
        return self._respond(incident, status.HTTP_201_CREATED)

    @extend_schema(
        request=ContainInput,
        responses={200: IncidentSerializer, **errors(400, 401, 403, 404, 409, 412, 415)},
        parameters=[IF_MATCH],
    )
    @action(detail=True, methods=["post"])
    def contain(self, request, pk=None):
        incident = self.get_object()
        data = ContainInput(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_contain(
            actor=self.actor,
            incident=incident,
            expected_version=_version(request, data),
            note=data.validated_data["note"],
        )
        return self._respond(incident)

    @extend_schema(
        request=CloseInput,
        responses={200: IncidentSerializer, **errors(400, 401, 403, 404, 409, 412, 415)},
        parameters=[IF_MATCH],
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        incident = self.get_object()
        data = CloseInput(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_close(
            actor=self.actor,
            incident=incident,
            reason=data.validated_data["reason"],
            expected_version=_version(request, data),
        )
        return self._respond(incident)

    @extend_schema(
        request=LinkInput,
        responses={200: IncidentSerializer, **errors(400, 401, 403, 404, 409, 412, 415)},
        parameters=[IF_MATCH],
    )
    @action(detail=True, methods=["post"])
    def link(self, request, pk=None):
        incident = self.get_object()
        data = LinkInput(data=request.data)
        data.is_valid(raise_exception=True)
        path = selectors.path_get(actor=self.actor, path_id=data.validated_data["path"])
        if path is None:
            raise serializers.ValidationError({"path": ["No such access path."]})
        incident = services.incident_link_path(
            actor=self.actor,
            incident=incident,
            path=path,
            expected_version=_version(request, data),
        )
        return self._respond(incident)
