"""The path page's authority card (templates/registry/_path_authority.html): approval,
revokers, control points, resolved by registry.rules.control_points (at most three queries
for the page)."""

from __future__ import annotations

from dataclasses import dataclass

from django import template

from registry.models import AccessPath
from registry.rules.control_points import HIGH_RISK, LABELS, Authority, Owner, authority_of

register = template.Library()


@dataclass(frozen=True)
class AuthorityCard:
    authority: Authority
    high_risk: bool

    def __getattr__(self, name: str):
        return getattr(self.authority, name)

    @property
    def labelled_owners(self) -> list[tuple[str, Owner]]:
        return [(LABELS[point], owner) for point, owner in self.authority.owners.items()]


@register.simple_tag
def path_authority(path: AccessPath) -> AuthorityCard:
    return AuthorityCard(authority_of(path), path.risk_tier in HIGH_RISK)
