"""The API's JSON parser: the standard one, refusing what no field can hold.

A NUL character or an unpaired surrogate anywhere in a JSON body (a value or a key), or
nesting deeper than validation.MAX_INPUT_DEPTH, is a 400 naming the field, before any
serializer, lookup or query sees it (PostgreSQL refuses NUL in text, which would
otherwise surface as a 500 from whichever query met it first).
"""

from __future__ import annotations

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
