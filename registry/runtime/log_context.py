"""What every log line says about where it came from: the request id, who was acting,
the access path concerned, and in a worker the Celery task's id and name.

`LogContextFilter` (on every handler: Django's LOGGING, gunicorn's error log, Celery's
handlers) copies them onto each record from context variables, so a line written
anywhere (a library, a service, Django's own "Internal Server Error") carries them
without being handed them. The JSON formatter then writes them as fields.

- request id: `runtime.request_id` (bound per request by the web middleware, per
  command run or task by `request_context`);
- actor: a label, never a credential: the signed-in person's user name, or
  `api-token <id> (<name>)` for an API token (not its prefix: part of the secret's shape,
  the redaction may well blank it). Read from the request being served
  (`runtime.current_request`) only once the request has resolved it, so logging never
  costs a session or token query of its own;
- path id: bound by the web middleware when the URL names a path, or by code that
  works on one (`bind_path_id`);
- task id and name: bound by the worker around each task (workers/logging_setup.py).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest
from django.utils.functional import empty

from registry.runtime.current_request import current_request
from registry.runtime.request_id import current_request_id

_path_id: contextvars.ContextVar[str] = contextvars.ContextVar("log_path_id", default="")
_task_id: contextvars.ContextVar[str] = contextvars.ContextVar("log_task_id", default="")
_task_name: contextvars.ContextVar[str] = contextvars.ContextVar("log_task_name", default="")

CONTEXT_FIELDS = ("request_id", "actor", "path_id", "task_id", "task")


@contextmanager
def bind_path_id(path_id: object) -> Iterator[None]:
    """Lines logged inside name this access path."""
    token = _path_id.set(str(path_id) if path_id else "")
    try:
        yield
    finally:
        _path_id.reset(token)


def set_path_id(path_id: object) -> contextvars.Token[str]:
    """For a caller that cannot wrap a block (a middleware's process_view): undo with
    `reset_path_id(token)`."""
    return _path_id.set(str(path_id) if path_id else "")


def reset_path_id(token: contextvars.Token[str]) -> None:
    _path_id.reset(token)


def bind_task(task_id: str, task_name: str) -> tuple[contextvars.Token[str], ...]:
    return (_task_id.set(task_id or ""), _task_name.set(task_name or ""))


def unbind_task(tokens: tuple[contextvars.Token[str], ...]) -> None:
    task_id_token, task_name_token = tokens
    _task_id.reset(task_id_token)
    _task_name.reset(task_name_token)


def _resolved_user(request: Any) -> Any:
    """The request's user if something has already loaded it, else None: Django's
    `request.user` is lazy, and evaluating it here would query the session store."""
    user = vars(request).get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)  # a SimpleLazyObject's value, once evaluated
    return None if wrapped is empty else wrapped


# URL keyword arguments that name an access path: the pages' `path_id`, and `pk` on the
# API's access-paths routes (their route names start with "access-path-").
PAGE_PATH_KWARG = "path_id"
API_PATH_ROUTE = "access-path-"


def path_id_of(request: Any) -> str:
    """The access path the request's URL names, once it is resolved ("" if none)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    kwargs = match.kwargs or {}
    if PAGE_PATH_KWARG in kwargs:
        return str(kwargs[PAGE_PATH_KWARG])
    if (match.url_name or "").startswith(API_PATH_ROUTE) and "pk" in kwargs:
        return str(kwargs["pk"])
    return ""


def actor_label(request: Any) -> str:
    if request is None:
        return ""
    # DRF copies the authenticated token onto the underlying request (`request.auth`).
    token = vars(request).get("auth")
    if token is not None and hasattr(token, "prefix"):
        return f"api-token {token.pk} ({token.name})"
    user = _resolved_user(request)
    if user is not None and getattr(user, "is_authenticated", False):
        return str(user.get_username())
    return ""


class LogContextFilter(logging.Filter):
    """Adds request_id, actor, path_id, task_id and task to every record (a value the
    record already carries, passed as `extra`, wins).

    Django logs a 4xx or 5xx answer ("Not Found: …") after every middleware has
    returned, when the context variables are unbound again; such records carry the
    request itself (`extra={"request": …}`), which then answers instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        carried = getattr(record, "request", None)
        request = carried if isinstance(carried, HttpRequest) else current_request()
        values = {
            "request_id": current_request_id() or getattr(request, "request_id", ""),
            "actor": actor_label(request),
            "path_id": _path_id.get() or (path_id_of(request) if request is not None else ""),
            "task_id": _task_id.get(),
            "task": _task_name.get(),
        }
        for name, value in values.items():
            if not getattr(record, name, ""):
                setattr(record, name, value)
        return True


def add_context_filter(handler: logging.Handler) -> None:
    """Idempotent."""
    if not any(isinstance(f, LogContextFilter) for f in handler.filters):
        handler.addFilter(LogContextFilter())
