"""Decisions, one home each: who may, what a status means, what is due when.

Rules import only models and each other; every other layer imports them."""
