"""Policy at request time in the API: the dry run's query parameter, the one check of a
write's query parameters, and the posture rules' catalog (docs/policy-at-request-time.md)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from api import policy_serializers as ps
from api.exceptions import errors
from registry.rules import errors as dj_errors
from registry.rules.policies import current_policy
from registry.selectors.filters import unknown_parameters
from registry.selectors.violations import rule_catalog

DRY_RUN_PARAMETER = "dry_run"
DRY_RUN = OpenApiParameter(
    DRY_RUN_PARAMETER,
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    required=False,
    description="true: answer what POST /api/v1/access-paths/evaluate/ answers (200, the "
    "verdict) and save nothing.",
)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def refuse_query_parameters(request, *, accepted: tuple[str, ...]) -> None:
    """A write takes no query parameter but `accepted` (and the format override): any
    other is a 400 naming it, by the lists' one rule (selectors/filters.py), so a
    misspelt `?dry_rn=true` cannot save what was meant as a dry run."""
    steering = {api_settings.URL_FORMAT_OVERRIDE} - {None}
    unknown = unknown_parameters(request.query_params, filters=accepted, steering=steering)
    if unknown:
        raise ValidationError(unknown)


def dry_run_asked(request) -> bool:
    refuse_query_parameters(request, accepted=(DRY_RUN_PARAMETER,))
    raw = request.query_params.get(DRY_RUN_PARAMETER, "false").strip().lower()
    if raw not in _TRUE + _FALSE:
        raise ValidationError({DRY_RUN_PARAMETER: [dj_errors.DRY_RUN_INVALID]})
    return raw in _TRUE


class PostureRulesView(APIView):
    """The posture rules: each with its OWASP NHI, NIST CSF 2.0 and AI RMF ids, its fix
    and its enforcement level in this deployment's policy (NHI_POLICY)."""

    @extend_schema(responses={200: ps.RuleSerializer(many=True), **errors(400, 401, 403)})
    def get(self, request):
        refuse_query_parameters(request, accepted=())
        return Response(rule_catalog(current_policy()))
