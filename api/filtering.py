"""The API's filter backend: the shared FilterSet, told which query parameters steer a
list rather than filter it, so any other unknown parameter is a 400 naming it
(selectors/filters.unknown_parameters) instead of an ignored filter."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.settings import api_settings


def steering_parameters(view) -> set[str]:
    """The parameters the view's own machinery reads: its pagination's cursor and page
    size, each filter backend's (ordering, search) and the format override. Read from
    the classes configured, so a renamed or added one cannot drift from this list."""
    keys: set[str] = set()
    if api_settings.URL_FORMAT_OVERRIDE:
        keys.add(api_settings.URL_FORMAT_OVERRIDE)
    pagination = getattr(view, "pagination_class", None)
    for attribute in ("cursor_query_param", "page_size_query_param", "page_query_param"):
        if (key := getattr(pagination, attribute, None)) is not None:
            keys.add(key)
    for backend in getattr(view, "filter_backends", ()):
        for attribute in ("ordering_param", "search_param"):
            if (key := getattr(backend, attribute, None)) is not None:
                keys.add(key)
    return keys


class KnownFiltersBackend(DjangoFilterBackend):
    def get_filterset_kwargs(self, request, queryset, view) -> dict:
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        kwargs["steering"] = steering_parameters(view)
        return kwargs
