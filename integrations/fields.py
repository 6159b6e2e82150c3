from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import capfirst

from integrations import encryption


def reject_only_whitespace(value: str) -> None:
    if value and not value.strip():
        raise ValidationError("May not be only whitespace.", code="only_whitespace")


class SecretField(models.TextField):
    """A credential stored encrypted (Fernet) and never shown back in HTML.

    Declaring a field with this class is what makes it secret everywhere: the API masks it
    for tokens without the `secrets` scope, forms and the admin render a placeholder, and the
    database holds only ciphertext. `max_length` bounds the plaintext (forms and the API).
    """

    description = "An encrypted secret"
    # Secrets are stored exactly as given (a leading or trailing space may be part of a
    # password, so nothing strips them), but a value of only whitespace is a mistake.
    default_validators = [reject_only_whitespace]

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return encryption.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return value
        return encryption.encrypt(value)

    def formfield(self, **kwargs):
        # Every ModelForm, the admin's included, gets an input that never shows the value.
        return secret_formfield(self, **kwargs)

    def value_to_string(self, obj):
        # Serialization (dumpdata) keeps ciphertext: a fixture is a dump, and must not leak.
        return self.get_prep_value(self.value_from_object(obj))


class SecretFormField(forms.CharField):
    """A password input that never renders the stored value back into the page."""

    def __init__(self, **kwargs):
        # Whatever widget a caller asks for (the admin asks for a textarea for every
        # TextField), a secret gets an input that never renders its value.
        kwargs["widget"] = forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "class": "vTextField"}
        )
        super().__init__(**kwargs)


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
