"""SCIM 2.0 (RFC 7643/7644) at /scim/v2/: the identity provider's provisioning API.

Plain Django views (SCIM has its own media type, error format and auth token, none of
which the REST API's DRF stack would share); every change goes through
registry.services.scim, every read through registry.selectors.scim."""
