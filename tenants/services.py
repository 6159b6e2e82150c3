"""The functions that change tenants and API tokens. Views, admin and commands call these."""

import logging
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config import compiled_write
from config.compiled_query import CompiledQuery
from tenants import token_cache, tokens
from tenants.actors import Actor
from tenants.exceptions import TenantNotFound
from tenants.models import ApiToken, AuditAction, AuditEvent, Scope, Tenant
from tenants.selectors import tenant_found_by, tenant_name_could_be_stored

# One line per token created or revoked: its prefix, label and who did it; never the token.
token_logger = logging.getLogger("tenants.tokens")


def tenant_create(*, name: str, display_name: str = "", actor: Actor) -> Tenant:
    """Create a live tenant. Raises ValidationError for a name that is not a slug or is taken
    (a deleted tenant keeps its name: it can be restored)."""
    tenant = Tenant(name=name, display_name=display_name)
    if Tenant.all_objects.filter(name=name, deleted_at__isnull=False).exists():
        # Said precisely: the name is kept by a deleted tenant, which an admin can restore.
        raise ValidationError({"name": "A deleted tenant has this name; an admin can restore it."})
    tenant.full_clean()
    try:
        with transaction.atomic():
            tenant.save()
            audit_event_record(
                actor=actor,
                action=AuditAction.CREATE,
                tenant=tenant,
                changes={"name": {"old": None, "new": name}},
            )
    except IntegrityError:  # created by a racing request since full_clean looked
        raise ValidationError({"name": "A tenant with this name exists."}) from None
    return tenant


def tenant_delete(*, tenant: Tenant, actor: Actor) -> bool:
    """Soft delete: the API answers 422 for the tenant from now on; its records stay. Returns
    whether it was live (deleting a deleted tenant changes nothing)."""
    return _tenant_set_deleted(tenant, actor, deleted_at=timezone.now())


def tenant_restore(*, tenant: Tenant, actor: Actor) -> bool:
    """Undo a soft delete. Returns whether it was deleted."""
    return _tenant_set_deleted(tenant, actor, deleted_at=None)


def _tenant_set_deleted(tenant: Tenant, actor: Actor, *, deleted_at) -> bool:
    was_live = deleted_at is not None
    with transaction.atomic():
        # Conditional, so that racing deletes (or restores) record one event, not two.
        changed = Tenant.all_objects.filter(pk=tenant.pk, deleted_at__isnull=was_live).update(
            deleted_at=deleted_at, updated_at=timezone.now()
        )
        if changed:
            audit_event_record(
                actor=actor,
                action=AuditAction.DELETE if was_live else AuditAction.RESTORE,
                tenant=tenant,
            )
            # An UPDATE sends no signal: the remembered tokens carry their tenant, whose
            # deleted_at the API reads as "live" without a query (token_cache.py).
            token_cache.changed()
    tenant.deleted_at = deleted_at if changed else tenant.deleted_at
    return bool(changed)


def _share_lock(connection) -> str:
    # SQLite has no row locks: there its one writer at a time does it.
    return " FOR SHARE" if connection.vendor == "postgresql" else ""


def tenant_hold_live(*, tenant: Tenant) -> None:
    """Inside a write's transaction: keep `tenant` live until that transaction ends, or raise
    TenantNotFound if it was soft-deleted since it was read.

    On PostgreSQL a shared row lock (FOR SHARE): writes of one tenant do not wait for each
    other, but a soft delete (an UPDATE of the row) waits for them, and a write that starts
    after the delete sees it. SQLite runs one write transaction at a time, so a plain read is
    enough there.
    """
    table = connection.ops.quote_name(Tenant._meta.db_table)
    lock = _share_lock(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE id = %s AND deleted_at IS NULL{lock}",  # noqa: S608
            [tenant.pk],
        )
        if cursor.fetchone() is None:
            raise TenantNotFound(tenant.name)


_LIVE_BY_NAME_HELD = CompiledQuery(
    Tenant, lambda name: Tenant.objects.filter(name=name), str, lock_suffix=_share_lock
)


def tenant_hold_live_by_name(*, name: str) -> Tenant:
    """Inside a write's transaction: the live tenant called `name`, held live as
    tenant_hold_live holds it, in one statement (for a write that has only the URL's name).
    Raises TenantNotFound when there is no live tenant of that name."""
    return tenant_found_by(_LIVE_BY_NAME_HELD, name)


_LIVE_BY_PK_HELD = CompiledQuery(
    Tenant, lambda pk: Tenant.objects.filter(pk=pk), int, lock_suffix=_share_lock
)


def tenant_hold_statement(tenant: Tenant | str) -> tuple[str, list]:
    """(SQL, parameters) of the SELECT that holds `tenant` (a Tenant, or a tenant's name) live
    as tenant_hold_live and tenant_hold_live_by_name do (FOR SHARE, its columns as a Tenant's,
    `id` among them): one row when it is live, none otherwise. To run first in a write's own
    statement (compiled_write.one_statement's guard). ValueError for a name no tenant could
    have (never looked up)."""
    if isinstance(tenant, Tenant):
        return _LIVE_BY_PK_HELD.statement(tenant.pk)
    if not tenant_name_could_be_stored(tenant):
        raise ValueError("No tenant could be called so.")
    return _LIVE_BY_NAME_HELD.statement(tenant)


def audit_event(
    *,
    actor: Actor,
    action: AuditAction,
    tenant: Tenant | None = None,
    tenant_id: int | None = None,
    integration_pk: int | None = None,
    integration_ident: str = "",
    integration_type: str = "",
    api_token_prefix: str = "",
    changes: dict | None = None,
) -> AuditEvent:
    """An unsaved audit event of `actor` (for bulk_create); `changes` must hold no secret.
    Its tenant is `tenant`, or the one whose key is `tenant_id`."""
    return AuditEvent(
        actor=actor.name[:200],
        channel=actor.channel,
        request_id=actor.request_id,
        client_address=actor.client_address,
        tenant_id=tenant.pk if tenant is not None else tenant_id,
        integration_pk=integration_pk,
        integration_ident=integration_ident,
        integration_type=integration_type,
        api_token_prefix=api_token_prefix,
        action=action,
        changes=changes or {},
    )


def audit_event_record(**kwargs) -> AuditEvent:
    """Write one audit event (keyword arguments of `audit_event`); call it inside the
    transaction of the change it records, so that both or neither are kept."""
    event = audit_event(**kwargs)
    compiled_write.insert(event)  # the same row as event.save(), without its per-call cost
    return event


def parse_scopes(scopes: Iterable[str] | str) -> list[str]:
    if isinstance(scopes, str):
        scopes = scopes.split(",")
    chosen = [s.strip() for s in scopes if s.strip()]
    unknown = sorted(set(chosen) - set(Scope.values))
    if unknown:
        raise ValidationError(
            f"Unknown scope {', '.join(unknown)}; choose from {', '.join(Scope.values)}."
        )
    if not chosen:
        raise ValidationError("A token needs at least one scope.")
    # Stored in the canonical order so that equal scope sets compare equal.
    return [s for s in Scope.values if s in chosen]


@transaction.atomic
def api_token_create(
    *,
    label: str,
    tenant: Tenant | None,
    scopes: Iterable[str] | str = tuple(Scope.values),
    expires_at: datetime | None = None,
    actor: Actor,
) -> tuple[ApiToken, str]:
    """Create a token; returns it with its plaintext, which is shown once and never stored.
    Raises ValidationError for an unknown scope or a bad label. Logged and audited."""
    plaintext = tokens.generate()
    api_token = ApiToken(
        label=label,
        tenant=tenant,
        all_tenants=tenant is None,
        scopes=",".join(parse_scopes(scopes)),
        expires_at=expires_at,
        prefix=tokens.prefix_of(plaintext),
        digest=tokens.digest_of(plaintext),
    )
    api_token.full_clean()
    api_token.save()
    _record(api_token, actor=actor, action=AuditAction.TOKEN_CREATE)
    return api_token, plaintext


def api_token_description(api_token: ApiToken) -> str:
    """What a token may do, in words: "for tenant 'acme', scopes read,write, no expiry"."""
    scope = f"tenant '{api_token.tenant.name}'" if api_token.tenant else "all tenants"
    expires_at = api_token.expires_at
    expiry = f"expires {expires_at.isoformat()}" if expires_at else "no expiry"
    return f"for {scope}, scopes {api_token.scopes}, {expiry}"


def api_token_revoke(*, api_token: ApiToken, actor: Actor) -> None:
    """Revoke a token (from now on it authenticates nothing); revoking twice does nothing."""
    if api_token.revoked_at is not None:
        return
    with transaction.atomic():
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at"])
        _record(api_token, actor=actor, action=AuditAction.TOKEN_REVOKE)


def _record(api_token: ApiToken, *, actor: Actor, action: AuditAction) -> None:
    """The log line and the audit event of a token's creation or revocation: its prefix,
    label, what it may do and who did it, never the token."""
    created = action == AuditAction.TOKEN_CREATE
    detail = api_token_description(api_token) if created else ""
    token_logger.info(
        "API token %s… %r %s by %s%s",
        api_token.prefix,
        api_token.label,
        "created" if created else "revoked",
        actor.name,
        f" ({detail})" if detail else "",
    )
    audit_event_record(
        actor=actor,
        action=action,
        tenant=api_token.tenant,
        api_token_prefix=api_token.prefix,
        changes={"label": api_token.label, "detail": detail} if created else {},
    )
