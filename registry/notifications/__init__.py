"""What the registry tells people: the outbox, the words, the webhook events."""
