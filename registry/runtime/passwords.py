"""The password hasher: Argon2id at a cost fit for interactive sign-in.

Measured on this project's 2-core machines (CPU time of one verification): Django's
PBKDF2 default, 1,000,000 iterations of SHA-256, costs 360 ms, and its own Argon2
hasher (100 MiB, 8 lanes) 285 ms; under load every sign-in queues behind the others'
hashes. OWASP's Password Storage Cheat Sheet lists equivalent Argon2id settings; its
first, m=19 MiB, t=2, p=1, costs 37 ms here, while still making an attacker with a GPU
spend 19 MiB per guess, which is what makes Argon2id stronger than PBKDF2 at a tenth
of the CPU.

One lane (p=1): a sign-in runs on one core, so the other requests of that worker's
threads keep the second core. Raising the cost later is safe: Django re-hashes a
password at its next successful sign-in when the stored parameters differ
(`must_update`), as it does for the PBKDF2 hashes made before this hasher existed
(PBKDF2 stays in PASSWORD_HASHERS after it so that those still verify).
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher

# OWASP Password Storage Cheat Sheet, Argon2id, first equivalent configuration.
MEMORY_COST_KIB = 19 * 1024  # m: 19 MiB per hash
TIME_COST = 2  # t: passes over that memory
PARALLELISM = 1  # p: lanes (threads) per hash


class InteractiveArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id (Django's Argon2 hasher uses the id variant) at OWASP's m=19 MiB, t=2, p=1.

    The algorithm name stays "argon2": the parameters are stored in each hash, so hashes
    made by Django's hasher and by this one verify with either, and a hash whose
    parameters differ from these is upgraded at its owner's next sign-in."""

    memory_cost = MEMORY_COST_KIB
    time_cost = TIME_COST
    parallelism = PARALLELISM
