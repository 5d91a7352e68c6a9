"""Settings for people and pipelines from the identity provider (issue 17): OIDC sign-in,
CI OIDC tokens and SCIM provisioning, read from the environment. config/settings.py
imports them and applies the few that change other settings (backends, API
authentication, apps). docs/identity.md and docs/scim.md explain each."""

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_json, env_list, env_str

# People sign in through an OpenID provider when NHI_OIDC_ISSUER is set (discovery is
# read from <issuer>/.well-known/openid-configuration). Authorization code flow with
# PKCE (S256), a nonce and the ID token's signature, issuer, audience and expiry checked
# by registry/web/oidc.py. NHI_LOCAL_PASSWORDS=0 turns local passwords off: the sign-in
# page then offers only the provider, and the admin's password form refuses too.
NHI_OIDC_ISSUER = env_str("NHI_OIDC_ISSUER").rstrip("/")
NHI_OIDC_PROVIDER_NAME = env_str("NHI_OIDC_PROVIDER_NAME", "your identity provider")
NHI_LOCAL_PASSWORDS = env_bool("NHI_LOCAL_PASSWORDS", True)
# The claim holding the person's groups (a dotted path reads nested claims, e.g.
# Keycloak's "realm_access.roles"), and the rules mapping them to teams: a JSON object
# {"<group>": ["<team slug>", "member"|"lead"], ...}. A person whose groups map to no
# team any more loses the memberships the provider manages (registry/services/identity_sync.py).
NHI_OIDC_GROUPS_CLAIM = env_str("NHI_OIDC_GROUPS_CLAIM", "groups")
NHI_OIDC_GROUP_RULES = env_json("NHI_OIDC_GROUP_RULES", {})
# The claim a new account's user name comes from (then "email", then "sub").
NHI_OIDC_USERNAME_CLAIM = env_str("NHI_OIDC_USERNAME_CLAIM", "preferred_username")
# Deadline, in seconds, of every request to an issuer (discovery, keys, token, userinfo).
NHI_OIDC_HTTP_TIMEOUT = env_int("NHI_OIDC_HTTP_TIMEOUT", 5)
# mozilla-django-oidc's own settings, derived from the ones above.
OIDC_RP_CLIENT_ID = env_str("NHI_OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("NHI_OIDC_CLIENT_SECRET")
OIDC_RP_SCOPES = env_str("NHI_OIDC_SCOPES", "openid email profile")
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TIMEOUT = NHI_OIDC_HTTP_TIMEOUT
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc-callback"
LOGIN_REDIRECT_URL_FAILURE = "login"
if not NHI_LOCAL_PASSWORDS and not NHI_OIDC_ISSUER:
    raise ImproperlyConfigured("NHI_LOCAL_PASSWORDS=0 needs NHI_OIDC_ISSUER: nobody could sign in.")
# Pipelines authenticate to the API with their CI platform's OIDC token when its issuer
# is listed here (comma separated, e.g. https://token.actions.githubusercontent.com,
# https://gitlab.com) and a CI trust rule of a team matches its claims
# (registry/services/ci_trust.py). The token must be minted for NHI_CI_OIDC_AUDIENCE.
NHI_CI_OIDC_ISSUERS = [issuer.rstrip("/") for issuer in env_list("NHI_CI_OIDC_ISSUERS")]
NHI_CI_OIDC_AUDIENCE = env_str("NHI_CI_OIDC_AUDIENCE", "nhi-registry")

# SCIM 2.0 provisioning at /scim/v2/ (scim/, docs/scim.md). Off by default: every SCIM
# URL answers 404 until NHI_SCIM_ENABLED is on. NHI_SCIM_GROUP_TEAMS maps an identity
# provider's group name to a team slug ({"nhi-payments": "payments"}); other teams are
# the groups named as the teams are. NHI_SCIM_MAX_RESULTS caps a list page (count).
NHI_SCIM_ENABLED = env_bool("NHI_SCIM_ENABLED", False)
NHI_SCIM_GROUP_TEAMS = env_json("NHI_SCIM_GROUP_TEAMS", {})
if not isinstance(NHI_SCIM_GROUP_TEAMS, dict) or not all(
    isinstance(k, str) and isinstance(v, str) for k, v in NHI_SCIM_GROUP_TEAMS.items()
):
    raise ImproperlyConfigured(
        'NHI_SCIM_GROUP_TEAMS must be a JSON object of group names to team slugs: {"g": "slug"}.'
    )
NHI_SCIM_MAX_RESULTS = env_int("NHI_SCIM_MAX_RESULTS", 200)
