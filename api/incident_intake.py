"""Alert intakes: GitHub's secret-scanning webhook (the signature is its authentication)
and the generic JSON form for other scanners (an API token with the write scope). Both
open or update the incident through `incident_from_alert`."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import RegistryAccess
from api.views import errors as documented_errors
from registry import services
from registry.models import ApiToken
from registry.rules import errors
from registry.rules.actors import Actor, actor_for
from registry.rules.errors import ServiceError
from registry.runtime.current_request import source_address
from registry.runtime.rate_limits import caller_for, spend
from registry.services.incident_intake import (
    GITHUB_EVENT,
    MAX_BODY_BYTES,
    generic_alert,
    github_alert,
    github_signature_ok,
)
from registry.services.security import anonymous_actor, security_action_refused

TOKEN_ONLY = "The intake is for scanners: authenticate with an API token (write scope)."  # noqa: S105
OPERATION = "incident-github-webhook"


def _error(code: int, detail: str, **extra) -> JsonResponse:
    """The API's one error shape (api/exceptions.py)."""
    names = {
        400: "invalid", 401: "not_authenticated", 413: "too_large", 429: "throttled",
        503: "unavailable",
    }  # fmt: skip
    return JsonResponse({"detail": detail, "code": names.get(code, "error"), **extra}, status=code)


def _refused_signature(request: HttpRequest, delivery: str) -> JsonResponse:
    """A delivery that is not GitHub's (or a misconfigured secret): a security event,
    within the sender's anonymous request budget (this plain view is not throttled by
    DRF, and a flood of forgeries must not flood the audit trail)."""
    if spend(caller_for(request)) is not None:
        return _error(429, "Too many requests: wait a moment and try again.")
    security_action_refused(
        actor=anonymous_actor(),
        operation=OPERATION,
        request_line=f"{request.method} {request.path}",
        target=None,
        target_ref=f"delivery:{delivery[:100]}" if delivery else "",
        reason=errors.WEBHOOK_BAD_SIGNATURE,
        status=401,
        source_address=source_address(request),
        now=timezone.now(),
    )
    return _error(401, errors.WEBHOOK_BAD_SIGNATURE)


@csrf_exempt
@require_POST
def github_webhook(request: HttpRequest) -> JsonResponse:
    """POST /api/v1/incidents/github/ — GitHub's `secret_scanning_alert` events."""
    secret = settings.NHI_GITHUB_WEBHOOK_SECRET
    if not secret:
        return _error(503, errors.WEBHOOK_SECRET_MISSING)
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return _error(413, errors.WEBHOOK_TOO_LARGE.format(limit=MAX_BODY_BYTES))
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, errors.WEBHOOK_TOO_LARGE.format(limit=MAX_BODY_BYTES))
    delivery = request.headers.get("X-GitHub-Delivery", "")
    signature = request.headers.get("X-Hub-Signature-256", "")
    if not github_signature_ok(secret=secret, body=body, header=signature):
        return _refused_signature(request, delivery)
    event = request.headers.get("X-GitHub-Event", "")
    if event == "ping":
        return JsonResponse({"detail": "pong"}, status=200)
    if event != GITHUB_EVENT:
        return JsonResponse(
            {"detail": f"Ignored: only {GITHUB_EVENT} events are read."}, status=202
        )
    try:
        payload = json.loads(body)
        alert = github_alert(payload)
        repo = payload["repository"]["full_name"]
        incident, created = services.incident_from_alert(
            actor=Actor.system(f"github secret scanning ({repo})"[:200]), alert=alert
        )
    except ValueError:
        return _error(400, errors.WEBHOOK_BAD_PAYLOAD.format(why="not JSON"))
    except errors.Invalid as exc:
        return _error(400, exc.message, errors=exc.errors)
    except ServiceError as exc:
        return _error(exc.http_status, exc.message)
    return JsonResponse(
        {"incident": incident.pk, "created": created, "matched": incident.path_id is not None},
        status=201 if created else 200,
    )


class TokenWithWriteScope(RegistryAccess):
    """A scanner's API token (integration or personal) with the write scope."""

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiToken):
            self.message = TOKEN_ONLY
            return False
        return super().has_permission(request, view)


class IntakeAnswer(serializers.Serializer):
    incident = serializers.IntegerField()
    created = serializers.BooleanField()
    matched = serializers.BooleanField()


class GenericIntakeView(APIView):
    """POST /api/v1/incidents/intake/ — an alert from any scanner (docs/API.md)."""

    permission_classes: list[type[BasePermission]] = [TokenWithWriteScope]

    @extend_schema(
        request={"application/json": dict},
        responses={
            201: IntakeAnswer,
            200: OpenApiResponse(IntakeAnswer, description="The alert's incident, updated."),
            **documented_errors(400, 401, 403, 415),
        },
        description="Open (201) or update (200) the incident of a scanner's alert. Fields: "
        "source, alert_id, fingerprint | identifier (+ kind), detected_at, url, "
        "secret_type, location, summary, action, detection. Never the credential.",
    )
    def post(self, request):
        alert = generic_alert(request.data)
        incident, created = services.incident_from_alert(actor=actor_for(request), alert=alert)
        answer = {
            "incident": incident.pk,
            "created": created,
            "matched": incident.path_id is not None,
        }
        return Response(answer, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
