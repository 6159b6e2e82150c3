"""Reads of tenants, shared by the API, the staff pages and the commands."""

import re
from typing import cast

from django.core.exceptions import ValidationError
from django.db import models

from config.compiled_query import CompiledQuery
from tenants.exceptions import TenantNotFound
from tenants.models import Tenant


def could_be_stored(model: type[models.Model], field_name: str, value: str) -> bool:
    """Whether `value` passes the field's validators. A value the field refuses cannot be in
    the table, so it is not looked up: that saves a query, and PostgreSQL rejects some such
    strings outright (a NUL character is an error there, which would be a 500)."""
    try:
        # Callers name a concrete field (get_field also finds reverse relations).
        cast(models.Field, model._meta.get_field(field_name)).run_validators(value)
    except ValidationError:
        return False
    return True


# Names stored before the current rule may hold upper-case letters or underscores (Django's
# slug); they stay reachable. Anything else cannot be a stored name and is never looked up.
_STORABLE_NAME = re.compile(r"[-a-zA-Z0-9_]{1,64}")


def tenant_name_could_be_stored(name: str) -> bool:
    """Whether some tenant could be called `name`; others are never looked up (a NUL
    character, for one, is an error in a PostgreSQL query)."""
    return _STORABLE_NAME.fullmatch(name) is not None


# Every API request of an all-tenants token reads its tenant: compiled once, not per request.
_LIVE_BY_NAME = CompiledQuery(Tenant, lambda name: Tenant.objects.filter(name=name), str)


def tenant_get_live(*, name: str) -> Tenant:
    """The live tenant called `name` (its slug). Raises TenantNotFound when it does not exist
    or is soft-deleted (the API answers 422, the API document's rule)."""
    return tenant_found_by(_LIVE_BY_NAME, name)


def tenant_found_by(query: CompiledQuery[Tenant], name: str) -> Tenant:
    """The tenant `query` (of live tenants, by name) finds for `name`. Raises TenantNotFound
    when it finds none, and for a name no tenant could have, which is never looked up."""
    if not tenant_name_could_be_stored(name):
        raise TenantNotFound(name)
    tenant = query.first(name)
    if tenant is None:
        raise TenantNotFound(name)
    return tenant
