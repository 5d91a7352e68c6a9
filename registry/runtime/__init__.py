"""Per-process plumbing: request ids, the current request, log redaction, budgets, progress."""
