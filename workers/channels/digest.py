"""The content of a digest, shared by every channel."""

from registry.notifications.wording import describe_notification
from registry.rules.links import path_url
from registry.services.delivery import Digest


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
    return {"team": digest.team, "audience": digest.audience, "items": items, "subject": subject}
