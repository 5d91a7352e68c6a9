"""The content of a digest, shared by every channel."""

from registry.notifications.wording import describe_notification, path_url
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


def digest_text(digest: Digest) -> str:
    context = digest_context(digest)
    lines = [context["subject"]]
    lines += [f"• {i['name']} ({i['system']}, {i['environment']}): {i['message']} {i['url']}"
              for i in context["items"]]  # fmt: skip
    return "\n".join(lines)
