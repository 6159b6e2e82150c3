"""Serializers derived from the provider models: no provider's keys are written down here.

JSON keys are the model field names with '_' turned into '-' (consumer_key ↔ consumer-key).
"""

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models
from rest_framework import serializers

from integrations.encryption import SecretDecryptionError
from integrations.error_reports import remember_secret
from integrations.fields import SecretField
from integrations.models import Integration
from integrations.providers import all_providers
from integrations.sealed import MASK
from integrations.verification import NEVER

# Names the secrets of a record that no configured key decrypts (their values read null).
UNREADABLE_KEY = "unreadable-secrets"
# Keys every body may carry besides the provider's fields; the view resolves them.
ENVELOPE_KEYS = ("id", "type")
# Keys a record carries about itself, besides the provider's fields; read-only, ignored in
# bodies sent back (a client may PUT back what it read).
RECORD_META_KEYS = (
    "created-at",
    "updated-at",
    "version",
    "last-verified-at",
    "last-verification",
    "last-verification-detail",
    "last-used-at",
)


T = TypeVar("T")


def json_key(field_name: str) -> str:
    return field_name.replace("_", "-")


if TYPE_CHECKING:
    _StringField = serializers.CharField
else:
    # A plain mixin at run time: as a CharField subclass it would bring CharField's error
    # messages back over EmailField's ("Not a valid string." for a malformed address).
    _StringField = object


class StrictStringMixin(_StringField):
    """DRF turns 42 into "42"; a credential sent as a number is a client bug, so say so."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictCharField(StrictStringMixin, serializers.CharField):
    default_error_messages = {"not_a_string": "Must be a string."}


class StrictEmailField(StrictStringMixin, serializers.EmailField):
    default_error_messages = {"not_a_string": "Must be a string."}


class SecretCharField(StrictCharField):
    """A secret in a body: kept exactly as sent, and remembered for error-report scrubbing."""

    def __init__(self, **kwargs):
        kwargs["trim_whitespace"] = False  # spaces at either end may be part of a password
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        remember_secret(data)
        return super().to_internal_value(data)


class ProviderSerializer(serializers.ModelSerializer):
    """Base for the per-provider serializers that `serializer_for` builds."""

    _fields_by_key: dict[str, tuple[str, serializers.Field]]  # per class: key -> (name, field)
    _class_validators: list  # per class: get_validators()

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
    }

    def build_standard_field(self, field_name, model_field):
        field_class, field_kwargs = super().build_standard_field(field_name, model_field)
        if isinstance(model_field, SecretField):
            field_class = SecretCharField
        return field_class, field_kwargs

    @classmethod
    def fields_by_key(cls) -> dict[str, tuple[str, serializers.Field]]:
        """The class's fields, unbound: JSON key -> (model field name, field). ModelSerializer
        derives them from the model on every instance (~0.5 ms each; a POST builds two
        serializers); they depend on the class only, so they are derived once per class."""

        def derive():
            derived = serializers.ModelSerializer.get_fields(cls())
            return {json_key(name): (name, field) for name, field in derived.items()}

        return _derived_once(cls, "_fields_by_key", derive)

    def get_fields(self) -> dict[str, serializers.Field]:
        """The fields by JSON key; each instance gets copies of the class's (DRF binds fields
        to their serializer, so instances never share one), as DRF copies declared fields."""
        fields = {}
        for key, (name, field) in self.fields_by_key().items():
            # A copy is made anew from the field's constructor arguments: `source` is set here.
            fields[key] = copy.deepcopy(field)
            if key != name:
                fields[key].source = name
        return fields

    def get_validators(self) -> list:
        """The serializer-level validators (unique-together and unique-for-date over the
        provider's fields). ModelSerializer derives them from the model's Meta on every
        instance; they depend on the class only, so they are derived once per class. DRF's
        validators take the serializer at call time (requires_context), so instances share
        them as they share a Meta.validators list."""
        return list(_derived_once(type(self), "_class_validators", super().get_validators))

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {"non_field_errors": ["The request body must be a JSON object."]}
            )
        unknown = sorted(set(data) - set(self.fields) - set(ENVELOPE_KEYS) - set(RECORD_META_KEYS))
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)

    def to_representation(self, instance):
        return self.record(instance, show_secrets=self.context.get("show_secrets", False))

    @classmethod
    def record(cls, instance: Integration, *, show_secrets: bool) -> dict:
        """The API's record of `instance`: id, type, the provider's fields (secrets in clear
        only with `show_secrets`, else the mask), then what the record says about itself.

        Renders each value with the class's unbound fields, as DRF's to_representation would
        (None stays None), without building and binding a serializer per record: the list
        and every read and write render through here."""
        record: dict[str, Any] = {"id": instance.ident, "type": instance.provider_key}
        secret_names = type(instance).secret_field_names()
        unreadable = []
        for key, (name, field) in cls.fields_by_key().items():
            if name not in secret_names:
                value = getattr(instance, name)
                record[key] = None if value is None else field.to_representation(value)
            elif not show_secrets:
                record[key] = MASK
            else:
                try:
                    # The only place the API decrypts: a token without `secrets` never costs one.
                    record[key] = getattr(instance, name).reveal()
                except SecretDecryptionError:
                    # Fail closed for this value only: no ciphertext, no 500 for the record.
                    record[key] = None
                    unreadable.append(key)
        if unreadable:
            record[UNREADABLE_KEY] = unreadable
        record.update(
            {
                "created-at": _rfc3339(instance.created_at),
                "updated-at": _rfc3339(instance.updated_at),
                "version": instance.version,
                # The last check with the provider (integrations.verification_services).
                "last-verified-at": _rfc3339_or_none(instance.last_verified_at),
                "last-verification": instance.last_verification or NEVER,
                "last-verification-detail": instance.last_verification_detail,
                "last-used-at": _rfc3339_or_none(instance.last_used_at),
            }
        )
        return record


def _derived_once(cls: type, attribute: str, derive: Callable[[], T]) -> T:
    """`cls`'s own `attribute`, set to derive() on first use. Each class holds its own (a
    subclass does not take its parent's: each provider's serializer derives from its model)."""
    value: T | None = cls.__dict__.get(attribute)
    if value is None:
        value = derive()
        setattr(cls, attribute, value)
    return value


def _rfc3339_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _rfc3339(moment)


def _rfc3339(moment: datetime) -> str:
    # RFC 3339 in UTC, with a Z: what every client library parses.
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@cache
def serializer_for(provider: type[Integration]) -> type[ProviderSerializer]:
    meta = type(
        "Meta",
        (),
        {"model": provider, "fields": [f.name for f in provider.credential_fields()]},
    )
    return type(f"{provider.__name__}Serializer", (ProviderSerializer,), {"Meta": meta})


@cache
def secret_json_keys() -> frozenset[str]:
    """Every provider's secret keys, as bodies spell them."""
    return frozenset(
        json_key(name) for provider in all_providers() for name in provider.secret_field_names()
    )
