"""HTML pages for people. Thin: reads through selectors, changes through services."""
