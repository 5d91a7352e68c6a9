"""Every log line names its request, its actor, its path and its task (issue 14), as JSON
fields, and stays redacted (registry/runtime/log_context.py, log_redaction.py)."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid

import pytest
from celery.signals import task_postrun, task_prerun
from django.test import Client

from registry.rules import token_format
from registry.runtime.log_context import LogContextFilter, bind_path_id
from registry.runtime.log_redaction import REDACTED, RedactingJsonFormatter
from registry.runtime.request_id import request_context
from tests.api.helpers import bearer, issue
from workers import logging_setup

# The worker's receivers bind the task (connected by importing the module).
assert logging_setup.bind_task_context

pytestmark = pytest.mark.django_db


def json_line(record: logging.LogRecord) -> dict:
    LogContextFilter().filter(record)
    return json.loads(RedactingJsonFormatter().format(record))


def record(msg="hello %s", args=("world",), exc_info=None, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("registry.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    rec.__dict__.update(extra)
    return rec


@pytest.fixture
def console_lines():
    """What the root console handler (Django's LOGGING) writes during the test, parsed."""
    (console,) = [
        h for h in logging.getLogger().handlers if not type(h).__module__.startswith("_pytest")
    ]
    buffer = io.StringIO()
    previous = console.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    finally:
        console.setStream(previous)


def test_a_line_outside_any_context_has_every_field_empty():
    line = json_line(record())
    assert line["message"] == "hello world"
    assert (line["level"], line["logger"]) == ("WARNING", "registry.test")
    assert {line[f] for f in ("request_id", "actor", "path_id", "task_id", "task")} == {""}
    assert line["time"].endswith("+00:00")


def test_request_id_path_id_and_task_come_from_the_context():
    path_id = uuid.uuid4()
    with request_context("req-7"), bind_path_id(path_id):
        task_prerun.send(sender=None, task_id="task-1", task=type("T", (), {"name": "x.y"})())
        try:
            line = json_line(record())
        finally:
            task_postrun.send(sender=None, task_id="task-1", task=None)
    assert line["request_id"] == "req-7"
    assert line["path_id"] == str(path_id)
    assert (line["task_id"], line["task"]) == ("task-1", "x.y")
    # Unbound again afterwards.
    after = json_line(record())
    assert (after["request_id"], after["path_id"], after["task_id"]) == ("", "", "")


def test_json_lines_are_redacted_field_by_field():
    secret = token_format.generate()
    try:
        raise ValueError(f"upstream said {secret}")
    except ValueError:
        exc_info = sys.exc_info()
    rec = record(
        "token %s",
        (secret,),
        exc_info,
        stack_info=f"Stack:\n  t = {secret}",
        detail={"nested": [secret]},
        when=object(),
    )
    text = RedactingJsonFormatter().format(rec)
    assert secret not in text and secret.split("_", 1)[1] not in text
    line = json.loads(text)
    assert line["message"] == f"token {REDACTED}"
    assert f"ValueError: upstream said {REDACTED}" in line["exc_info"]
    assert line["stack_info"].endswith(f"t = {REDACTED}")
    assert line["detail"] == {"nested": [REDACTED]}


def test_an_api_request_logs_its_request_id_token_and_path(personas, console_lines):
    """Django's "Not Found" line for an access path is written after the middleware
    returned: it still carries the request's id, actor and path."""
    token, secret = issue(personas)
    client = bearer(secret)
    missing = uuid.uuid4()
    response = client.get(f"/api/v1/access-paths/{missing}/", HTTP_X_REQUEST_ID="trace-42")
    assert response.status_code == 404
    (line,) = [entry for entry in console_lines() if entry["logger"] == "django.request"]
    assert line["message"] == f"Not Found: /api/v1/access-paths/{missing}/"
    assert line["request_id"] == "trace-42"
    assert line["path_id"] == str(missing)
    assert line["actor"] == f"api-token {token.pk} ({token.name})"
    assert secret not in json.dumps(console_lines())


def test_a_page_names_the_signed_in_person_and_the_path(personas, console_lines):
    client = Client()
    client.force_login(personas.users.pat)
    missing = uuid.uuid4()
    assert client.get(f"/paths/{missing}/", HTTP_X_REQUEST_ID="page-1").status_code == 404
    lines = [entry for entry in console_lines() if entry["logger"] == "django.request"]
    assert lines, console_lines()
    assert (lines[0]["request_id"], lines[0]["actor"], lines[0]["path_id"]) == (
        "page-1",
        "pat",
        str(missing),
    )
