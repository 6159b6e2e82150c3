from typing import TYPE_CHECKING

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.utils.text import capfirst

from integrations.error_reports import remember_secret
from integrations.sealed import SealedSecret


def reject_only_whitespace(value: str) -> None:
    if value and not value.strip():
        raise ValidationError("May not be only whitespace.", code="only_whitespace")


SEALED_PREFIX = "sealed:"  # how dumpdata writes a secret: its ciphertext, marked as such


class UnloadableSecret:
    """What `to_python` makes of a fixture value that cannot be loaded; saving it raises
    ValueError(reason), which loaddata reports with the record it belongs to."""

    def __init__(self, reason: str):
        self.reason = reason


class SealedSecretAttribute(DeferredAttribute):
    """The model attribute of a SecretField: whatever is assigned is held as a SealedSecret.

    A str assigned (from a form, the API, a factory) is plaintext and gets sealed; a value
    loaded from the database arrives sealed already (SecretField.from_db_value).
    """

    field: "SecretField"

    def __set__(self, instance, value):
        if not isinstance(value, UnloadableSecret):  # refused when saved, see to_python
            value = self.field.seal(value)
        instance.__dict__[self.field.attname] = value


if TYPE_CHECKING:
    # For django-stubs: the model attribute holds a SealedSecret (SealedSecretAttribute), and
    # plaintext (str) or a SealedSecret may be assigned to it.
    _SecretTextField = models.TextField[str | SealedSecret | None, SealedSecret]
else:
    _SecretTextField = models.TextField


class SecretField(_SecretTextField):
    """A credential stored encrypted (Fernet) and never shown back in HTML.

    Declaring a field with this class is what makes it secret everywhere: the API masks it
    for tokens without the `secrets` scope, forms and the admin render a placeholder, and the
    database holds only ciphertext. In memory the value is a SealedSecret (integrations/sealed.py):
    `str()` of it is a placeholder, `.reveal()` the plaintext. `max_length` bounds the
    plaintext (forms and the API).
    """

    description = "An encrypted secret"
    descriptor_class = SealedSecretAttribute
    # Secrets are stored exactly as given (a leading or trailing space may be part of a
    # password, so nothing strips them), but a value of only whitespace is a mistake.
    default_validators = [reject_only_whitespace]

    def seal(self, value) -> SealedSecret | None:
        if value is None or isinstance(value, SealedSecret):
            return value
        if isinstance(value, UnloadableSecret):
            raise ValueError(value.reason)
        return SealedSecret.from_plaintext(value)

    def from_db_value(self, value, expression, connection):
        return None if value is None else SealedSecret.from_ciphertext(value)

    def get_prep_value(self, value):
        sealed = self.seal(value)
        return None if sealed is None else sealed.ciphertext

    def to_python(self, value):
        """Model attributes are sealed already; a str reaches here only from a deserializer
        (loaddata), where it must be the sealed form dumpdata writes. Anything else cannot be
        loaded: taking it as plaintext would silently encrypt a dump's ciphertext twice.

        Refusals are deferred to the save (UnloadableSecret): Django's deserializer quotes
        the offending value in errors raised here, and that value may be a plaintext secret.
        """
        if value is None or isinstance(value, SealedSecret | UnloadableSecret):
            return value
        if not (isinstance(value, str) and value.startswith(SEALED_PREFIX)):
            return UnloadableSecret(
                f"A secret in a fixture must be sealed ('{SEALED_PREFIX}<ciphertext>', as "
                "dumpdata writes it); plaintext and bare ciphertext are refused."
            )
        sealed = SealedSecret.from_ciphertext(value.removeprefix(SEALED_PREFIX))
        if not sealed.is_readable():
            return UnloadableSecret(
                "A secret in this fixture was encrypted under a key that is not in "
                "FIELD_ENCRYPTION_KEYS."
            )
        return sealed

    def validate(self, value, model_instance):
        if isinstance(value, SealedSecret):
            if not value and not self.blank:
                raise ValidationError(self.error_messages["blank"], code="blank")
            return
        super().validate(value, model_instance)

    def run_validators(self, value):
        # A stored value was validated when it was typed; only a new plaintext is checked.
        if isinstance(value, SealedSecret):
            if not value.has_plaintext:
                return
            value = value.reveal()
        super().run_validators(value)

    def formfield(self, **kwargs):
        # Every ModelForm, the admin's included, gets an input that never shows the value.
        return secret_formfield(self, **kwargs)

    def value_to_string(self, obj):
        # dumpdata keeps ciphertext, marked so that loaddata takes it back as it is.
        sealed = self.seal(self.value_from_object(obj))
        return None if sealed is None else SEALED_PREFIX + sealed.ciphertext


class SecretFormField(forms.CharField):
    """A password input that never renders the stored value back into the page."""

    def __init__(self, **kwargs):
        # Whatever widget a caller asks for (the admin asks for a textarea for every
        # TextField), a secret gets an input that never renders its value.
        kwargs["widget"] = forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "class": "vTextField"}
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        remember_secret(value)  # scrubbed from any error report of this request
        return value


def secret_formfield(model_field: SecretField, **kwargs) -> forms.Field:
    options = {
        "label": capfirst(model_field.verbose_name),
        "help_text": model_field.help_text,
        "max_length": model_field.max_length,
        "required": not model_field.blank,
        "strip": False,
        **kwargs,
    }
    return SecretFormField(**options)
