from rest_framework.exceptions import NotAuthenticated

from registry.models import ApiToken
from registry.rules.actors import Actor
from registry.services.tokens import actor_for_token


def actor_for(request) -> Actor:
    """Who is acting on this request (cached on it)."""
    actor = getattr(request, "_registry_actor", None)
    if actor is None:
        if isinstance(request.auth, ApiToken):
            actor = actor_for_token(request.auth)
        elif request.user and request.user.is_authenticated:
            actor = Actor.for_user(request.user)
        else:
            raise NotAuthenticated()
        request._registry_actor = actor
    return actor
