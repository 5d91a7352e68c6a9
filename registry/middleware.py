import re

from registry.context import request_context

# Accept a caller's id (for correlating with a proxy or pipeline log) only when it is
# short and plain, so nobody can inject text into the audit log through a header.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        with request_context(supplied if _SAFE_REQUEST_ID.match(supplied) else None) as rid:
            request.request_id = rid
            response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response
