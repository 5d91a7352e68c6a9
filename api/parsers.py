"""The API's JSON parser: the standard one, refusing what no field can hold.

A NUL character or an unpaired surrogate anywhere in a JSON body (a value or a key), or
nesting deeper than validation.MAX_INPUT_DEPTH, is a 400 naming the field, before any
serializer, lookup or query sees it (PostgreSQL refuses NUL in text, which would
otherwise surface as a 500 from whichever query met it first).

A body larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB unless set) is a 413,
read no further: DRF reads the request's stream itself, past the check Django makes on
`request.body`. A view that takes larger batches says how large (`max_body_bytes`, the
leases' endpoint), for itself alone.
"""

from __future__ import annotations

import io

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from registry.rules.validation import MAX_INPUT_DEPTH, unsafe_input_errors

BODY_TOO_LARGE = "The request body is larger than {limit} bytes, the most this endpoint takes."


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"


def body_limit(parser_context: dict | None) -> int | None:
    """The most bytes a JSON body may have here (None: no limit)."""
    view = (parser_context or {}).get("view")
    limit = getattr(view, "max_body_bytes", None)
    return limit if limit is not None else settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _bounded(stream, parser_context: dict | None):
    limit = body_limit(parser_context)
    if limit is None or stream is None:
        return stream
    request = (parser_context or {}).get("request")
    meta = getattr(request, "META", {})
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise RequestTooLarge(BODY_TOO_LARGE.format(limit=limit))
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise RequestTooLarge(BODY_TOO_LARGE.format(limit=limit))
    return io.BytesIO(body)


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        stream = _bounded(stream, parser_context)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:  # the decoder's own limit, far deeper than ours
            raise exceptions.ValidationError(
                {"non_field_errors": [f"Nested deeper than {MAX_INPUT_DEPTH} levels."]}
            ) from exc
        if errors := unsafe_input_errors(data):
            raise exceptions.ValidationError(errors)
        return data
