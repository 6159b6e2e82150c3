"""Encryption of secret values at rest: MultiFernet over settings.FIELD_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so keys rotate without downtime (add a new key
first, run `manage.py rotate_encryption_keys`, then drop the old one). A value that no key
decrypts raises SecretDecryptionError: we fail closed, never hand out ciphertext as a secret.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _fernet() -> MultiFernet:
    # Keyed by the tuple of keys, so override_settings in tests and rotations take effect.
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


@sensitive_variables("plaintext")
def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


@sensitive_variables()
def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        # The message names no value: the ciphertext is harmless, but keep errors uniform.
        raise SecretDecryptionError(
            "A stored secret does not decrypt with any key in FIELD_ENCRYPTION_KEYS."
        ) from None


@lru_cache(maxsize=4)
def _newest_for(key: str) -> Fernet:
    return Fernet(key.encode())


def is_under_newest_key(ciphertext: str) -> bool:
    """Whether `ciphertext` was encrypted under the first (newest) key: nothing to rotate."""
    try:
        _newest_for(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


@sensitive_variables()
def can_decrypt(ciphertext: str) -> bool:
    """Whether a configured key decrypts `ciphertext` (the plaintext is discarded)."""
    try:
        _fernet().decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def rotate(ciphertext: str) -> str:
    """`ciphertext` re-encrypted under the newest key (MultiFernet.rotate: the plaintext never
    leaves cryptography's code). Raises SecretDecryptionError when no key decrypts it."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            "A stored secret does not decrypt with any key in FIELD_ENCRYPTION_KEYS."
        ) from None
