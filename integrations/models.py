from functools import cache
from typing import ClassVar

from django.core.validators import RegexValidator
from django.db import models
from polymorphic.managers import PolymorphicManager
from polymorphic.models import PolymorphicModel

from integrations.fields import SecretField
from integrations.verification import VerificationResult, VerificationStatus
from tenants.models import Tenant

IDENT_PATTERN = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*\Z"
IDENT_TAKEN = "This tenant already has an integration with this id."


class LiveIntegrationManager(PolymorphicManager["Integration", "Integration"]):
    """The default manager: hides soft-deleted integrations. `all_objects` sees them."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


# The constraint that keeps one live integration per (tenant, id): the one refusal of a create
# that means "a racing create took the id" (integrations.services).
LIVE_IDENT_CONSTRAINT = "integration_unique_live_ident_per_tenant"


class Integration(PolymorphicModel):
    """One set of credentials of one tenant. Each provider is a subclass (integrations/providers).

    A subclass declares `provider_key` (the JSON `type`), `label`, and its credential fields;
    the API keys, serializers, forms, admin and secrecy are all derived from those fields.
    Which provider a row is of is django-polymorphic's `polymorphic_ctype`: the one type
    discriminator (see providers.provider_for_ctype_id).

    `version` counts the changes of its values: version n is also kept as an
    IntegrationVersion row (the last INTEGRATION_VERSIONS_KEPT of them), for rollback.
    """

    provider_key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # Provider classes reach templates as values ({{ configured.provider.label }}): without
    # this, the template engine calls a class as it calls any callable, so every badge built
    # an unsaved instance (its defaults, its SealedSecrets) to read a class attribute.
    do_not_call_in_templates: ClassVar[bool] = True

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="integrations")
    ident = models.CharField(
        "ID",
        max_length=64,
        validators=[
            RegexValidator(
                IDENT_PATTERN,
                "Use lower-case letters, digits, and single '-' or '_' between them.",
            )
        ],
        help_text="Unique within the tenant, e.g. 'salesforce' or 'salesforce-emea'.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    version = models.PositiveIntegerField(default=0, editable=False)
    # The last verification against the provider (integrations.verification_services): not a
    # change of values, so it moves neither `version` (the ETag) nor `updated_at`.
    last_verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_verification = models.CharField(
        max_length=16,
        choices=VerificationStatus.choices,
        blank=True,
        editable=False,
        db_index=True,
        help_text="The last verification's outcome; blank when never verified.",
    )
    last_verification_detail = models.CharField(max_length=300, blank=True, editable=False)
    # When an API token last read its secrets, to the minute (LAST_USED_PRECISION).
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects: ClassVar[LiveIntegrationManager] = LiveIntegrationManager()
    all_objects: ClassVar[PolymorphicManager["Integration", "Integration"]] = PolymorphicManager()

    class Meta:
        ordering = ["ident"]
        base_manager_name = "all_objects"
        # dumpdata, loaddata and the admin read through the default manager: they must see
        # soft-deleted rows too, or a dump would hold rows pointing at rows it left out.
        default_manager_name = "all_objects"
        constraints = [
            # One live integration per (tenant, id); deleted ones stay as history and do
            # not block re-creating the id. Also what makes concurrent creates safe.
            models.UniqueConstraint(
                fields=["tenant", "ident"],
                condition=models.Q(deleted_at__isnull=True),
                name=LIVE_IDENT_CONSTRAINT,
                violation_error_message=IDENT_TAKEN,
            ),
        ]
        indexes = [
            # The default order (the admin's list adds "-pk" to make it total): a page of it
            # is read from this index instead of sorting every integration.
            models.Index(fields=["ident", "-id"], name="integration_by_ident"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant.name}/{self.ident}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def verify(self) -> VerificationResult:
        """Check the credentials with the cheapest authenticated call the provider offers.

        Each provider overrides this in its own module (integrations/providers/); it returns a
        VerificationResult and raises only verification.Unreachable (for transport failures,
        caught by verification.verify) or SecretDecryptionError. Callers go through
        verification_services.integration_verify, which records the result.
        """
        raise NotImplementedError(f"{type(self).__name__} has no verify().")

    @classmethod
    def credential_fields(cls) -> tuple[models.Field, ...]:
        """The provider's own fields, in declaration order: its part of the JSON contract."""
        return _credential_fields(cls)

    @classmethod
    def secret_field_names(cls) -> tuple[str, ...]:
        """The names of the provider's SecretFields, in declaration order."""
        return _secret_field_names(cls)


# A class's fields are fixed once Django has loaded the models; every API record asks for
# them (several times for a list), so they are derived once per provider.
@cache
def _credential_fields(provider: type[Integration]) -> tuple[models.Field, ...]:
    return tuple(
        field
        for field in provider._meta.get_fields(include_parents=False)
        if isinstance(field, models.Field)
        and field.concrete
        and not field.auto_created
        and not field.remote_field
    )


@cache
def _secret_field_names(provider: type[Integration]) -> tuple[str, ...]:
    return tuple(f.name for f in _credential_fields(provider) if isinstance(f, SecretField))


class IntegrationVersion(models.Model):
    """The values of an integration at one version, kept for rollback (Vault KV v2's idea).

    `values` holds each credential field by model field name: non-secret values as they are,
    secrets sealed exactly like live ones ("sealed:<ciphertext>", re-encrypted by key
    rotation, never rendered). `changed_fields` names what this version changed.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=200)
    changed_fields = models.JSONField(default=list)
    values = models.JSONField(default=dict)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "number"], name="integration_version_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} v{self.number}"


# The provider models live one per module; importing them here registers them with the app
# while Django loads models (after Integration exists, so the circular import is safe).
from integrations import providers  # noqa: E402, F401
