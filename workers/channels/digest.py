"""The content of a digest, shared by every channel, and its stable reference."""

from __future__ import annotations

import hashlib

from registry.notifications.wording import describe_notification
from registry.rules.links import path_url
from registry.services.delivery import Digest

REF_PREFIX = "nhi-digest-"


def digest_ref(digest: Digest) -> str:
    """`nhi-digest-<32 hex>`: the same for every send of the same notifications, so a
    receiver can drop a repeat (a digest re-sent after its worker died, or after the
    database stayed away longer than the mark-sent window). Channel tests carry no
    stored row; their one-off message id stands in."""
    keys = sorted(
        str(n.pk) if n.pk is not None else str(n.payload.get("message_id", ""))
        for n in digest.notifications
    )
    return REF_PREFIX + hashlib.sha256(",".join(keys).encode()).hexdigest()[:32]


def notification_ids(digest: Digest) -> str:
    """The stored notifications a digest carries, for a receiver's own bookkeeping."""
    return ",".join(str(n.pk) for n in digest.notifications if n.pk is not None)


def digest_context(digest: Digest) -> dict:
    items = [
        {
            "name": n.path.name,
            "system": n.path.system,
            "environment": n.path.environment,
            "message": describe_notification(n),
            "url": path_url(n.path_id),
        }
        for n in digest.notifications
    ]
    count = len(items)
    noun = "access path needs" if count == 1 else "access paths need"
    subject = f"[NHI Registry] {count} {noun} attention ({digest.team.slug})"
    return {
        "team": digest.team,
        "audience": digest.audience,
        "items": items,
        "subject": subject,
        "ref": digest_ref(digest),
    }
