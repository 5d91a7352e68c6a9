"""`make run`'s mail catcher (scripts/mail_sink.py): a real process on a free loopback
port that accepts a message over SMTP, keeps it as an .eml file and prints one line."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sink(tmp_path):
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, "scripts/mail_sink.py", "--port", str(port), "--dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "catching outgoing mail" in process.stdout.readline()
        yield port, tmp_path, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_message_sent_to_the_catcher_is_kept_and_announced(sink):
    port, directory, process = sink
    message = EmailMessage()
    message["From"] = "registry@example.com"
    message["To"] = "lee@example.com"
    message["Subject"] = "3 paths due for review"
    message.set_content("Review them.")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)
    deadline = time.monotonic() + 10
    while not list(directory.glob("*.eml")) and time.monotonic() < deadline:
        time.sleep(0.05)
    (kept,) = directory.glob("*.eml")
    assert b"Subject: 3 paths due for review" in kept.read_bytes()
    line = process.stdout.readline()
    assert "lee@example.com" in line and "3 paths due for review" in line


def test_make_run_uses_the_catcher_only_without_a_configured_mail_server(monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import dev
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    monkeypatch.setenv("EMAIL_HOST", "smtp.example.com")
    assert dev._email_configured()
    monkeypatch.delenv("EMAIL_HOST")
    monkeypatch.setattr(dev, "ROOT", Path("/nonexistent"))
    assert not dev._email_configured()
