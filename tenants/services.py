"""The functions that change tenants and API tokens. Views, admin and commands call these."""

import logging
from collections.abc import Iterable
from datetime import datetime

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants import tokens
from tenants.models import ApiToken, Scope, Tenant

# One line per token created or revoked: its prefix, label and who did it; never the token.
token_logger = logging.getLogger("tenants.tokens")


def tenant_create(*, name: str, display_name: str = "") -> Tenant:
    tenant = Tenant(name=name, display_name=display_name)
    if Tenant.all_objects.filter(name=name, deleted_at__isnull=False).exists():
        # Said precisely: the name is kept by a deleted tenant, which an admin can restore.
        raise ValidationError({"name": "A deleted tenant has this name; an admin can restore it."})
    tenant.full_clean()
    try:
        with transaction.atomic():
            tenant.save()
    except IntegrityError:  # created by a racing request since full_clean looked
        raise ValidationError({"name": "A tenant with this name exists."}) from None
    return tenant


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
    actor: str,
) -> tuple[ApiToken, str]:
    """Create a token; returns it with its plaintext, which is shown once and never stored.

    `actor` names who asked (a username, or what ran it, e.g. "manage.py createapitoken").
    """
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
    scope = f"tenant '{tenant.name}'" if tenant else "all tenants"
    expiry = f"expires {expires_at.isoformat()}" if expires_at else "no expiry"
    _record(
        api_token,
        actor=actor,
        action="created",
        detail=f"for {scope}, scopes {api_token.scopes}, {expiry}",
        action_flag=ADDITION,
    )
    return api_token, plaintext


def api_token_revoke(*, api_token: ApiToken, actor: str) -> None:
    """Revoke a token (from now on it authenticates nothing); revoking twice does nothing."""
    if api_token.revoked_at is not None:
        return
    with transaction.atomic():
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at"])
        _record(api_token, actor=actor, action="revoked", detail="", action_flag=CHANGE)


def _record(api_token: ApiToken, *, actor: str, action: str, detail: str, action_flag) -> None:
    """The log line and the admin history entry of a token's creation or revocation.

    The history entry is written when `actor` is a user's name (the admin); a command's
    actor is no user, so its act is in the log only.
    """
    token_logger.info(
        "API token %s… %r %s by %s%s",
        api_token.prefix,
        api_token.label,
        action,
        actor,
        f" ({detail})" if detail else "",
    )
    user_model = get_user_model()
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: actor}).first()
    if user is None:
        return
    LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(ApiToken),
        object_id=str(api_token.pk),
        object_repr=str(api_token)[:200],
        action_flag=action_flag,
        change_message=f"{action.capitalize()} {detail}".strip() + ".",
    )
