"""The functions that change integrations. The API, the staff views, the admin and the commands
call these, so validation, upsert, soft-delete, audit and version rules are the same whichever
door a change comes in by.

Every change writes its audit event (and, when values changed, a version) in its own
transaction (integrations.history). A write that changes nothing writes nothing: no event, no
version, `updated_at` and `updated_by` untouched.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connections, router, transaction
from django.db.models import QuerySet, Value
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from config import compiled_write
from config.compiled_query import CompiledPerModel
from integrations import history
from integrations.exceptions import IntegrationBusy, IntegrationNotFound, VersionNotFound
from integrations.fields import SecretField
from integrations.models import (
    IDENT_TAKEN,
    LIVE_IDENT_CONSTRAINT,
    Integration,
    IntegrationVersion,
)
from integrations.preconditions import NONE as NO_PRECONDITION
from integrations.preconditions import Precondition
from integrations.providers import ctype_of, provider_for, provider_of
from integrations.sealed import MASK
from tenants.actors import Actor
from tenants.models import AuditAction, Tenant
from tenants.selectors import tenant_name_could_be_stored
from tenants.services import tenant_hold_live, tenant_hold_live_by_name, tenant_hold_statement

# How many lost races a create-or-replace retries before answering IntegrationBusy.
UPSERT_ATTEMPTS = 5
MASK_ON_CREATE = (
    f'"{MASK}" is the mask shown in place of a secret; nothing is stored to keep. '
    "Send the secret itself."
)


def integration_check_ident(*, ident: str, provider: type[Integration]) -> None:
    """An id must be a slug, and an id that names a provider must be of that provider.
    Raises ValidationError keyed "id" or "type"."""
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
    tenant: Tenant | str,
    ident: str,
    provider: type[Integration],
    data: dict[str, Any],
    actor: Actor,
    precondition: Precondition = NO_PRECONDITION,
    reveal: bool = False,
) -> tuple[Integration, bool]:
    """Create the tenant's integration `ident`, or replace the live one. Returns (it, created).

    `data` holds every credential field of the provider, already validated. A secret equal to
    the mask keeps the stored value on replace and is a ValidationError on create. Safe under
    concurrency (creates, replaces and deletes of one id racing): each attempt locks the live
    row and replaces it, or, with none, inserts one; the unique constraint on live
    (tenant, ident) decides which of two racing inserts wins. The loser looks at the live row:
    of another provider, that is the caller's type error (ValidationError); of this one, or
    none (deleted in the meantime), the race is retried. After UPSERT_ATTEMPTS lost races:
    IntegrationBusy. On PostgreSQL a replace is first tried without a lock: the row is read,
    and written in one statement that is kept only if the row is still as read (same version,
    live, its tenant live); a write that got there first sends it to the locked attempts.
    `precondition` (If-Match / If-None-Match) is checked against the live row as it is
    written: PreconditionFailed, nothing written. `reveal`: the caller will answer
    with the secrets in clear; their `reveal` event is written with the change, in its
    transaction (one statement and one commit fewer than auditing it afterwards).

    `tenant` is the Tenant, or the name of one (the API's URL): then the tenant is read with
    the locked row, a statement fewer than reading it first. TenantNotFound when it is not
    live (the API's 422), whichever way it is given.
    """
    integration_check_ident(ident=ident, provider=provider)
    # Known absent from a read without lock: the first attempt's locked read would find no row
    # to lock either (the unique constraint decides a racing create, as it does after it).
    absent = False
    if compiled_write.can_guard(router.db_for_write(Integration)):
        # Most replaces race nobody: read without a lock, then write in one statement that
        # is kept only if the row is still as read (_change_unless_raced), with no BEGIN and
        # COMMIT. A lost race, rare, falls back to the locked attempts below.
        existing = _live_row(provider, tenant, ident, locked=False)
        absent = existing is None
        if existing is not None:
            if precondition != NO_PRECONDITION:
                precondition.check(existing)
            if _change_unless_raced(
                existing, data, actor=actor, action=AuditAction.REPLACE, reveal=reveal
            ):
                return existing, False
            tenant = existing.tenant
        elif precondition == NO_PRECONDITION and _can_be_held(tenant):
            # Most creates race nobody either: the rows, the version and the events in one
            # statement that holds the tenant live first. A lost race (the id created first,
            # the tenant deleted) writes nothing and goes to the locked attempts below.
            created = provider(ident=ident)
            if _insert_unless_raced(created, tenant, data, actor, reveal=reveal):
                return created, True
            # Still absent as far as anyone knows: the first attempt holds the tenant (or says
            # it is not live) and inserts; an id taken since sends it to a locked read.
    for _ in range(UPSERT_ATTEMPTS):
        try:
            with transaction.atomic():
                # Locks the live row and holds its tenant live; with no row, the tenant is
                # held (or found deleted: TenantNotFound) before the insert. A tenant given by
                # name is a Tenant from here on (retries read it by key).
                existing = None if absent else _live_row(provider, tenant, ident, locked=True)
                absent = False
                held = existing.tenant if existing is not None else _hold_live(tenant)
                tenant = held
                if precondition != NO_PRECONDITION:
                    precondition.check(existing or _live_of_another_type(held, ident))
                if existing is not None:
                    _change(existing, data, actor=actor, action=AuditAction.REPLACE, reveal=reveal)
                    return existing, False
                integration = provider(tenant=held, ident=ident)
                _insert_unless_taken(integration, data, actor, reveal=reveal)
            return integration, True
        except _IdentTaken:
            # Read after the attempt's rollback, rather than under a SAVEPOINT kept for it (two
            # round trips on every create, for a race that is rare).
            _raise_type_conflict(held, ident, provider)
    raise IntegrationBusy(ident)


class _IdentTaken(Exception):
    """A racing write made the id live between the locked read and the INSERT. Raised out of
    the attempt's transaction, which is then rolled back: after a failed statement, no other
    may run in it."""


@sensitive_variables("data")
def _insert_unless_taken(
    integration: Integration, data: dict[str, Any], actor: Actor, *, reveal: bool
) -> None:
    try:
        _insert(integration, data, actor, reveal=reveal)
    except IntegrityError as error:
        if not _is_live_ident_taken(error):
            raise
        raise _IdentTaken from error


def _is_live_ident_taken(error: IntegrityError) -> bool:
    """Whether `error` is the one live id per tenant constraint (LIVE_IDENT_CONSTRAINT)
    refusing an INSERT, a racing create having taken the id, rather than another refusal (a
    trigger's, a CHECK's): that one is an error of the database, not a conflict to answer."""
    cause = error.__cause__
    constraint = getattr(getattr(cause, "diag", None), "constraint_name", None)
    if constraint is not None:  # PostgreSQL names it
        return bool(constraint == LIVE_IDENT_CONSTRAINT)
    # SQLite names the columns of the (partial) unique index instead.
    table = Integration._meta.db_table
    return str(cause) == f"UNIQUE constraint failed: {table}.tenant_id, {table}.ident"


def integration_create(*, integration: Integration, actor: Actor) -> Integration:
    """Save a new, fully populated integration (the admin and the staff Add form build it).

    Unlike upsert, an id that is already live in the tenant is an error (ValidationError keyed
    "ident"), not a replacement.
    """
    integration_check_ident(ident=integration.ident, provider=type(integration))
    data = {
        field.name: getattr(integration, field.name) for field in integration.credential_fields()
    }
    try:
        with transaction.atomic():
            tenant_hold_live(tenant=integration.tenant)
            _insert(integration, data, actor)
    except IntegrityError as error:
        if not _is_live_ident_taken(error):
            raise
        raise ValidationError({"ident": [IDENT_TAKEN]}) from None
    return integration


@sensitive_variables("data")
def integration_update(
    *,
    integration: Integration,
    data: dict[str, Any],
    actor: Actor,
    precondition: Precondition = NO_PRECONDITION,
    reveal: bool = False,
    as_read: bool = False,
) -> Integration:
    """Change the fields in `data` of a live integration; the others keep their stored values.

    Locks the row, re-checks that it is still live (IntegrationNotFound otherwise: a delete
    that lands first wins instead of being undone) and writes only the columns that change:
    two updates of different fields both keep their change, and an update that changes
    nothing writes nothing. `data` holds credential fields; the admin may also move (`tenant`)
    or rename (`ident`) after its form checked them. `reveal`: as for integration_upsert.
    `as_read`: `integration` is as the caller read it from the database (nothing assigned to
    it since; the API's PATCH): on PostgreSQL it is then written in one statement that is
    kept only if the row is still as read, with no lock taken first; else as above.
    """
    if as_read and compiled_write.can_guard(router.db_for_write(Integration)):
        # As integration_upsert's replace: written without a lock when nobody wrote it since.
        precondition.check(integration)
        if _change_unless_raced(
            integration, data, actor=actor, action=AuditAction.UPDATE, reveal=reveal
        ):
            return integration
    with transaction.atomic():
        current = _locked(integration)
        precondition.check(current)
        _change(current, data, actor=actor, action=AuditAction.UPDATE, reveal=reveal)
    return current


def integration_rollback(
    *,
    integration: Integration,
    number: int,
    actor: Actor,
    precondition: Precondition = NO_PRECONDITION,
    reveal: bool = False,
) -> Integration:
    """Make the values of version `number` the current ones, as a new version. Needs no
    decryption (a token without the `secrets` scope may undo its own bad write). Raises
    VersionNotFound for a version that does not exist or is no longer kept. `reveal`: as for
    integration_upsert (the answer's reveal is written with the change, or alone when the
    version is the current one already)."""
    with transaction.atomic():
        current = _locked(integration)
        precondition.check(current)
        version = IntegrationVersion.objects.filter(integration=current, number=number).first()
        if version is None:
            raise VersionNotFound(number)
        data = history.values_of(version, type(current))
        _change(current, data, actor=actor, action=AuditAction.ROLLBACK, reveal=reveal)
    return current


def integration_delete(
    *, integration: Integration, actor: Actor, precondition: Precondition = NO_PRECONDITION
) -> None:
    """Soft delete: the row stays as history; the id can be created again.

    Conditional: only a live row is deleted, in one UPDATE. One deleted since it was read
    (a racing delete) raises IntegrationNotFound and keeps its first deleted_at and updated_by.
    """
    now = timezone.now()
    with transaction.atomic():
        if precondition != NO_PRECONDITION:
            precondition.check(_locked(integration))
        tenant_hold_live(tenant=integration.tenant)
        deleted = (
            Integration.objects.non_polymorphic()
            .filter(pk=integration.pk)
            .update(deleted_at=now, updated_by=actor.name[:150], updated_at=now)
        )
        if not deleted:
            raise IntegrationNotFound(integration.ident)
        history.record_event(integration, action=AuditAction.DELETE, actor=actor)
    integration.deleted_at = now
    integration.updated_by = actor.name[:150]
    integration.updated_at = now


def integration_restore(*, integration: Integration, actor: Actor) -> None:
    """Undo a soft delete, unless the id has been created again since (ValidationError)."""
    with transaction.atomic():
        tenant_hold_live(tenant=integration.tenant)
        taken = Integration.objects.filter(tenant_id=integration.tenant_id, ident=integration.ident)
        if taken.exists():
            raise ValidationError(
                f"'{integration.ident}' has been created again since; delete that one first."
            )
        now = timezone.now()
        restored = (
            Integration.all_objects.non_polymorphic()
            .filter(pk=integration.pk, deleted_at__isnull=False)
            .update(deleted_at=None, updated_by=actor.name[:150], updated_at=now)
        )
        if restored:
            history.record_event(integration, action=AuditAction.RESTORE, actor=actor)
    integration.deleted_at = None


def integration_reveals_record(
    *, integrations: list[Integration], actor: Actor, read: bool = False
) -> None:
    """Audit that a response carries the secrets of `integrations` in clear (one `reveal`
    event each, written in one statement). With `read` (the response is a read of the stored
    secrets, not a write's echo), their `last_used_at` too (integration_used_record): when
    one is due, both in one statement (compiled_write.one_statement), so that a failure keeps
    neither; the instances show the new value. Call it before the response is rendered: a
    reveal is never missing from the trail, even when rendering then fails."""
    now = timezone.now()
    # No BEGIN and COMMIT on PostgreSQL: every read of a rarely read integration has its
    # last-used-at due, so this is on the path of most reads.
    with compiled_write.one_statement(router.db_for_write(Integration)):
        if read:
            integration_used_record(integrations=integrations, now=now)
        history.record_reveals(integrations, actor=actor)


# `last_used_at` is for people ("is this integration still read?"): a minute of precision is
# plenty and spares a write on most reads, as for API tokens (tenants.authentication).
LAST_USED_PRECISION = timedelta(minutes=1)


def integration_used_record(*, integrations: list[Integration], now: datetime | None = None) -> int:
    """Note that an API token read the secrets of `integrations` at `now` (default: now):
    `last_used_at` is written for those whose stored value is older than LAST_USED_PRECISION
    (or empty), in one UPDATE, and none when all are fresh (no statement at all). The
    conditional UPDATE keeps racing readers to one write a minute per integration. Neither
    `version` nor `updated_at` moves. Returns how many rows were written; the instances get
    the new value. Inside compiled_write.one_statement the UPDATE is written with its
    statement, and the count returned is of the rows it was sent for."""
    now = now or timezone.now()
    stale = used_due(integrations, now)
    if not stale:
        return 0
    alias = router.db_for_write(Integration)
    set_to, older_than = used_params(now, connections[alias])
    keys = ", ".join(["%s"] * len(stale))
    params = [set_to, *(integration.pk for integration in stale), older_than]
    written = compiled_write.execute(alias, used_update_sql(alias, keys), params)
    for integration in stale:
        integration.last_used_at = now
    return len(stale) if written is None else written


def used_due(integrations: list[Integration], now: datetime) -> list[Integration]:
    """Those of `integrations` whose last_used_at is older than LAST_USED_PRECISION, or empty."""
    return [
        integration
        for integration in integrations
        if integration.last_used_at is None or now - integration.last_used_at > LAST_USED_PRECISION
    ]


@cache
def used_update_sql(alias: str, keys: str) -> str:
    """The UPDATE that notes a read's last use (integration_used_record's), of the rows whose
    keys `keys` gives (SQL: "%s, %s" for keys as parameters, or a subquery), due when their
    `last_used_at` is older than LAST_USED_PRECISION or empty; parameters: used_params(). As
    the ORM would write `.filter(pk__in=…).filter(Q(last_used_at=None) |
    Q(last_used_at__lt=…)).update(last_used_at=…)`, built once per `keys` (a read renders at
    most LIST_PAGE_MAX) rather than on every read with secrets. Deleted rows too: the read saw
    them live, and its answer and its reveal event go out even when a delete commits in
    between."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    table = quote(Integration._meta.db_table)
    key = quote(compiled_write.column_of(Integration, "pk"))
    last_used = quote(compiled_write.column_of(Integration, "last_used_at"))
    due = f"{key} IN ({keys}) AND ({last_used} IS NULL OR {last_used} < %s)"
    # Identifiers from the model, quoted by the backend; values are parameters.
    if not connection.features.has_select_for_update:
        return f"UPDATE {table} SET {last_used} = %s WHERE {due}"  # noqa: S608
    # The due rows are locked in key order first: an UPDATE locks rows in whatever order its
    # plan reads them (a hash join's for a page's keys), and two reads of overlapping pages
    # locking in different orders deadlock. A row another read wrote meanwhile is no longer
    # due when its lock is granted (FOR UPDATE checks the WHERE again), and is left. The
    # locking SELECT is an ARRAY(…), which PostgreSQL runs once, before the UPDATE (an
    # InitPlan): as `IN (SELECT …)`, a plan made on tables without statistics (a fresh
    # database, where every table seems to hold a row) ran it again for each row, and a page
    # of 1,000 took over 70 s.
    return (
        f"UPDATE {table} SET {last_used} = %s WHERE {key} = ANY (ARRAY("  # noqa: S608
        f"SELECT {key} FROM {table} WHERE {due} ORDER BY {key} FOR UPDATE))"
    )


def used_params(now: datetime, connection: Any) -> tuple[Any, Any]:
    """used_update_sql's values, as the database takes them: the new last use (`now`), and
    the moment before which one is due (LAST_USED_PRECISION before it)."""
    moment = Integration._meta.get_field("last_used_at")
    return (
        moment.get_db_prep_value(now, connection),
        moment.get_db_prep_value(now - LAST_USED_PRECISION, connection),
    )


# The row reads of writes, compiled once per provider (config.compiled_query), without the
# ORM's per-request query building: SELECT … FOR UPDATE of the parent and child rows, only
# while their tenant is live, and on PostgreSQL FOR SHARE of the tenant row in the same
# statement (what tenant_hold_live takes: a tenant's writes do not wait for each other, its
# soft delete waits for them). SQLite has no row locks and runs one write transaction at a
# time: there the tenant condition alone does it.
def _live_rows_locked(provider: type[Integration]) -> QuerySet[Integration, Integration]:
    link = provider._meta.parents.get(Integration)
    if link is None:
        raise ValueError(f"{provider.__name__} is not a provider of Integration.")
    return _live_rows(provider).select_for_update(of=("self", link.name))


def _live_rows(provider: type[Integration]) -> QuerySet[Integration, Integration]:
    # non_polymorphic: the rows are of `provider` already; skipping django-polymorphic's
    # downcast spares a content-type lookup on the first request of a process.
    return provider.objects.non_polymorphic().filter(tenant__deleted_at=None)


def _tenant_share_lock(connection) -> str:
    if connection.vendor != "postgresql":
        return ""
    return f" FOR SHARE OF {connection.ops.quote_name(Tenant._meta.db_table)}"


_FOR_UPDATE_BY_IDENT: CompiledPerModel[Integration] = CompiledPerModel(
    lambda provider, tenant_id, ident: _live_rows_locked(provider).filter(
        tenant_id=tenant_id, ident=ident
    ),
    int,
    str,
    lock_suffix=_tenant_share_lock,
)
_FOR_UPDATE_BY_TENANT_NAME: CompiledPerModel[Integration] = CompiledPerModel(
    lambda provider, tenant_name, ident: (
        _live_rows_locked(provider)
        .filter(tenant__name=tenant_name, ident=ident)
        .select_related("tenant")
    ),
    str,
    str,
    lock_suffix=_tenant_share_lock,
)
_LIVE_BY_IDENT: CompiledPerModel[Integration] = CompiledPerModel(
    lambda provider, tenant_id, ident: _live_rows(provider).filter(
        tenant_id=tenant_id, ident=ident
    ),
    int,
    str,
)
_LIVE_BY_TENANT_NAME: CompiledPerModel[Integration] = CompiledPerModel(
    lambda provider, tenant_name, ident: (
        _live_rows(provider).filter(tenant__name=tenant_name, ident=ident).select_related("tenant")
    ),
    str,
    str,
)
# The guard of a write decided without a lock: the row, still at the version read, locked as
# the locked reads lock it (the same rows in the same order: no deadlock between the two).
_STILL_AS_READ: CompiledPerModel[Integration] = CompiledPerModel(
    # Value(): a positive field's lookup would drop the (negative) placeholder as out of range.
    lambda provider, pk, version: _live_rows_locked(provider).filter(pk=pk, version=Value(version)),
    int,
    int,
    lock_suffix=_tenant_share_lock,
)
_FOR_UPDATE_BY_PK: CompiledPerModel[Integration] = CompiledPerModel(
    lambda provider, pk: _live_rows_locked(provider).filter(pk=pk),
    int,
    lock_suffix=_tenant_share_lock,
)


def _locked(integration: Integration) -> Integration:
    """The live row of `integration`, locked for this transaction, its tenant held live (one
    statement); IntegrationNotFound if it was deleted since it was read, TenantNotFound if its
    tenant was."""
    current = _FOR_UPDATE_BY_PK.of(type(integration)).first(integration.pk)
    if current is None:
        tenant_hold_live(tenant=integration.tenant)  # TenantNotFound when that is the reason
        raise IntegrationNotFound(integration.ident)
    current.tenant = integration.tenant  # known already: saves a query
    return current


@sensitive_variables("data")
def _insert(
    integration: Integration, data: dict[str, Any], actor: Actor, *, reveal: bool = False
) -> None:
    for field in type(integration).credential_fields():
        if isinstance(field, SecretField) and data.get(field.name) == MASK:
            raise ValidationError({field.name: [MASK_ON_CREATE]})
    _assign(integration, data)
    integration.updated_by = actor.name[:150]
    integration.version = 1
    # What django-polymorphic's save() does first: the row records its provider's type.
    integration.pre_save_polymorphic(using=router.db_for_write(Integration))
    compiled_write.insert_child(integration)  # both tables, one statement on PostgreSQL
    changes = history.changes_of(type(integration)(), data)
    history.record_change(
        integration, action=AuditAction.CREATE, changes=changes, actor=actor, reveal=reveal
    )


@sensitive_variables("data")
def _change(
    integration: Integration,
    data: dict[str, Any],
    *,
    actor: Actor,
    action: AuditAction,
    reveal: bool = False,
    guarded: bool = False,
) -> None:
    """Assign what in `data` differs from the stored values and write only that, with its
    records; write nothing when nothing differs (but the `reveal` event, if asked).
    `guarded`: see _change_unless_raced."""
    changes = history.changes_of(integration, data)
    # The row as read, which `guarded` writes only if it is still so (_change_unless_raced).
    guard = (
        _STILL_AS_READ.of(type(integration)).statement(integration.pk, integration.version)
        if guarded
        else None
    )
    alias = router.db_for_write(Integration)
    if not changes:
        # Guarded, nothing to write is still checked: a row or tenant deleted since the read
        # must not be answered (nor its secrets revealed) as if live.
        if guard is not None or reveal:
            with compiled_write.one_statement(alias, guard=guard):
                if reveal:
                    history.record_reveals([integration], actor=actor)
        return
    _assign(integration, {name: data[name] for name in changes})
    integration.updated_by = actor.name[:150]
    integration.version += 1
    # Only these columns, as save(update_fields=...) would write them, with cached SQL; the
    # row's UPDATEs join its records' statement (history.record_change) on PostgreSQL.
    with compiled_write.one_statement(alias, guard=guard):
        compiled_write.update(integration, [*changes, "updated_by", "updated_at", "version"])
        history.record_change(
            integration, action=action, changes=changes, actor=actor, reveal=reveal
        )


@sensitive_variables("data")
def _change_unless_raced(
    integration: Integration,
    data: dict[str, Any],
    *,
    actor: Actor,
    action: AuditAction,
    reveal: bool,
) -> bool:
    """_change of a row read without a lock, in one statement kept only if the row is still as
    read: same version, live, its tenant live (compiled_write.one_statement's guard, which
    locks them as the locked read does). PostgreSQL only. True when written (or nothing to
    write); False when another write got there first: nothing was written, and `integration`
    holds the values assigned to it (the caller reads the row again, locked)."""
    alias = router.db_for_write(Integration)
    # The guard finding the row changed, deleted or its tenant deleted; the racing write's
    # version number taken first (a real constraint error is raised again by the locked write).
    with _lost_race(alias, taken=lambda error: True) as lost:
        _change(integration, data, actor=actor, action=action, reveal=reveal, guarded=True)
    return not lost


@sensitive_variables("data")
def _insert_unless_raced(
    integration: Integration,
    tenant: Tenant | str,
    data: dict[str, Any],
    actor: Actor,
    *,
    reveal: bool,
) -> bool:
    """_insert of the new `integration` of `tenant` (a Tenant, or a tenant's name) in one
    statement (PostgreSQL): the tenant held live first (FOR SHARE, as _hold_live holds it, its
    key read there for a name), then both rows, the version and the events
    (compiled_write.one_statement with defer_keys). True when written, the instance keyed;
    False when it lost a race (the id created first by another write, the tenant not live or
    deleted since, a deadlock): nothing was written, and the caller takes the locked
    attempts. ValidationError (a mask given for a secret) as _insert raises it."""
    alias = router.db_for_write(Integration)
    if isinstance(tenant, Tenant):
        integration.tenant = tenant
    else:
        integration.tenant_id = compiled_write.guard_column("id")
    # The tenant not live (the locked attempts answer TenantNotFound); the id taken first.
    with (
        _lost_race(alias, taken=_is_live_ident_taken) as lost,
        compiled_write.one_statement(alias, guard=tenant_hold_statement(tenant), defer_keys=True),
    ):
        _insert(integration, data, actor, reveal=reveal)
    return not lost


def _can_be_held(tenant: Tenant | str) -> bool:
    # A name no tenant could have is never looked up: the locked attempts answer it.
    return isinstance(tenant, Tenant) or tenant_name_could_be_stored(tenant)


@contextmanager
def _lost_race(alias: str, *, taken: Callable[[IntegrityError], bool]) -> Iterator[list[bool]]:
    """Around a write in one statement that may lose a race: yields a list that holds True
    once the block lost one (RowsNotAsExpected: its guard found nothing as expected; an
    IntegrityError for which `taken` says a racing write took the key; a deadlock or a
    serialization failure). Nothing of the block is then kept; other errors are raised. In a
    caller's transaction the block runs in a savepoint, so that a lost race does not fail
    all of it."""
    lost: list[bool] = []
    keeps_callers = (
        transaction.atomic(using=alias) if connections[alias].in_atomic_block else nullcontext()
    )
    try:
        with keeps_callers:
            yield lost
    except compiled_write.RowsNotAsExpected:
        lost.append(True)
    except IntegrityError as error:
        if not taken(error):
            raise
        lost.append(True)
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) not in _LOST_RACE_STATES:
            raise
        lost.append(True)


# deadlock_detected, serialization_failure (PostgreSQL, Appendix A "Error Codes"): the locked
# write is the answer to either.
_LOST_RACE_STATES = frozenset({"40P01", "40001"})


@sensitive_variables("data", "value")
def _assign(integration: Integration, data: dict[str, Any]) -> None:
    allowed = {"tenant", "ident", *(field.name for field in type(integration).credential_fields())}
    unexpected = set(data) - allowed
    if unexpected:
        raise ValueError(f"Not fields of {type(integration).__name__}: {sorted(unexpected)}")
    for name, value in data.items():
        setattr(integration, name, value)


def _live_row(
    provider: type[Integration], tenant: Tenant | str, ident: str, *, locked: bool
) -> Integration | None:
    """The live row of `ident` in `tenant` (a Tenant, or its name), its tenant set on it; None
    when there is none, or when the tenant is not live. `locked`: FOR UPDATE, its tenant held
    live (FOR SHARE), inside a transaction."""
    if isinstance(tenant, Tenant):
        by_ident = _FOR_UPDATE_BY_IDENT if locked else _LIVE_BY_IDENT
        existing = by_ident.of(provider).first(tenant.pk, ident)
        if existing is not None:
            existing.tenant = tenant  # known already: saves a query
        return existing
    if not tenant_name_could_be_stored(tenant):
        return None  # never looked up (a NUL is an error in a query); _hold_live says 422
    by_name = _FOR_UPDATE_BY_TENANT_NAME if locked else _LIVE_BY_TENANT_NAME
    return by_name.of(provider).first(tenant, ident)


def _hold_live(tenant: Tenant | str) -> Tenant:
    """With no live row to lock: the tenant, held live for the write (TenantNotFound when it
    is not live)."""
    if isinstance(tenant, Tenant):
        tenant_hold_live(tenant=tenant)
        return tenant
    return tenant_hold_live_by_name(name=tenant)


def _live_of_another_type(tenant: Tenant, ident: str) -> Integration | None:
    # For preconditions only: If-None-Match: * also fails when the id is taken by another
    # type (the write would fail anyway, but 412 is what the client asked to be told).
    return Integration.objects.non_polymorphic().filter(tenant=tenant, ident=ident).first()


def _raise_type_conflict(tenant: Tenant, ident: str, provider: type[Integration]) -> None:
    """After a lost insert race: the live row of another provider is a type error; of this
    provider, or none (deleted since), is not, and the caller retries."""
    other = (
        Integration.objects.non_polymorphic()
        .filter(tenant=tenant, ident=ident)
        .exclude(polymorphic_ctype=ctype_of(provider))
        .first()
    )
    if other is not None:
        raise ValidationError(
            {
                "type": [
                    f"Integration '{ident}' is a {provider_of(other).provider_key} "
                    "integration; its type cannot change."
                ]
            }
        )
