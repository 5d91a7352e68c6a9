from rest_framework.pagination import CursorPagination


class RegistryCursorPagination(CursorPagination):
    """Cursor pages: constant cost at any depth and no COUNT of the table."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering: tuple[str, ...] = ("-created_at", "-id")


class PathCursorPagination(RegistryCursorPagination):
    ordering = ("created_at", "id")  # the (created_at, id) index


class AuditCursorPagination(RegistryCursorPagination):
    ordering = ("-seq",)
