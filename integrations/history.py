"""What the integration services record of each change: its audit event and, when values
changed, a numbered version. Called only from integrations.services, inside the transaction of
the change itself, so that a change and its records are kept together or not at all.

Secrets never leave sealed form here: an audit event says a secret "changed" (no value, no
hash), a version keeps the secret's ciphertext exactly as the live row does.
"""

from functools import cache
from typing import Any, cast

from django.conf import settings
from django.db import connections, models, router

from config import compiled_write
from integrations.fields import SEALED_PREFIX, SecretField
from integrations.models import Integration, IntegrationVersion
from integrations.sealed import MASK, SealedSecret
from tenants.actors import Actor
from tenants.models import SECRET_CHANGED, AuditAction, AuditEvent
from tenants.services import audit_event, audit_event_record

Changes = dict[str, Any]


def changes_of(integration: Integration, data: dict[str, Any]) -> Changes:
    """What assigning `data` to `integration` would change, for the audit trail: non-secret
    fields as {"old", "new"}, secrets as "changed". A secret equal to the stored one, or to the
    API's mask, is no change (the mask means "keep": see integrations.sealed.MASK)."""
    changes: Changes = {}
    for name, new in data.items():
        # `data` holds the provider's own fields (get_field also finds reverse relations).
        field = cast(models.Field, integration._meta.get_field(name))
        old = getattr(integration, field.attname)
        if isinstance(field, SecretField):
            if new == MASK or (old is not None and old == new):
                continue
            changes[name] = SECRET_CHANGED
        elif old != _plain(field, new):
            changes[name] = {"old": old, "new": _plain(field, new)}
    return changes


def _plain(field, value):
    # A foreign key (the admin may move an integration to another tenant) is recorded by id.
    return value.pk if field.is_relation and value is not None else value


def record_change(
    integration: Integration,
    *,
    action: AuditAction,
    changes: Changes,
    actor: Actor,
    reveal: bool = False,
) -> None:
    """The audit event of a change, and the integration's new version when values changed
    (its `version` already counts it), with the pruning of versions no longer kept. With
    `reveal` (the answer will carry the secrets in clear), its `reveal` event too, in the same
    INSERT. All one statement on PostgreSQL (compiled_write.one_statement; a caller's block,
    such as the change's UPDATEs, joins it)."""
    with compiled_write.one_statement(router.db_for_write(Integration)):
        if any(name in _credential_names(integration) for name in changes):
            version = IntegrationVersion(
                integration=integration,
                number=integration.version,
                actor=actor.name[:200],
                changed_fields=sorted(changes),
                values=snapshot(integration),
            )
            compiled_write.insert(version)
            _prune_versions(integration)
        change = _audited(changes)
        events = [
            audit_event(**_subject(integration), actor=actor, action=action, changes=change),
            *(reveal_events([integration], actor=actor) if reveal else []),
        ]
        compiled_write.insert_all(events)


def record_event(
    integration: Integration, *, action: AuditAction, actor: Actor, changes: Changes | None = None
) -> None:
    audit_event_record(**_subject(integration), actor=actor, action=action, changes=changes)


def record_reveals(integrations: list[Integration], *, actor: Actor) -> None:
    """One `reveal` event per integration whose secrets a response carried in clear, written
    in one statement."""
    # One INSERT (on PostgreSQL), atomic by itself: bulk_create would wrap it in BEGIN and
    # COMMIT, two more round trips on every read or write.
    compiled_write.insert_all(reveal_events(integrations, actor=actor))


def reveal_events(integrations: list[Integration], *, actor: Actor) -> list[AuditEvent]:
    """The unsaved `reveal` events of `integrations` (those that have secrets)."""
    return [
        reveal_event(type(integration), actor=actor, **_subject(integration))
        for integration in integrations
        if integration.secret_field_names()
    ]


def reveal_event(provider: type[Integration], *, actor: Actor, **subject: Any) -> AuditEvent:
    """The unsaved `reveal` event of an integration of `provider` whose secrets an answer
    carries in clear: the names of the provider's secrets, never their values. `subject`:
    audit_event's tenant and integration fields (left empty by a caller that writes them
    from a row read in the same statement: integrations.reveal_reads)."""
    return audit_event(
        **{"integration_type": provider.provider_key, **subject},
        actor=actor,
        action=AuditAction.REVEAL,
        changes=revealed_changes(provider),
    )


def revealed_changes(provider: type[Integration]) -> dict[str, Any]:
    """The `changes` of a reveal event of an integration of `provider`: its secrets' names."""
    return {"revealed": list(provider.secret_field_names())}


def reveal_event_of_rows(*, actor: Actor) -> AuditEvent:
    """The unsaved `reveal` event of rows read in the statement that writes it, of several
    providers: without its subject and provider (`integration_type`, and `changes` as
    revealed_changes), which that statement writes from each row (integrations.reveal_reads)."""
    return audit_event(actor=actor, action=AuditAction.REVEAL)


def snapshot(integration: Integration) -> dict[str, Any]:
    """The credential values of `integration` as a version keeps them (secrets sealed)."""
    values = {}
    for field in type(integration).credential_fields():
        value = getattr(integration, field.attname)
        if isinstance(field, SecretField) and value is not None:
            value = SEALED_PREFIX + value.ciphertext
        values[field.name] = value
    return values


def values_of(version: IntegrationVersion, provider: type[Integration]) -> dict[str, Any]:
    """A version's values as `data` for the update service: secrets as SealedSecrets, so that
    restoring one needs no decryption (a write-only token may roll back). Fields the provider
    has gained since the version was written keep their current values."""
    data = {}
    for field in provider.credential_fields():
        if field.name not in version.values:
            continue
        value = version.values[field.name]
        if isinstance(field, SecretField) and value is not None:
            value = SealedSecret.from_ciphertext(value.removeprefix(SEALED_PREFIX))
        data[field.name] = value
    return data


def _credential_names(integration: Integration) -> set[str]:
    return {field.name for field in type(integration).credential_fields()}


def _audited(changes: Changes) -> Changes:
    # JSON-safe: dates and other values are recorded as text.
    return {
        name: change if change == SECRET_CHANGED else {k: _json(v) for k, v in change.items()}
        for name, change in changes.items()
    }


def _json(value):
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _subject(integration: Integration) -> dict[str, Any]:
    # tenant_id, not tenant: a row created in one statement has only the Sql of its tenant's
    # key until that statement is sent (services._insert_unless_raced).
    return {
        "tenant_id": integration.tenant_id,
        "integration_pk": integration.pk,
        "integration_ident": integration.ident,
        "integration_type": integration.provider_key,
    }


def _prune_versions(integration: Integration) -> None:
    """Delete the versions older than the last INTEGRATION_VERSIONS_KEPT: what
    `IntegrationVersion.objects.filter(integration=…, number__lte=…).delete()` does (nothing
    refers to a version and no signal listens, so the ORM would run this one DELETE too), with
    its SQL built once: every write of a busy integration runs it."""
    kept = settings.INTEGRATION_VERSIONS_KEPT
    if integration.version > kept:
        alias = router.db_for_write(IntegrationVersion)
        newest_pruned = integration.version - kept
        compiled_write.execute(alias, _prune_sql(alias), [integration.pk, newest_pruned])


@cache
def _prune_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    meta = IntegrationVersion._meta
    owner, number = (
        quote(compiled_write.column_of(IntegrationVersion, name))
        for name in ("integration", "number")
    )
    # Identifiers from the model, quoted by the backend; values are parameters.
    return f"DELETE FROM {quote(meta.db_table)} WHERE {owner} = %s AND {number} <= %s"  # noqa: S608
