"""The policy's answers in the API (rules/enforcement.py): a violation, a verdict, the
422 refusal, the rule catalog, and a path with the rules it breaks (detail, list row, a
registration's or an edit's answer)."""

from __future__ import annotations

from rest_framework import serializers

from api.serializers import AccessPathSerializer
from registry.models import AccessPath
from registry.rules.enforcement import ALLOWED, NEEDS_APPROVAL, REFUSED, finding_json
from registry.rules.policies import ENFORCEMENT_LEVELS


class FindingSerializer(serializers.Serializer):
    """One broken posture rule as rules/enforcement.finding_json writes it (the one
    shape of a violation in the API, the exports and the evidence pack)."""

    rule = serializers.CharField()
    title = serializers.CharField()
    owasp_nhi = serializers.CharField(allow_null=True, help_text="OWASP NHI Top 10 id.")
    nist_csf = serializers.ListField(child=serializers.CharField(), help_text="NIST CSF 2.0.")
    nist_ai_rmf = serializers.ListField(
        child=serializers.CharField(), help_text="NIST AI RMF 1.0 subcategories."
    )
    explanation = serializers.CharField()
    fix = serializers.CharField()
    enforcement = serializers.ChoiceField(
        choices=ENFORCEMENT_LEVELS, help_text="The rule's level in the policy (NHI_POLICY)."
    )
    waived = serializers.BooleanField(help_text="An approved, unexpired exception covers it.")
    blocks = serializers.ChoiceField(
        choices=[NEEDS_APPROVAL, REFUSED],
        allow_null=True,
        help_text="What it makes of the request: refused, needs_approval, or null (it does "
        "not hold the request up: informational, waived, or broken before the change).",
    )


OUTCOMES = [ALLOWED, NEEDS_APPROVAL, REFUSED]


class VerdictSerializer(serializers.Serializer):
    """The evaluate endpoint's answer (and a register's dry run)."""

    verdict = serializers.ChoiceField(choices=OUTCOMES)
    violations = FindingSerializer(many=True)


class PolicyRefusalSerializer(serializers.Serializer):
    """422: the policy refuses the registration or edit; nothing was saved."""

    detail = serializers.CharField()
    code = serializers.CharField(help_text="policy_refused")
    verdict = serializers.ChoiceField(choices=[REFUSED])
    violations = FindingSerializer(many=True)


class RuleSerializer(serializers.Serializer):
    """A posture rule in the catalog (GET /api/v1/posture-rules/)."""

    rule = serializers.CharField()
    title = serializers.CharField()
    owasp_nhi = serializers.CharField(allow_null=True)
    nist_csf = serializers.ListField(child=serializers.CharField())
    nist_ai_rmf = serializers.ListField(child=serializers.CharField())
    framework_ids = serializers.ListField(
        child=serializers.CharField(), help_text="Every id above, for the `framework` filter."
    )
    explanation = serializers.CharField()
    fix = serializers.CharField()
    enforcement = serializers.ChoiceField(choices=ENFORCEMENT_LEVELS)


class ViolationRowSerializer(serializers.Serializer):
    """A broken rule in a list row: its code and framework ids (no waived ones)."""

    rule = serializers.CharField()
    framework_ids = serializers.ListField(child=serializers.CharField())


class AccessPathRowSerializer(AccessPathSerializer):
    """A path in the list (schema only: api/path_rows.py writes the rows)."""

    violations = ViolationRowSerializer(
        many=True,
        read_only=True,
        help_text="The posture rules it breaks and no exception waives, with their framework ids.",
    )

    class Meta(AccessPathSerializer.Meta):
        fields = [*AccessPathSerializer.Meta.fields, "violations"]
        read_only_fields = fields


class AccessPathDetailSerializer(AccessPathSerializer):
    """A path with every posture rule it breaks, waived ones included (marked).
    context["verdict"]: its rules/enforcement.Verdict."""

    violations = FindingSerializer(many=True, read_only=True)

    class Meta(AccessPathSerializer.Meta):
        fields = [*AccessPathSerializer.Meta.fields, "violations"]
        read_only_fields = fields

    def to_representation(self, path: AccessPath) -> dict:
        data = super().to_representation(path)
        data["violations"] = [finding_json(f) for f in self.context["verdict"].findings]
        return data


class ExceptionToRequestSerializer(serializers.Serializer):
    path = serializers.UUIDField()
    rule = serializers.CharField()


class AccessPathVerdictSerializer(AccessPathDetailSerializer):
    """A registration's or an edit's answer: the path, the policy's verdict on the
    change and, when it needs approval, the exceptions to request (POST
    /api/v1/exceptions/ with a reason and an end date)."""

    verdict = serializers.ChoiceField(choices=[ALLOWED, NEEDS_APPROVAL], read_only=True)
    exceptions_to_request = ExceptionToRequestSerializer(many=True, read_only=True)

    class Meta(AccessPathDetailSerializer.Meta):
        fields = [*AccessPathDetailSerializer.Meta.fields, "verdict", "exceptions_to_request"]
        read_only_fields = fields

    def to_representation(self, path: AccessPath) -> dict:
        data = super().to_representation(path)
        verdict = self.context["verdict"]
        data["verdict"] = verdict.outcome
        data["exceptions_to_request"] = [
            {"path": str(path.pk), "rule": finding.rule.code}
            for finding in verdict.findings
            if finding.blocks == NEEDS_APPROVAL
        ]
        return data
