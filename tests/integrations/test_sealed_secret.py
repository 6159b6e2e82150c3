"""SealedSecret, rule by rule: what it holds, when it decrypts or encrypts (and when it must
not), how it prints, compares and pickles. Every rule here is one that keeps a secret out of a
page, a log, an error report or a cache."""

import pickle

import pytest
from cryptography.fernet import Fernet

from integrations import encryption
from integrations.encryption import SecretDecryptionError
from integrations.sealed import STORED_PLACEHOLDER, SealedSecret

SECRET = "-".join(["sealed", "secret", "value"])


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls of encryption.encrypt and encryption.decrypt (they still work)."""
    counted = {"encrypt": 0, "decrypt": 0}
    for name in counted:
        real = getattr(encryption, name)

        def counting(value, _name=name, _real=real):
            counted[_name] += 1
            return _real(value)

        monkeypatch.setattr(encryption, name, counting)
    return counted


def undecryptable() -> SealedSecret:
    return SealedSecret.from_ciphertext(Fernet(Fernet.generate_key()).encrypt(b"x").decode())


def test_a_sealed_secret_needs_its_ciphertext_or_its_plaintext():
    with pytest.raises(ValueError, match="needs its ciphertext or its plaintext"):
        SealedSecret()

    assert SealedSecret(plaintext="p").reveal() == "p"
    assert SealedSecret(ciphertext="").reveal() == ""


@pytest.mark.parametrize("value", [b"bytes", 42, None])
def test_only_a_str_can_be_sealed(value):
    with pytest.raises(TypeError, match="A secret must be a str"):
        SealedSecret.from_plaintext(value)


def test_a_typed_secret_encrypts_once_when_its_ciphertext_is_first_needed(calls):
    sealed = SealedSecret.from_plaintext(SECRET)
    assert calls["encrypt"] == 0
    assert sealed.has_plaintext

    first, second = sealed.ciphertext, sealed.ciphertext

    assert first == second
    assert calls["encrypt"] == 1
    assert encryption.decrypt(first) == SECRET


def test_an_empty_secret_is_stored_as_an_empty_string_without_encryption(calls):
    assert SealedSecret.from_plaintext("").ciphertext == ""
    assert SealedSecret.from_ciphertext("").reveal() == ""
    assert calls == {"encrypt": 0, "decrypt": 0}


def test_a_stored_secret_decrypts_only_when_revealed_and_only_once(calls):
    sealed = SealedSecret.from_ciphertext(encryption.encrypt(SECRET))
    calls["encrypt"] = 0

    assert not sealed.has_plaintext
    assert sealed.ciphertext  # reading the ciphertext decrypts nothing
    assert calls["decrypt"] == 0

    assert sealed.reveal() == SECRET
    assert sealed.reveal() == SECRET
    assert calls["decrypt"] == 1
    assert sealed.has_plaintext
    assert calls["encrypt"] == 0


def test_a_secret_no_key_decrypts_fails_closed_when_revealed():
    with pytest.raises(SecretDecryptionError):
        undecryptable().reveal()


def test_is_readable_tells_without_keeping_the_plaintext():
    readable = SealedSecret.from_ciphertext(encryption.encrypt(SECRET))

    assert readable.is_readable() is True
    assert not readable.has_plaintext
    assert undecryptable().is_readable() is False
    assert SealedSecret.from_ciphertext("").is_readable() is True
    assert SealedSecret.from_plaintext(SECRET).is_readable() is True


def test_is_readable_needs_no_decryption_for_a_typed_or_empty_secret(calls):
    SealedSecret.from_plaintext(SECRET).is_readable()
    SealedSecret.from_ciphertext("").is_readable()

    assert calls["decrypt"] == 0


def test_rotated_re_encrypts_under_the_newest_key_without_revealing(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    sealed = SealedSecret.from_ciphertext(encryption.encrypt(SECRET))
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    rotated = sealed.rotated()

    assert rotated is not sealed
    assert not rotated.has_plaintext
    assert encryption.is_under_newest_key(rotated.ciphertext)
    assert not encryption.is_under_newest_key(sealed.ciphertext)
    assert rotated.reveal() == SECRET
    assert not sealed.has_plaintext


def test_an_empty_secret_rotates_to_itself_and_an_undecryptable_one_fails():
    empty = SealedSecret.from_ciphertext("")

    assert empty.rotated() is empty
    with pytest.raises(SecretDecryptionError):
        undecryptable().rotated()


@pytest.mark.parametrize(
    ("sealed", "truth", "text", "shown"),
    [
        (SealedSecret.from_plaintext(SECRET), True, STORED_PLACEHOLDER, "<SealedSecret ********>"),
        (SealedSecret.from_plaintext(""), False, "", "<SealedSecret (empty)>"),
        (
            SealedSecret.from_ciphertext("gAAAA-x"),
            True,
            STORED_PLACEHOLDER,
            "<SealedSecret ********>",
        ),
        (SealedSecret.from_ciphertext(""), False, "", "<SealedSecret (empty)>"),
    ],
    ids=["typed", "typed-empty", "stored", "stored-empty"],
)
def test_a_secret_prints_as_a_placeholder_never_its_value(sealed, truth, text, shown):
    assert bool(sealed) is truth
    assert str(sealed) == text
    assert repr(sealed) == shown
    assert f"{sealed}" == text
    assert SECRET not in f"{sealed!r} {sealed!s} {[sealed]}"


def test_a_secret_equals_the_str_of_the_same_plaintext_only():
    stored = SealedSecret.from_ciphertext(encryption.encrypt(SECRET))

    assert stored == SECRET
    assert SealedSecret.from_plaintext(SECRET) == SECRET
    assert stored != SECRET + "x"
    assert stored != ""
    assert SealedSecret.from_ciphertext("") == ""
    assert SealedSecret.from_plaintext("") == ""
    assert SealedSecret.from_plaintext("") != SECRET


def test_two_secrets_are_equal_when_their_plaintexts_are():
    stored = SealedSecret.from_ciphertext(encryption.encrypt(SECRET))

    assert stored == SealedSecret.from_plaintext(SECRET)
    assert stored != SealedSecret.from_plaintext(SECRET + "x")
    assert stored != SealedSecret.from_plaintext("")
    assert SealedSecret.from_plaintext("") != stored
    assert SealedSecret.from_plaintext("") == SealedSecret.from_ciphertext("")


def test_an_undecryptable_secret_equals_nothing():
    sealed = undecryptable()

    assert sealed != ""
    assert sealed != "x"
    assert sealed != SealedSecret.from_plaintext("x")
    assert SealedSecret.from_plaintext("x") != sealed
    assert (sealed == sealed.ciphertext) is False


def test_a_secret_compared_with_another_type_is_not_equal():
    sealed = SealedSecret.from_plaintext("42")

    assert sealed.__eq__(42) is NotImplemented
    assert sealed != 42
    assert sealed is not None


def test_a_secret_is_not_hashable():
    with pytest.raises(TypeError):
        hash(SealedSecret.from_plaintext(SECRET))


def test_a_pickle_carries_the_ciphertext_only():
    sealed = SealedSecret.from_plaintext(SECRET)

    dumped = pickle.dumps(sealed)
    loaded = pickle.loads(dumped)  # noqa: S301 (our own bytes)

    assert SECRET.encode() not in dumped
    assert sealed.__getstate__() == {"ciphertext": sealed.ciphertext}
    assert not loaded.has_plaintext
    assert loaded.reveal() == SECRET


def test_comparing_with_an_empty_secret_decrypts_nothing(calls):
    stored = SealedSecret.from_ciphertext(encryption.encrypt(SECRET))
    empty = SealedSecret.from_ciphertext("")
    calls["encrypt"] = 0

    assert stored != empty
    assert empty != stored
    assert stored != ""
    assert calls["decrypt"] == 0
