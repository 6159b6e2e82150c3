"""The functions that change tenants and API tokens. Views, admin and commands call these."""

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenants import tokens
from tenants.models import ApiToken, Scope, Tenant


def tenant_create(*, name: str, display_name: str = "") -> Tenant:
    tenant = Tenant(name=name, display_name=display_name)
    tenant.full_clean()
    if Tenant.all_objects.filter(name=name).exists():
        raise ValidationError({"name": "A tenant with this name exists (it may be deleted)."})
    tenant.save()
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
) -> tuple[ApiToken, str]:
    """Create a token; returns it with its plaintext, which is shown once and never stored."""
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
    return api_token, plaintext


def api_token_revoke(*, api_token: ApiToken) -> None:
    if api_token.revoked_at is None:
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at"])
