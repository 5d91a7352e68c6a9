"""`make run`'s outgoing mail: an SMTP server on loopback that keeps every message.

The demo sends review digests every minute; with no mail server that would be an error
in the terminal each time. This catches them instead: each message is written to
var/mail/<time>-<n>.eml (open it in any mail program) and one line is printed. Only for
`make run` (scripts/dev.py starts it unless EMAIL_HOST is set); deployments use real SMTP.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
MAIL_DIR = ROOT / "var" / "mail"


class KeepMessages:
    """aiosmtpd handler: store the message as received, answer 250."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.numbers = itertools.count(1)

    # aiosmtpd calls the handler method by this exact name.
    async def handle_DATA(self, server, session, envelope) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = self.directory / f"{stamp}-{next(self.numbers)}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        subject = message_from_bytes(envelope.content, policy=policy.default)["subject"]
        print(f"mail: to {', '.join(envelope.rcpt_tos)}: {subject} -> {path}", flush=True)
        return "250 Message accepted"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=MAIL_DIR)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(KeepMessages(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"mail: catching outgoing mail on 127.0.0.1:{args.port}, kept in {args.dir}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
