"""Passwords are hashed with Argon2id at the interactive cost (registry/runtime/passwords.py),
and a hash made by an earlier hasher is upgraded at its owner's next sign-in.

The test settings hash with MD5 for speed; these tests put the production list back."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password
from django.test import Client

from registry.runtime.passwords import InteractiveArgon2PasswordHasher

PASSWORD = "correct horse battery staple"
# Argon2id, version 19, OWASP's m=19 MiB, t=2, p=1, as stored in every new hash.
INTERACTIVE_PREFIX = "argon2$argon2id$v=19$m=19456,t=2,p=1$"


@pytest.fixture
def production_hashers(settings):
    production = importlib.import_module("config.settings")
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    return production.PASSWORD_HASHERS


def test_production_hashes_with_interactive_argon2id_and_still_verifies_pbkdf2():
    production = importlib.import_module("config.settings")
    hashers = production.PASSWORD_HASHERS
    assert hashers[0] == "registry.runtime.passwords.InteractiveArgon2PasswordHasher"
    # Hashes stored before the change still verify (and are upgraded, below).
    assert "django.contrib.auth.hashers.PBKDF2PasswordHasher" in hashers[1:]


def test_a_new_hash_carries_the_interactive_parameters(production_hashers):
    encoded = make_password(PASSWORD)
    assert encoded.startswith(INTERACTIVE_PREFIX)
    assert check_password(PASSWORD, encoded)
    assert not check_password(PASSWORD + "!", encoded)


def sign_in(username: str, password: str) -> int:
    client = Client(enforce_csrf_checks=True)
    form = client.get("/login/")
    token = form.cookies["csrftoken"].value
    response = client.post(
        "/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"},
    )
    return response.status_code


@pytest.mark.django_db
def test_a_pbkdf2_hash_is_upgraded_to_argon2id_at_sign_in(production_hashers):
    # An old hash, as PBKDF2 stored it before (few iterations: only the format matters).
    old = PBKDF2PasswordHasher().encode(PASSWORD, "oldsalt1234567890", iterations=1000)
    user = get_user_model().objects.create(username="olga", password=old)

    assert sign_in("olga", PASSWORD) == 302

    user.refresh_from_db()
    assert user.password.startswith(INTERACTIVE_PREFIX)
    assert user.check_password(PASSWORD)


@pytest.mark.django_db
def test_a_wrong_password_leaves_the_old_hash_alone(production_hashers):
    old = PBKDF2PasswordHasher().encode(PASSWORD, "oldsalt1234567890", iterations=1000)
    user = get_user_model().objects.create(username="olga", password=old)

    assert sign_in("olga", "not the password") == 200  # the form again, with its error

    user.refresh_from_db()
    assert user.password == old


@pytest.mark.django_db
def test_an_argon2_hash_with_other_parameters_is_rehashed_at_sign_in(production_hashers):
    # Django's own Argon2 hasher at a lighter cost: same algorithm name, other parameters.
    lighter = InteractiveArgon2PasswordHasher()
    lighter.memory_cost, lighter.time_cost = 8 * 1024, 1
    old = lighter.encode(PASSWORD, lighter.salt())
    assert old.startswith("argon2$argon2id$v=19$m=8192,t=1,p=1$")
    user = get_user_model().objects.create(username="olga", password=old)

    assert sign_in("olga", PASSWORD) == 302

    user.refresh_from_db()
    assert user.password.startswith(INTERACTIVE_PREFIX)
