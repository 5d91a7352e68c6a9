"""The browser side: pages, forms, URLs, admin, middleware."""
