"""A secret as the application holds it in memory: sealed until code asks to reveal it.

A model instance never holds a secret as a plain `str`. A `SecretField` attribute is a
`SealedSecret`, whose `str()` and `repr()` show a placeholder; the plaintext comes out only
through `reveal()`. That closes every door that renders a value without asking which value it
is: the admin's read-only fields and history, templates, debug pages, error reports (frame
locals), log lines, `repr()` of a model instance.

It is also lazy: a secret loaded from the database stays ciphertext until it is revealed, so a
page that never shows a secret never decrypts one, and a value that no key decrypts fails only
where it is revealed (SecretDecryptionError), not wherever its row is loaded.

Every plaintext that passes through here (typed in, or revealed) is remembered for the current
request, so that error reports can scrub it from whatever frame still holds it
(integrations/error_reports.py).
"""

from __future__ import annotations

import hmac

from integrations import encryption
from integrations.error_reports import remember_secret

# What str() of a stored secret reads, wherever a page renders it without asking.
STORED_PLACEHOLDER = "secret stored"
# What the API shows a token without the `secrets` scope in place of a secret. Sent back in a
# write, it means "keep the stored value": it is never stored as a secret (a known Airflow bug).
MASK = "********"


class SealedSecret:
    """A secret value: ciphertext, plaintext, or both (after a reveal or an encrypt).

    An empty secret is stored as "" (not encrypted), so emptiness is known without decrypting.
    """

    __slots__ = ("_ciphertext", "_plaintext")

    def __init__(self, *, ciphertext: str | None = None, plaintext: str | None = None):
        if ciphertext is None and plaintext is None:
            raise ValueError("A SealedSecret needs its ciphertext or its plaintext.")
        self._ciphertext = ciphertext
        self._plaintext = plaintext

    @classmethod
    def from_plaintext(cls, plaintext: str) -> SealedSecret:
        """Seal a value that was just typed or sent (str in, encrypted lazily on save)."""
        if not isinstance(plaintext, str):
            raise TypeError(f"A secret must be a str, not {type(plaintext).__name__}.")
        remember_secret(plaintext)
        return cls(plaintext=plaintext)

    @classmethod
    def from_ciphertext(cls, ciphertext: str) -> SealedSecret:
        """Wrap a stored value (a Fernet token, or "" for an empty secret); nothing decrypts."""
        return cls(ciphertext=ciphertext)

    def reveal(self) -> str:
        """The plaintext. Decrypts on first use.

        Raises encryption.SecretDecryptionError when no configured key decrypts the value.
        """
        if self._plaintext is None:
            self._plaintext = encryption.decrypt(self._ciphertext) if self._ciphertext else ""
            remember_secret(self._plaintext)
        return self._plaintext

    @property
    def ciphertext(self) -> str:
        """The value as stored: a Fernet token under the newest key, or "" when empty."""
        if self._ciphertext is None:
            self._ciphertext = encryption.encrypt(self._plaintext) if self._plaintext else ""
        return self._ciphertext

    @property
    def has_plaintext(self) -> bool:
        """Whether the plaintext is in memory (typed in, or revealed already)."""
        return self._plaintext is not None

    def is_readable(self) -> bool:
        """Whether reveal() would succeed; decrypts to find out, but keeps no plaintext."""
        if self._plaintext is not None or not self._ciphertext:
            return True
        return encryption.can_decrypt(self._ciphertext)

    def rotated(self) -> SealedSecret:
        """The same secret re-encrypted under the newest key, never exposed as plaintext here
        (Fernet key rotation, MultiFernet.rotate). Raises SecretDecryptionError like reveal."""
        if not self.ciphertext:
            return self
        return SealedSecret.from_ciphertext(encryption.rotate(self.ciphertext))

    def __bool__(self) -> bool:
        return bool(self._plaintext if self._plaintext is not None else self._ciphertext)

    def __str__(self) -> str:
        return STORED_PLACEHOLDER if self else ""

    def __repr__(self) -> str:
        return "<SealedSecret ********>" if self else "<SealedSecret (empty)>"

    def __eq__(self, other: object) -> bool:
        """Equal to a str holding the same plaintext (compared in constant time), or to
        another SealedSecret of the same plaintext. Comparing with "" needs no decryption;
        a value that no key decrypts equals nothing."""
        if isinstance(other, SealedSecret):
            if not self or not other:
                return bool(self) == bool(other)
            other = other._reveal_or_none()
        if other is None:
            return False
        if not isinstance(other, str):
            return NotImplemented
        if not other:
            return not self
        mine = self._reveal_or_none()
        return mine is not None and hmac.compare_digest(mine.encode(), other.encode())

    def _reveal_or_none(self) -> str | None:
        try:
            return self.reveal()
        except encryption.SecretDecryptionError:
            return None

    __hash__ = None  # type: ignore[assignment]  # equality follows a value that may change

    def __getstate__(self):
        # Pickles (a cache, a session) carry the ciphertext only, never the plaintext.
        return {"ciphertext": self.ciphertext}

    def __setstate__(self, state):
        self._ciphertext = state["ciphertext"]
        self._plaintext = None
