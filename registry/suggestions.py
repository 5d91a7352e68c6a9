"""Owner suggestions for unowned paths, from configurable rules (NHI_OWNER_RULES).

A rule names a team and one or more conditions, all of which must hold; the first
matching rule wins. Conditions are shell-style patterns (fnmatch, case-insensitive):

- `name_prefix`: the path's name starts with it (a plain prefix, not a pattern);
- `namespace`, `repository`, `project`, `owner`, `app`: the source's hint of that name
  (Kubernetes namespace, GitHub repository or owner, GCP project, Entra app...);
- `created_by`: the path's `created_by_ref` (pipeline, job or agent id);
- `steward`: the steward team's slug.

The suggestion is shown on the path and preselects the team in the claim form; a person
of that team confirms it by claiming, and security approves the claim as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from django.conf import settings

HINTS = ("namespace", "repository", "project", "owner", "app")
CONDITIONS = ("name_prefix", "created_by", "steward", *HINTS)


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
    """The configured rules; a malformed one is a configuration error, said at once."""
    raw = settings.NHI_OWNER_RULES if raw is None else raw
    if not isinstance(raw, list):
        raise ValueError("NHI_OWNER_RULES must be a JSON list of rules.")
    rules = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("team"), str):
            raise ValueError(f"NHI_OWNER_RULES rule {index} needs a 'team' slug.")
        conditions = {k: v for k, v in item.items() if k != "team"}
        unknown = sorted(set(conditions) - set(CONDITIONS))
        if unknown or not conditions or not all(isinstance(v, str) for v in conditions.values()):
            raise ValueError(
                f"NHI_OWNER_RULES rule {index}: conditions are {', '.join(CONDITIONS)} "
                f"with string patterns (got {', '.join(unknown) or 'none'})."
            )
        rules.append(OwnerRule(item["team"], conditions))
    return rules


def facts_for(*, name: str, created_by: str, steward: str, hints: Mapping[str, str]) -> dict:
    facts = {"name_prefix": name, "created_by": created_by, "steward": steward}
    facts.update({key: str(hints.get(key, "")) for key in HINTS})
    return facts


def suggest(rules: list[OwnerRule], facts: Mapping[str, str]) -> tuple[str, str] | None:
    """(team slug, reason) of the first rule that matches, or None."""
    for rule in rules:
        if (reason := rule.matches(facts)) is not None:
            return rule.team, reason
    return None
