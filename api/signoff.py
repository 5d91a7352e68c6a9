"""The human sign-off model (issue 18, registry/services/signoff.py):

- `GET/PUT /api/v1/access-paths/{id}/signoff-policy/`: the path's policy; set by a lead
  of the owning team (security for a critical path), never by a token (403). If-Match:
  the policy's version, W/"0" for "none yet".
- `POST /api/v1/access-paths/{id}/agent-actions/`: an agent records an action (the
  owning team's tokens and people): 201 `{id, signoff, reasons, ...}`.
- `GET /api/v1/agent-actions/{id}/`: the agent polls the decision.
- `POST /api/v1/agent-actions/{id}/decide/` `{approve, reason}`: a lead decides.
Paths and actions the caller cannot see are 404.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from api.views import IF_MATCH, _ScopedViewSet, errors, etag, expected_version
from registry import selectors
from registry.models import AccessPath, AgentAction, SignoffPolicy
from registry.rules import errors as messages
from registry.rules.actors import actor_for
from registry.selectors.signoff import signoff_policy_of, visible_agent_actions
from registry.services import signoff as services


class SignoffPolicySerializer(serializers.ModelSerializer):
    path = serializers.UUIDField(source="path_id", read_only=True)

    class Meta:
        model = SignoffPolicy
        fields = [
            "path", "actions", "allowed_scopes", "data_classes", "max_records",
            "rollback_path", "version", "updated_at", "updated_by_label",
        ]  # fmt: skip
        read_only_fields = fields


class SignoffPolicyInput(serializers.Serializer):
    """For the schema: the service validates (one home for the rules)."""

    actions = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Actions that always need sign-off.",
    )
    allowed_scopes = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Scopes an action may use without sign-off (empty: scopes are no threshold).",
    )
    data_classes = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Data classes needing sign-off."
    )
    max_records = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    rollback_path = serializers.CharField(help_text="How to undo an action that went wrong.")
    reason = serializers.CharField(required=False, allow_blank=True)


class AgentActionSerializer(serializers.ModelSerializer):
    path = serializers.UUIDField(source="path_id", read_only=True)
    recorded_by = serializers.CharField(source="recorded_by_label", read_only=True)
    reasons = serializers.ListField(source="signoff_reasons", read_only=True)
    decided_by = serializers.CharField(source="decided_by_label", read_only=True)

    class Meta:
        model = AgentAction
        fields = [
            "id", "path", "action", "scopes", "data_classes", "records", "summary",
            "reference", "recorded_at", "recorded_by", "signoff", "reasons", "decided_by",
            "decided_at", "decision_reason", "version",
        ]  # fmt: skip
        read_only_fields = fields


class AgentActionInput(serializers.Serializer):
    """For the schema: the service validates."""

    action = serializers.CharField(help_text="What the agent does: 'deploy', 'export'…")
    scopes = serializers.ListField(child=serializers.CharField(), required=False)
    data_classes = serializers.ListField(child=serializers.CharField(), required=False)
    records = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    summary = serializers.CharField(required=False, allow_blank=True)
    reference = serializers.URLField(required=False, allow_blank=True)


class DecideInput(serializers.Serializer):
    approve = serializers.BooleanField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


def _body(request) -> dict:
    if not isinstance(request.data, Mapping):
        raise ValidationError({"non_field_errors": ["Send a JSON object."]})
    return dict(request.data)


def _visible_path(request, pk) -> AccessPath:
    path = selectors.path_get(actor=actor_for(request), path_id=pk)
    if path is None:
        raise Http404
    return path


def _policy_response(policy: SignoffPolicy) -> Response:
    return Response(SignoffPolicySerializer(policy).data, headers={"ETag": etag(policy.version)})


class SignoffPolicyView(APIView):
    @extend_schema(
        operation_id="access_paths_signoff_policy_retrieve",
        responses={200: SignoffPolicySerializer, **errors(401, 404)},
        description="404 when the path has none (or is out of sight).",
    )
    def get(self, request, pk):
        policy = signoff_policy_of(_visible_path(request, pk))
        if policy is None:
            raise Http404
        return _policy_response(policy)

    @extend_schema(
        operation_id="access_paths_signoff_policy_update",
        request=SignoffPolicyInput,
        responses={200: SignoffPolicySerializer, **errors(400, 401, 403, 404, 409, 412, 415)},
        parameters=[IF_MATCH],
        description="A lead of the owning team, signed in (security for a critical path); "
        "a token never (403).",
    )
    def put(self, request, pk):
        path = _visible_path(request, pk)
        data = _body(request)
        reason = data.pop("reason", "")
        policy = services.signoff_policy_set(
            actor=actor_for(request),
            path=path,
            data=data,
            reason=reason if isinstance(reason, str) else "",
            expected_version=expected_version(request),
        )
        return _policy_response(policy)


class AgentActionsView(APIView):
    @extend_schema(
        operation_id="access_paths_agent_actions_create",
        request=AgentActionInput,
        responses={201: AgentActionSerializer, **errors(400, 401, 403, 404, 409, 415)},
        description="`signoff` is not_needed (within the policy) or pending (the reasons "
        "name each threshold crossed; the owning team's leads are told). Poll "
        "GET /api/v1/agent-actions/{id}/ for the decision.",
    )
    def post(self, request, pk):
        path = _visible_path(request, pk)
        recorded = services.agent_action_record(
            actor=actor_for(request), path=path, data=_body(request)
        )
        return Response(
            AgentActionSerializer(recorded).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/agent-actions/{recorded.pk}/"},
        )


@extend_schema(responses={200: AgentActionSerializer, **errors(401, 404)})
class AgentActionViewSet(mixins.RetrieveModelMixin, _ScopedViewSet):
    serializer_class = AgentActionSerializer
    queryset = AgentAction.objects.none()

    def scoped_queryset(self) -> QuerySet:
        return visible_agent_actions(actor=self.actor)

    @extend_schema(
        request=DecideInput,
        responses={200: AgentActionSerializer, **errors(400, 401, 403, 404, 409, 415)},
        description=messages.SIGNOFF_DECISION_NOT_BY_TOKEN,
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        data = DecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        decided = services.agent_action_decide(
            actor=self.actor,
            action=self.get_object(),
            approve=data.validated_data["approve"],
            reason=data.validated_data["reason"],
        )
        return Response(AgentActionSerializer(decided).data)
