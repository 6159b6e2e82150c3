from django.db import models

from integrations import encryption


class SecretField(models.TextField):
    """A credential stored encrypted (Fernet) and never shown back in HTML.

    Declaring a field with this class is what makes it secret everywhere: the API masks it
    for tokens without the `secrets` scope, forms and the admin render a placeholder, and the
    database holds only ciphertext. `max_length` bounds the plaintext (forms and the API).
    """

    description = "An encrypted secret"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return encryption.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return value
        return encryption.encrypt(value)

    def value_to_string(self, obj):
        # Serialization (dumpdata) keeps ciphertext: a fixture is a dump, and must not leak.
        return self.get_prep_value(self.value_from_object(obj))
