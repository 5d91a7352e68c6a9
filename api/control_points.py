"""Per-system control-point owners: GET /api/v1/control-policies/ (any team member),
GET and PUT /api/v1/control-policies/{system}/ (PUT: security; If-Match the row's
version, W/"0" for a system not yet set). A path's own owners are set on the path.
`offers_workload_identity`: the system's platform offers workload identity (posture
NHI6); PUT states the whole policy, so leaving it out says it does not."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from api import serializers as s
from api.views import IF_MATCH, errors, etag, expected_version
from registry import services
from registry.rules import permissions
from registry.rules.actors import actor_for
from registry.rules.control_points import policy_queryset


class ControlPolicyOutput(s.ControlPolicySerializer):
    """A system's policy: the control points' default owners and whether its platform
    offers workload identity."""

    class Meta(s.ControlPolicySerializer.Meta):
        fields = [*s.ControlPolicySerializer.Meta.fields, "offers_workload_identity"]
        read_only_fields = fields


class ControlPolicyWrite(s.ControlPolicyInput):
    """The whole policy (PUT): a team left out or null means no default for it;
    `offers_workload_identity` left out means the platform does not offer it."""

    offers_workload_identity = serializers.BooleanField(required=False, default=False)


class ControlPolicyPagination(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("system",)  # unique: the cursor needs no tie-breaker


@extend_schema(responses={200: ControlPolicyOutput, **errors(401, 404)})
class ControlPolicyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = ControlPolicyOutput
    pagination_class = ControlPolicyPagination
    lookup_field = "system"
    lookup_value_regex = "[-a-zA-Z0-9_.]+"
    queryset = policy_queryset().none()

    @property
    def actor(self):
        return actor_for(self.request)

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        if not permissions.may_read_control_policies(self.actor):
            return policy_queryset().none()
        return policy_queryset()

    def retrieve(self, request, system=None):
        policy = self.get_queryset().filter(system=system).first()
        if policy is None:
            raise Http404
        return Response(self.get_serializer(policy).data, headers={"ETag": etag(policy.version)})

    @extend_schema(
        request=ControlPolicyWrite,
        responses={200: ControlPolicyOutput, **errors(400, 401, 403, 404, 412, 415)},
        parameters=[IF_MATCH],
    )
    def update(self, request, system=None):
        data = ControlPolicyWrite(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.system_control_policy_set(
            actor=self.actor,
            system=system,
            expected_version=expected_version(request),
            **data.validated_data,
        )
        fresh = policy_queryset().get(pk=policy.pk)
        return Response(self.get_serializer(fresh).data, headers={"ETag": etag(fresh.version)})
