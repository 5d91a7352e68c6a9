"""The API's JSON parser: the standard one, refusing what no field can hold.

A NUL character or an unpaired surrogate anywhere in a JSON body (a value or a key), or
nesting deeper than validation.MAX_INPUT_DEPTH, is a 400 naming the field, before any
serializer, lookup or query sees it (PostgreSQL refuses NUL in text, which would
otherwise surface as a 500 from whichever query met it first).

A body past Django's DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 (api/exceptions.py); a view
that takes larger batches reads its body itself, to its own limit (`read_body`).
"""

from __future__ import annotations

import io

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from registry.rules.validation import MAX_INPUT_DEPTH, unsafe_input_errors


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:  # the decoder's own limit, far deeper than ours
            raise exceptions.ValidationError(
                {"non_field_errors": [f"Nested deeper than {MAX_INPUT_DEPTH} levels."]}
            ) from exc
        if errors := unsafe_input_errors(data):
            raise exceptions.ValidationError(errors)
        return data


# --- bodies larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE ---------------------------

BODY_TOO_LARGE = "The request body is larger than {limit} bytes, the most this endpoint takes."


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"


def read_body(request, limit: int) -> None:
    """Read the body of a request to a view that takes more than Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB unless set), up to `limit` bytes: a 413 past it.
    Raising the setting instead would raise it for every endpoint. Call it before
    `request.data`: the JSON parser reads the body Django keeps, which is this one."""
    django_request = request._request
    if hasattr(django_request, "_body"):
        return
    try:
        declared = int(django_request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise RequestTooLarge(BODY_TOO_LARGE.format(limit=limit))
    body = django_request.read(limit + 1)
    if len(body) > limit:
        raise RequestTooLarge(BODY_TOO_LARGE.format(limit=limit))
    # What HttpRequest.body does once it has read, without its global limit.
    django_request._body = body
    django_request._stream = io.BytesIO(body)
