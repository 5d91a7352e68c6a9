"""The REST API: one ViewSet per resource, each transition an @action with its own
input serializer (house rule 6). Reads go through selectors (already scoped to the
caller), changes through services; a refusal comes back as 400/403/404/409/412."""

from __future__ import annotations

import re
import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from api import policy_serializers as ps
from api import serializers as s
from api.exceptions import errors
from api.filtering import KnownFiltersBackend
from api.pagination import AuditCursorPagination, PathCursorPagination
from api.path_rows import page_json, page_values
from api.permissions import LookupAccess
from api.policy import DRY_RUN, dry_run_asked, refuse_query_parameters
from registry import selectors, services
from registry.models import (
    AccessPath,
    ApiToken,
    AuditEvent,
    ImportRun,
    Notification,
    PolicyException,
    Team,
)
from registry.rules import permissions
from registry.rules.actors import actor_for
from registry.rules.enforcement import verdict_json
from registry.rules.policies import current_policy
from registry.selectors.filters import (
    AccessPathFilterSet,
    NotificationFilterSet,
)
from registry.selectors.paths import load_path_details, path_queryset
from registry.selectors.violations import Violations, path_verdict
from registry.services.path_preview import register_evaluate

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description='The path\'s version as its ETag (W/"3"): a stale one fails with 412.',
)
_VERSION_TAG = re.compile(r'^(?:W/)?"?(\d+)"?$')


def expected_version(request) -> int | None:
    raw = request.headers.get("If-Match", "").strip()
    if not raw or raw == "*":
        return None
    match = _VERSION_TAG.match(raw)
    if match is None:
        raise ParseError('If-Match must carry the path\'s version, for example W/"3".')
    return int(match.group(1))


def etag(version: int) -> str:
    return f'W/"{version}"'


class _ScopedViewSet(viewsets.GenericViewSet):
    """Looks objects up in the caller's scope only: anything else is a 404."""

    queryset: QuerySet  # each subclass's Model.objects.none(), for the schema

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return self.queryset
        return self.scoped_queryset()

    def scoped_queryset(self) -> QuerySet:  # pragma: no cover - every viewset defines it
        raise NotImplementedError

    def get_object(self):
        try:
            lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
            obj = self.get_queryset().filter(**{self.lookup_field: lookup}).first()
        except (ValueError, TypeError, DjangoValidationError):  # a malformed id: not found
            obj = None
        if obj is None:
            raise Http404
        return obj

    @property
    def actor(self):
        return actor_for(self.request)


class AccessPathViewSet(_ScopedViewSet):
    serializer_class = s.AccessPathSerializer
    filter_backends = [KnownFiltersBackend, OrderingFilter]
    filterset_class = AccessPathFilterSet
    ordering_fields = ["created_at", "updated_at", "name"]
    pagination_class = PathCursorPagination

    queryset = AccessPath.objects.none()

    def scoped_queryset(self) -> QuerySet:
        # No status in SQL and no prefetches: the rows a response shows get them from
        # load_path_details, in a few flat queries (building status_case and the
        # prefetch managers cost more than the page's query).
        return path_queryset(actor=self.actor, with_status=False)

    def _details(self, paths) -> None:
        load_path_details(paths, now=timezone.now())

    def get_object(self):
        try:
            uuid.UUID(str(self.kwargs["pk"]))
        except ValueError:
            raise Http404 from None
        return super().get_object()

    def _respond(self, path, code=status.HTTP_200_OK) -> Response:
        """The path as it now is, with its posture: a registration's or an edit's answer
        carries the policy's verdict on it (`path.verdict`, set by the service), any
        other answer the rules it breaks."""
        fresh = self.get_queryset().get(pk=path.pk)
        self._details([fresh])
        verdict = getattr(path, "verdict", None)
        if verdict is None:
            body = self._detail_json(fresh)
        else:
            body = ps.AccessPathVerdictSerializer(fresh, context={"verdict": verdict}).data
        return Response(body, status=code, headers={"ETag": etag(fresh.version)})

    def _detail_json(self, path: AccessPath) -> dict:
        verdict = path_verdict(path, now=timezone.now(), policy=current_policy())
        return ps.AccessPathDetailSerializer(path, context={"verdict": verdict}).data

    @extend_schema(responses={200: ps.AccessPathRowSerializer(many=True), **errors(400, 401, 404)})
    def list(self, request):
        # Plain rows, not model instances (api/path_rows.py): the same JSON for a page,
        # and each row's violations for the page at once (selectors/violations.py).
        rows = self.paginate_queryset(page_values(self.filter_queryset(self.get_queryset())))
        now = timezone.now()
        found = page_json(rows or [], now=now)
        if found:
            violations = Violations(now=now, policy=current_policy())
            by_id = violations.rows_json([row["id"] for row in rows or []])
            for row, value in zip(found, rows or [], strict=True):
                row["violations"] = by_id[value["id"]]
        return self.get_paginated_response(found)

    @extend_schema(responses={200: ps.AccessPathDetailSerializer, **errors(401, 404)})
    def retrieve(self, request, pk=None):
        path = self.get_object()
        self._details([path])
        return Response(self._detail_json(path), headers={"ETag": etag(path.version)})

    @extend_schema(
        request=s.AccessPathCreateSerializer,
        parameters=[DRY_RUN],
        # 404: the external id is registered on a path the caller cannot see.
        responses={
            201: ps.AccessPathVerdictSerializer,
            200: OpenApiResponse(ps.VerdictSerializer, description="?dry_run=true: nothing saved."),
            422: OpenApiResponse(ps.PolicyRefusalSerializer),
            **errors(400, 401, 403, 404, 415),
        },
    )
    def create(self, request):
        dry_run = dry_run_asked(request)
        data = s.AccessPathCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if dry_run:
            return self._evaluate(data.validated_data)
        path = services.path_register(actor=self.actor, data=data.validated_data)
        return self._respond(path, status.HTTP_201_CREATED)

    def _evaluate(self, values: dict) -> Response:
        verdict = register_evaluate(actor=self.actor, data=values, now=timezone.now())
        return Response(verdict_json(verdict), headers={"Cache-Control": "no-store"})

    @extend_schema(
        request=s.AccessPathCreateSerializer,
        responses={200: ps.VerdictSerializer, **errors(400, 401, 403, 415)},
        description="The policy's verdict on registering this path, without registering it: "
        "allowed, needs_approval or refused, with every rule it would break, its framework "
        "ids, enforcement level and fix. Nothing is saved or audited. The rules that "
        "compare a path with other teams' paths (NHI8, NHI9) and the duplicate external id "
        "are left out: answered unaudited, they would tell what other teams hold "
        "(docs/policy-at-request-time.md).",
    )
    @action(detail=False, methods=["post"])
    def evaluate(self, request):
        refuse_query_parameters(request, accepted=())
        data = s.AccessPathCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._evaluate(data.validated_data)

    def _respond_or_held(self, path: AccessPath, code: int = status.HTTP_200_OK) -> Response:
        """202 with the waiting change when part of the edit needs a second person (the
        rest applied); else the path as usual."""
        held = getattr(path, "held_change", None)
        if held is None:
            return self._respond(path, code)
        from api.change_requests import ChangeRequestSerializer

        return Response(
            ChangeRequestSerializer(held).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/change-requests/{held.pk}/"},
        )

    @extend_schema(
        request=s.AccessPathWriteSerializer,
        responses={
            200: ps.AccessPathVerdictSerializer,
            202: OpenApiResponse(description="Part of the change waits for approval."),
            422: OpenApiResponse(ps.PolicyRefusalSerializer),
            **errors(400, 401, 403, 404, 409, 412, 415),
        },
        parameters=[IF_MATCH],
    )
    def partial_update(self, request, pk=None):
        path = self.get_object()
        data = s.AccessPathWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        path = services.path_update(
            actor=self.actor,
            path=path,
            changes=data.validated_data,
            expected_version=expected_version(request),
        )
        return self._respond_or_held(path)

    @extend_schema(
        request=s.AccessPathRegisterSerializer,
        parameters=[DRY_RUN],
        responses={
            200: ps.AccessPathVerdictSerializer,
            201: ps.AccessPathVerdictSerializer,
            422: OpenApiResponse(ps.PolicyRefusalSerializer),
            **errors(400, 401, 403, 409, 415),
        },
        description="Register a path by (system, external_id), or update the one already "
        "registered: idempotent, for pipelines to call every time they run. 201 when "
        "created, 200 when it existed (changed or not). ?dry_run=true: the verdict on "
        "registering the payload, as evaluate gives it; nothing saved.",
    )
    @action(detail=False, methods=["post"])
    def register(self, request):
        dry_run = dry_run_asked(request)
        data = s.AccessPathRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if dry_run:
            return self._evaluate(data.validated_data)
        path, created = services.path_register_or_update(actor=self.actor, data=data.validated_data)
        return self._respond_or_held(
            path, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        request=s.ClaimInput,
        responses={201: s.ClaimSerializer, **errors(400, 401, 403, 404, 409, 412, 415)},
        parameters=[IF_MATCH],
    )
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        path = self.get_object()
        data = s.ClaimInput(data=request.data)
        data.is_valid(raise_exception=True)
        claim = services.path_claim(
            actor=self.actor,
            path=path,
            expected_version=expected_version(request),
            **data.validated_data,
        )
        return Response(s.ClaimSerializer(claim).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.AttestInput,
        responses={201: s.AttestationSerializer, **errors(400, 401, 403, 404, 409, 412, 415)},
        parameters=[IF_MATCH],
    )
    @action(detail=True, methods=["post"])
    def attest(self, request, pk=None):
        path = self.get_object()
        data = s.AttestInput(data=request.data)
        data.is_valid(raise_exception=True)
        attestation = services.path_attest(
            actor=self.actor,
            path=path,
            expected_version=expected_version(request),
            **data.validated_data,
        )
        return Response(s.AttestationSerializer(attestation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.TransferInput,
        responses={201: s.TransferSerializer, **errors(400, 401, 403, 404, 409, 412, 415)},
        parameters=[IF_MATCH],
    )
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        path = self.get_object()
        data = s.TransferInput(data=request.data)
        data.is_valid(raise_exception=True)
        transfer = services.path_transfer(
            actor=self.actor,
            path=path,
            expected_version=expected_version(request),
            **data.validated_data,
        )
        return Response(s.TransferSerializer(transfer).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.ReasonInput,
        responses={200: s.AccessPathSerializer, **errors(400, 401, 403, 404, 409, 412, 415)},
        parameters=[IF_MATCH],
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        path = self.get_object()
        reason = s.reason_in(request)
        path = services.path_revoke(
            actor=self.actor,
            path=path,
            reason=reason,
            expected_version=expected_version(request),
        )
        return self._respond(path)


class _ListRetrieveViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ScopedViewSet):
    pass


@extend_schema(responses={200: s.TeamSerializer, **errors(401, 404)})
class TeamViewSet(_ListRetrieveViewSet):
    """The team directory, readable by anyone signed in; members only by the team
    itself and security."""

    serializer_class = s.TeamSerializer
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    queryset = Team.objects.none()

    def scoped_queryset(self) -> QuerySet:
        return Team.objects.select_related("parent").order_by("slug")

    def get_serializer_context(self) -> dict:
        contacts = permissions.may_see_team_contacts(self.actor)
        return {**super().get_serializer_context(), "sees_contacts": contacts}

    @extend_schema(responses={200: s.MemberSerializer(many=True), **errors(401, 404)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def members(self, request, slug=None):
        team = self.get_object()
        members = selectors.team_members(actor=self.actor, team=team)
        if members is None:
            raise Http404
        return Response(s.MemberSerializer(members, many=True).data)


@extend_schema(responses={200: s.ExceptionSerializer, **errors(401, 404)})
class ExceptionViewSet(mixins.CreateModelMixin, _ListRetrieveViewSet):
    serializer_class = s.ExceptionSerializer

    queryset = PolicyException.objects.none()

    def scoped_queryset(self) -> QuerySet:
        return selectors.visible_exceptions(actor=self.actor)

    @extend_schema(
        request=s.ExceptionInput,
        responses={201: s.ExceptionSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    def create(self, request):
        data = s.ExceptionInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        path = selectors.path_get(actor=self.actor, path_id=values.pop("path"))
        if path is None:
            raise Http404
        exception = services.exception_request(actor=self.actor, path=path, **values)
        return Response(s.ExceptionSerializer(exception).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.OptionalReasonInput,
        responses={200: s.ExceptionSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        reason = s.reason_in(request, required=False)
        exception = services.exception_approve(
            actor=self.actor, exception=self.get_object(), reason=reason
        )
        return Response(s.ExceptionSerializer(exception).data)

    @extend_schema(
        request=s.ReasonInput,
        responses={200: s.ExceptionSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        reason = s.reason_in(request)
        exception = services.exception_reject(
            actor=self.actor, exception=self.get_object(), reason=reason
        )
        return Response(s.ExceptionSerializer(exception).data)


@extend_schema(responses={200: s.AuditEventSerializer, **errors(401, 404)})
class AuditEventViewSet(_ListRetrieveViewSet):
    serializer_class = s.AuditEventSerializer
    pagination_class = AuditCursorPagination
    lookup_field = "seq"
    lookup_value_regex = "[0-9]+"

    queryset = AuditEvent.objects.none()

    def scoped_queryset(self) -> QuerySet:
        qs = selectors.visible_audit_events(actor=self.actor)
        path = self.request.query_params.get("path")
        if path:
            try:
                qs = qs.filter(path_id=uuid.UUID(path))
            except ValueError as exc:
                raise ValidationError({"path": ["Give an access path id (a UUID)."]}) from exc
        return qs

    @extend_schema(
        request=s.AuditPurgeInput,
        responses={201: s.AuditEventSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @action(detail=True, methods=["post"])
    def purge(self, request, seq=None):
        """Replace one value of this event by "[purged]" (security reviewers): the chain
        still verifies; the answer is the purge event."""
        data = s.AuditPurgeInput(data=request.data)
        data.is_valid(raise_exception=True)
        purge = services.audit_value_purge(
            actor=self.actor, seq=self.get_object().seq, **data.validated_data
        )
        return Response(s.AuditEventSerializer(purge).data, status=status.HTTP_201_CREATED)


@extend_schema(responses={200: s.NotificationSerializer, **errors(401, 404)})
class NotificationViewSet(_ListRetrieveViewSet):
    serializer_class = s.NotificationSerializer
    filterset_class = NotificationFilterSet

    queryset = Notification.objects.none()

    def scoped_queryset(self) -> QuerySet:
        return selectors.visible_notifications(actor=self.actor)


class MeView(APIView):
    """Who the API sees: the person or token, its teams and roles."""

    @extend_schema(responses={200: s.MeSerializer, **errors(401)})
    def get(self, request):
        actor = actor_for(request)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        teams = selectors.actor_teams(actor=actor)
        return Response(
            {
                "kind": "token" if token else "user",
                "username": actor.user.get_username() if actor.user else None,
                "token": (
                    {
                        "name": token.name,
                        "prefix": token.prefix,
                        "scopes": token.scopes,
                        "expires_at": token.expires_at.isoformat(),
                        "team": token.team.slug if token.team else None,
                    }
                    if token
                    else None
                ),
                "teams": [
                    {"slug": t.slug, "kind": t.kind, "role": actor.roles[t.pk]} for t in teams
                ],
                "security_reviewer": actor.is_security_reviewer,
            }
        )


@extend_schema(responses={200: s.ImportRunSerializer, **errors(401, 404)})
class ImportRunViewSet(_ListRetrieveViewSet):
    """Imports of access paths: upload a file (security), then follow the run."""

    serializer_class = s.ImportRunSerializer
    parser_classes = [MultiPartParser, FormParser]
    queryset = ImportRun.objects.none()

    def scoped_queryset(self) -> QuerySet:
        return selectors.visible_import_runs(actor=self.actor)

    @extend_schema(
        request={"multipart/form-data": s.ImportInput},
        responses={202: s.ImportRunSerializer, **errors(400, 401, 403, 415)},
    )
    def create(self, request):
        data = s.ImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        run = services.import_upload(
            actor=self.actor,
            upload=values["file"],
            options=services.ImportOptions.from_input(values),
        )
        return Response(s.ImportRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TriageView(APIView):
    """Who to call about a credential, from one of its names or its fingerprint."""

    permission_classes = [LookupAccess]

    @extend_schema(
        request=s.TriageInput,
        responses={200: s.TriageAnswerSerializer, **errors(400, 401, 403, 415)},
    )
    def post(self, request):
        data = s.TriageInput(data=request.data)
        data.is_valid(raise_exception=True)
        answer = services.triage_lookup(
            actor=actor_for(request),
            value=data.validated_data["value"],
            kind=data.validated_data.get("kind"),
        )
        return Response(answer.data, headers={"Cache-Control": "no-store"})
