"""The functions that change integrations. The API, the staff views and the admin call these,
so validation, upsert and soft-delete rules are the same whichever door a change comes in by.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.exceptions import IntegrationBusy, IntegrationNotFound
from integrations.models import IDENT_TAKEN, Integration
from integrations.providers import provider_for
from tenants.models import Tenant

# How many lost races a create-or-replace retries before answering IntegrationBusy.
UPSERT_ATTEMPTS = 5


def integration_check_ident(*, ident: str, provider: type[Integration]) -> None:
    """An id must be a slug, and an id that names a provider must be of that provider."""
    ident_field = Integration._meta.get_field("ident")
    try:
        ident_field.clean(ident, None)
    except ValidationError as error:
        raise ValidationError({"id": error.messages}) from None
    named = provider_for(ident)
    if named is not None and named is not provider:
        raise ValidationError(
            {"type": [f"The id '{ident}' is reserved for {named.provider_key} integrations."]}
        )


# `data` holds plaintext secrets: error reports (production's tracebacks with locals) must
# show it as "********************", hence sensitive_variables on every function holding it.
@sensitive_variables("data")
def integration_upsert(
    *,
    tenant: Tenant,
    ident: str,
    provider: type[Integration],
    data: dict[str, Any],
    actor: str,
) -> tuple[Integration, bool]:
    """Create the tenant's integration `ident`, or replace the live one. Returns (it, created).

    `data` holds every credential field of the provider, already validated. Safe under
    concurrency (creates, replaces and deletes of one id racing): each attempt locks the live
    row and replaces it, or, with none, inserts one; the unique constraint on live
    (tenant, ident) decides which of two racing inserts wins. The loser looks at the live row:
    of another provider, that is the caller's type error; of this one, or none (deleted in the
    meantime), the race is retried. After UPSERT_ATTEMPTS lost races: IntegrationBusy.
    """
    integration_check_ident(ident=ident, provider=provider)
    for _ in range(UPSERT_ATTEMPTS):
        with transaction.atomic():
            existing = _live_for_update(provider, tenant, ident)
            if existing is not None:
                _assign(existing, data, actor)
                existing.save()
                return existing, False
            try:
                with transaction.atomic():  # a savepoint: a lost race must not end the outer one
                    integration = provider(
                        tenant=tenant, ident=ident, provider=provider.provider_key
                    )
                    _assign(integration, data, actor)
                    integration.save()
                return integration, True
            except IntegrityError:
                _raise_type_conflict(tenant, ident, provider)
    raise IntegrationBusy(ident)


def integration_create(*, integration: Integration, actor: str) -> Integration:
    """Save a new, fully populated integration (the admin builds it from its form).

    Unlike upsert, an id that is already live in the tenant is an error, not a replacement.
    """
    provider = type(integration)
    integration_check_ident(ident=integration.ident, provider=provider)
    integration.provider = provider.provider_key
    integration.updated_by = actor
    try:
        with transaction.atomic():
            integration.save()
    except IntegrityError:
        raise ValidationError({"ident": [IDENT_TAKEN]}) from None
    return integration


@sensitive_variables("data")
def integration_update(
    *, integration: Integration, data: dict[str, Any], actor: str
) -> Integration:
    """Change the fields in `data` of a live integration; the others keep their stored values.

    Locks the row, re-checks that it is still live and writes only the given columns: a
    delete that lands first wins (IntegrationNotFound) instead of being undone by the save,
    and two updates of different fields both keep their change. `data` holds credential
    fields; the admin may also move (`tenant`) or rename (`ident`) after its form checked them.
    """
    with transaction.atomic():
        current = (
            type(integration)
            .objects.non_polymorphic()
            .select_for_update()
            .filter(pk=integration.pk)
            .first()
        )
        if current is None:
            raise IntegrationNotFound(integration.ident)
        _assign(current, data, actor)
        current.save(update_fields=[*data, "updated_by", "updated_at"])
    current.tenant = integration.tenant
    return current


def integration_delete(*, integration: Integration, actor: str) -> None:
    """Soft delete: the row stays as history; the id can be created again.

    Conditional: only a live row is deleted, in one UPDATE. One deleted since it was read
    (a racing delete) raises IntegrationNotFound and keeps its first deleted_at and updated_by.
    """
    now = timezone.now()
    deleted = (
        Integration.objects.non_polymorphic()
        .filter(pk=integration.pk)
        .update(deleted_at=now, updated_by=actor, updated_at=now)
    )
    if not deleted:
        raise IntegrationNotFound(integration.ident)
    integration.deleted_at = now
    integration.updated_by = actor
    integration.updated_at = now


def integration_restore(*, integration: Integration, actor: str) -> None:
    """Undo a soft delete, unless the id has been created again since."""
    if integration.deleted_at is None:
        return
    taken = Integration.objects.filter(tenant_id=integration.tenant_id, ident=integration.ident)
    if taken.exists():
        raise ValidationError(
            f"'{integration.ident}' has been created again since; delete that one first."
        )
    integration.deleted_at = None
    integration.updated_by = actor
    integration.save(update_fields=["deleted_at", "updated_by", "updated_at"])


def _live_for_update(provider: type[Integration], tenant: Tenant, ident: str):
    # non_polymorphic: the rows are of `provider` already; skipping django-polymorphic's
    # downcast spares a content-type lookup on the first request of a process.
    return (
        provider.objects.non_polymorphic()
        .select_for_update()
        .filter(tenant=tenant, ident=ident)
        .first()
    )


@sensitive_variables("data", "value")
def _assign(integration: Integration, data: dict[str, Any], actor: str) -> None:
    allowed = {"tenant", "ident", *(field.name for field in type(integration).credential_fields())}
    unexpected = set(data) - allowed
    if unexpected:
        raise ValueError(f"Not fields of {type(integration).__name__}: {sorted(unexpected)}")
    for name, value in data.items():
        setattr(integration, name, value)
    integration.updated_by = actor


def _raise_type_conflict(tenant: Tenant, ident: str, provider: type[Integration]) -> None:
    """After a lost insert race: the live row of another provider is a type error; of this
    provider, or none (deleted since), is not, and the caller retries."""
    other = (
        Integration.objects.non_polymorphic()
        .filter(tenant=tenant, ident=ident)
        .exclude(provider=provider.provider_key)
        .values_list("provider", flat=True)
        .first()
    )
    if other is not None:
        raise ValidationError(
            {"type": [f"Integration '{ident}' is a {other} integration; its type cannot change."]}
        )
