"""Teach drf-spectacular about the registry's bearer tokens."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An NHI Registry API token (nhir_…), team or personal.",
        }


def every_operation_may_refuse_input(result, generator, request, public):
    """A postprocessing hook: any operation can answer 400 (a query parameter holding a
    NUL character or too much text is refused before the view: UnsafeInputMiddleware)
    and 503 (the database or the disk is failing: ServiceUnavailableMiddleware, with
    Retry-After), so every operation documents both, in the one error shape."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    refusal = {"content": error, "description": "Invalid input (the field is named in `errors`)."}
    unavailable = {
        "content": error,
        "description": "The registry cannot reach its database or disk right now; nothing "
        "was changed. Retry after the `Retry-After` header's seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("400", refusal)
                operation["responses"].setdefault("503", unavailable)
    return result
