"""Owner suggestions for unowned paths, from configurable rules (NHI_OWNER_RULES).

A rule names a team and one or more conditions, all of which must hold; the first
matching rule wins. Conditions are shell-style patterns (fnmatch, case-insensitive):

- `name_prefix`: the path's name starts with it (a plain prefix, not a pattern);
- `name`: the path's name (a pattern);
- `created_by`: the path's `created_by_ref` (pipeline, job or agent id);
- `steward`: the steward team's slug;
- every hint a reader gives (`HINTS`, documented in each reader): `namespace`,
  `managed_by`, `helm_release`, `app` (Kubernetes); `account`, `iam_path` (AWS, e.g.
  "/payments/*"), `inactive_keys` (AWS access keys: how many); `project`,
  `service_account` (GCP); `owner`, `repository_selection`,
  `token_id` (GitHub); `app`, `app_id` (Entra); `repository` for sources that state one.

A path whose source gave no such hint never matches a rule on it.

The suggestion is shown on the path and preselects the team in the claim form; a person
of that team confirms it by claiming, and security approves the claim as usual.

A malformed rule is a configuration error, said at once and never as a traceback:
`load_rules` raises `OwnerRulesError` naming the rule and the problem; the system check
`registry.E001` says it at start-up, `import_paths` as a command error, an upload or the
API as "unavailable".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from django.conf import settings

HINTS = (
    "namespace", "managed_by", "helm_release", "app", "app_id", "account", "iam_path",
    "inactive_keys", "project", "service_account", "owner", "repository",
    "repository_selection", "token_id",
)  # fmt: skip
CONDITIONS = ("name_prefix", "name", "created_by", "steward", *HINTS)

RULES_NOT_A_LIST = "NHI_OWNER_RULES must be a JSON list of rules, not {type}."
RULE_NOT_AN_OBJECT = (
    'NHI_OWNER_RULES rule {index}: must be a JSON object such as {{"team": "payments", '
    '"namespace": "payments-*"}}, not {type}.'
)
RULE_NO_TEAM = 'NHI_OWNER_RULES rule {index}: needs a "team" (a team\'s slug).'
RULE_NO_CONDITION = (
    "NHI_OWNER_RULES rule {index} (team {team}): needs at least one condition, one of: "
    "{conditions}."
)
RULE_UNKNOWN_CONDITION = (
    "NHI_OWNER_RULES rule {index} (team {team}): unknown condition(s) {unknown}; the "
    "conditions are: {conditions}."
)
RULE_BAD_PATTERN = (
    "NHI_OWNER_RULES rule {index} (team {team}): {condition} must be a non-empty string "
    "pattern, not {value}."
)


class OwnerRulesError(ValueError):
    """NHI_OWNER_RULES is malformed; the message names the rule and what is wrong."""


@dataclass(frozen=True)
class OwnerRule:
    team: str
    conditions: Mapping[str, str]

    def matches(self, facts: Mapping[str, str]) -> str | None:
        """Why this rule matches `facts` (in words), or None."""
        reasons = []
        for key, pattern in self.conditions.items():
            value = (facts.get(key) or "").lower()
            if not value:
                return None
            if key == "name_prefix":
                if not value.startswith(pattern.lower()):
                    return None
            elif not fnmatchcase(value, pattern.lower()):
                return None
            reasons.append(f"{key.replace('_', ' ')} {pattern}")
        return "matches " + " and ".join(reasons)


def load_rules(raw: Any = None) -> list[OwnerRule]:
    """The configured rules; a malformed one raises OwnerRulesError saying which."""
    raw = settings.NHI_OWNER_RULES if raw is None else raw
    if not isinstance(raw, list):
        raise OwnerRulesError(RULES_NOT_A_LIST.format(type=_json_type(raw)))
    rules = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise OwnerRulesError(RULE_NOT_AN_OBJECT.format(index=index, type=_json_type(item)))
        team = item.get("team")
        if not isinstance(team, str) or not team.strip():
            raise OwnerRulesError(RULE_NO_TEAM.format(index=index))
        conditions = {k: v for k, v in item.items() if k != "team"}
        where = {"index": index, "team": team, "conditions": ", ".join(CONDITIONS)}
        if not conditions:
            raise OwnerRulesError(RULE_NO_CONDITION.format(**where))
        unknown = [key for key in conditions if key not in CONDITIONS]
        if unknown:
            raise OwnerRulesError(
                RULE_UNKNOWN_CONDITION.format(unknown=", ".join(unknown), **where)
            )
        for condition, pattern in conditions.items():
            if not isinstance(pattern, str) or not pattern.strip():
                raise OwnerRulesError(
                    RULE_BAD_PATTERN.format(
                        condition=condition, value=_json_type(pattern, show=True), **where
                    )
                )
        rules.append(OwnerRule(team.strip(), conditions))
    return rules


def _json_type(value: Any, *, show: bool = False) -> str:
    """What a JSON value is, in words (`show`: with the value, when it is short)."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    name = "null" if value is None else names.get(type(value), "a number")
    if show and not isinstance(value, dict | list) and value is not None:
        return f"{name} ({value!r})" if len(repr(value)) <= 40 else name
    return name


def check_owner_rules(app_configs=None, **kwargs) -> list:
    """A malformed NHI_OWNER_RULES would make every import fail: say so at start-up."""
    from django.core import checks

    try:
        load_rules()
    except OwnerRulesError as exc:
        return [
            checks.Error(
                str(exc),
                hint="Fix NHI_OWNER_RULES (see README, Owner suggestions), or unset it.",
                id="registry.E001",
            )
        ]
    return []


def facts_for(*, name: str, created_by: str, steward: str, hints: Mapping[str, str]) -> dict:
    facts = {"name_prefix": name, "name": name, "created_by": created_by, "steward": steward}
    facts.update({key: str(hints.get(key, "")) for key in HINTS})
    return facts


def suggest(rules: list[OwnerRule], facts: Mapping[str, str]) -> tuple[str, str] | None:
    """(team slug, reason) of the first rule that matches, or None."""
    for rule in rules:
        if (reason := rule.matches(facts)) is not None:
            return rule.team, reason
    return None
