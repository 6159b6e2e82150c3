"""SecretField, rule by rule: what a model attribute holds, what reaches the database and a
fixture, what loaddata accepts, which values are validated, and the form input it makes."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError

from integrations import encryption
from integrations.fields import (
    SEALED_PREFIX,
    SecretField,
    SecretFormField,
    UnloadableSecret,
    reject_only_whitespace,
)
from integrations.providers import TwilioIntegration
from integrations.sealed import SealedSecret

SECRET = "-".join(["field", "secret", "value"])
FIELD = TwilioIntegration._meta.get_field("password")


def test_a_value_of_only_whitespace_is_refused_but_spaces_around_a_value_are_kept():
    with pytest.raises(ValidationError) as refused:
        reject_only_whitespace(" \t ")

    assert refused.value.code == "only_whitespace"
    reject_only_whitespace("")
    reject_only_whitespace(" pass word ")


def test_whatever_is_assigned_is_held_sealed():
    twilio = TwilioIntegration(password=SECRET)

    held = twilio.__dict__["password"]
    assert isinstance(held, SealedSecret)
    assert held.reveal() == SECRET
    twilio.password = None
    assert twilio.password is None
    sealed = SealedSecret.from_plaintext("other")
    twilio.password = sealed
    assert twilio.password is sealed


def test_an_unloadable_value_is_held_as_it_is_and_refused_when_saved():
    unloadable = UnloadableSecret("the reason")
    twilio = TwilioIntegration(password=unloadable)

    assert twilio.__dict__["password"] is unloadable
    with pytest.raises(ValueError, match="the reason"):
        FIELD.get_prep_value(unloadable)


def test_the_database_gets_ciphertext_and_gives_back_a_sealed_value():
    ciphertext = FIELD.get_prep_value(SECRET)

    assert SECRET not in ciphertext
    assert encryption.decrypt(ciphertext) == SECRET
    assert FIELD.get_prep_value(None) is None
    loaded = FIELD.from_db_value(ciphertext, None, None)
    assert isinstance(loaded, SealedSecret)
    assert not loaded.has_plaintext
    assert loaded.reveal() == SECRET
    assert FIELD.from_db_value(None, None, None) is None


def test_a_fixture_holds_the_marked_ciphertext_and_loads_it_back():
    twilio = TwilioIntegration(password=SECRET)

    dumped = FIELD.value_to_string(twilio)
    loaded = FIELD.to_python(dumped)

    assert dumped.startswith(SEALED_PREFIX)
    assert SECRET not in dumped
    assert isinstance(loaded, SealedSecret)
    assert loaded.ciphertext == dumped.removeprefix(SEALED_PREFIX)
    assert loaded.reveal() == SECRET
    assert FIELD.value_to_string(TwilioIntegration(password=None)) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (SECRET, "must be sealed"),
        ("gAAAAAB-bare-ciphertext", "must be sealed"),
        (42, "must be sealed"),
        (
            SEALED_PREFIX + Fernet(Fernet.generate_key()).encrypt(b"x").decode(),
            "a key that is not in FIELD_ENCRYPTION_KEYS",
        ),
    ],
    ids=["plaintext", "bare-ciphertext", "not-a-str", "foreign-key"],
)
def test_loaddata_refuses_anything_but_a_sealed_value_of_our_keys(value, reason):
    loaded = FIELD.to_python(value)

    assert isinstance(loaded, UnloadableSecret)
    assert reason in loaded.reason
    assert SECRET not in loaded.reason


def test_to_python_leaves_none_and_held_values_alone():
    sealed = SealedSecret.from_plaintext(SECRET)
    unloadable = UnloadableSecret("r")

    assert FIELD.to_python(None) is None
    assert FIELD.to_python(sealed) is sealed
    assert FIELD.to_python(unloadable) is unloadable


def test_an_empty_secret_is_refused_unless_the_field_may_be_blank():
    optional = SecretField(blank=True)
    optional.set_attributes_from_name("optional")

    with pytest.raises(ValidationError) as refused:
        FIELD.validate(SealedSecret.from_plaintext(""), None)

    assert refused.value.code == "blank"
    with pytest.raises(ValidationError) as refused:
        FIELD.validate(None, None)
    assert refused.value.code == "null"  # Django's own check, for anything not sealed
    FIELD.validate(SealedSecret.from_plaintext(SECRET), None)
    optional.validate(SealedSecret.from_plaintext(""), None)


def test_a_typed_value_is_validated_a_stored_one_is_not_decrypted_to_be():
    with pytest.raises(ValidationError) as refused:
        FIELD.run_validators(SealedSecret.from_plaintext("   "))
    assert [e.code for e in refused.value.error_list] == ["only_whitespace"]

    FIELD.run_validators(SealedSecret.from_plaintext(" spaced "))
    undecryptable = Fernet(Fernet.generate_key()).encrypt(b"   ").decode()
    FIELD.run_validators(SealedSecret.from_ciphertext(undecryptable))  # no decryption, no error


def test_the_form_input_never_renders_a_value_keeps_spaces_and_follows_blank():
    form_field = FIELD.formfield()
    optional = SecretField(blank=True, max_length=10).formfield()

    assert isinstance(form_field, SecretFormField)
    rendered = form_field.widget.render("password", SECRET)
    assert SECRET not in rendered
    assert 'type="password"' in rendered
    assert 'autocomplete="new-password"' in rendered
    assert form_field.required is True
    assert optional.required is False
    assert form_field.clean(" spaced ") == " spaced "
    assert FIELD.formfield(required=False).required is False
