"""config.compiled_write: a row written with cached SQL is the row save() would write."""

import copy

import pytest
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import signals
from django.test.utils import CaptureQueriesContext

from config import compiled_write
from integrations.models import Integration, IntegrationVersion
from integrations.providers import all_providers
from integrations.providers.twilio import TwilioIntegration
from integrations.sealed import SealedSecret
from tenants.models import AuditAction, AuditEvent, Channel
from tests.db_faults import allow_inserts, divide_by_zero_on_writes, skip_inserts
from tests.factories import PROVIDER_FACTORIES, TenantFactory, TwilioFactory

pytestmark = pytest.mark.django_db

# The models the hot path writes through compiled_write, which skips signals and save().
WRITTEN = (AuditEvent, IntegrationVersion, Integration, *all_providers())


def event(**overrides) -> AuditEvent:
    values = {
        "actor": "tests",
        "channel": Channel.API,
        "action": AuditAction.REVEAL,
        "changes": {"revealed": ["password"], "note": "ü\u2028"},
        "client_address": "192.0.2.7",
    }
    return AuditEvent(**{**values, **overrides})


def test_an_insert_stores_what_save_stores_and_sets_the_key():
    tenant = TenantFactory()
    fast, slow = event(tenant=tenant), event(tenant=tenant)

    compiled_write.insert(fast)
    slow.save(force_insert=True)

    assert fast.pk is not None and fast.pk != slow.pk
    assert not fast._state.adding and fast._state.db == "default"
    stored = AuditEvent.objects.get(pk=fast.pk)
    for field in AuditEvent._meta.concrete_fields:
        if field.name not in ("id", "occurred_at"):
            assert getattr(stored, field.attname) == getattr(slow, field.attname), field.name
    assert stored.changes == {"revealed": ["password"], "note": "ü\u2028"}
    assert stored.occurred_at == fast.occurred_at


def plain(value):
    return value.reveal() if isinstance(value, SealedSecret) else value


def unsaved(factory, tenant, ident: str) -> Integration:
    integration = factory.build(tenant=tenant, ident=ident, version=1)
    integration.pre_save_polymorphic()  # what the create service does before insert_child
    return integration


@pytest.mark.parametrize("factory", PROVIDER_FACTORIES, ids=lambda f: f._meta.model.__name__)
def test_a_child_insert_stores_both_tables_as_save_does_in_one_statement(factory):
    tenant = TenantFactory()
    fast = unsaved(factory, tenant, "fast")
    slow = copy.deepcopy(fast)
    slow.ident = "slow"

    with CaptureQueriesContext(connection) as queries:
        compiled_write.insert_child(fast)
    slow.save(force_insert=True)

    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)
    model = type(fast)
    assert fast.pk is not None and fast.pk == fast.id and fast.pk != slow.pk
    assert not fast._state.adding and fast._state.db == "default"
    stored = Integration.objects.get(pk=fast.pk)  # polymorphic: read as its provider
    assert type(stored) is model
    slow = Integration.objects.get(pk=slow.pk)
    different = {"id", "ident", "created_at", "updated_at", model._meta.pk.name}
    for field in model._meta.concrete_fields:
        if field.name not in different:
            assert plain(getattr(stored, field.attname)) == plain(getattr(slow, field.attname))
    assert (stored.ident, stored.created_at) == ("fast", fast.created_at)


def test_a_child_insert_a_constraint_refuses_keeps_neither_row():
    tenant = TenantFactory()
    compiled_write.insert_child(unsaved(PROVIDER_FACTORIES[0], tenant, "taken"))
    rows = (Integration.objects.count(), PROVIDER_FACTORIES[0]._meta.model.objects.count())

    with pytest.raises(IntegrityError), transaction.atomic():
        compiled_write.insert_child(unsaved(PROVIDER_FACTORIES[0], tenant, "taken"))

    assert (Integration.objects.count(), PROVIDER_FACTORIES[0]._meta.model.objects.count()) == rows


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_child_row_a_trigger_drops_fails_the_insert_and_keeps_no_parent_row():
    """Autocommit, as production runs: the statement checks its child row itself."""
    tenant = TenantFactory()
    skip_inserts("integrations_twiliointegration")
    try:
        with pytest.raises(DatabaseError, match="other rows written than expected"):
            compiled_write.insert_child(unsaved(TwilioFactory, tenant, "dropped"))
    finally:
        allow_inserts("integrations_twiliointegration")

    assert not Integration.all_objects.filter(ident="dropped").exists()


def test_an_update_writes_only_the_named_columns_parent_table_first():
    integration = TwilioFactory(account="AC-old", password="old")
    stale = TwilioIntegration.objects.get(pk=integration.pk)
    Integration.objects.filter(pk=integration.pk).update(updated_by="someone else")
    before = stale.updated_at

    stale.account = "AC-new"
    stale.password = SealedSecret.from_plaintext("new")
    stale.version = 7
    stale.ident = "not-written"  # not named: must stay as stored
    with CaptureQueriesContext(connection) as queries:
        compiled_write.update(stale, ["account", "password", "updated_at", "version"])

    tables = [query["sql"].split()[1].strip('"`') for query in queries.captured_queries]
    assert tables == ["integrations_integration", "integrations_twiliointegration"]
    stored = TwilioIntegration.objects.get(pk=integration.pk)
    assert (stored.account, stored.password.reveal(), stored.version) == ("AC-new", "new", 7)
    assert stored.updated_at > before  # auto_now, as save() sets it
    assert stored.updated_by == "someone else"  # not named
    assert stored.ident == integration.ident


def test_an_update_of_a_missing_row_fails_loudly():
    integration = TwilioFactory()
    gone = TwilioIntegration.objects.get(pk=integration.pk)
    gone.pk = gone.integration_ptr_id = 10**9

    with pytest.raises(DatabaseError, match="expected"):
        compiled_write.update(gone, ["version"])


# Values an array literal must escape (PostgreSQL sends many rows as one array per column).
AWKWARD = [
    '{"a", "b"}',
    "NULL",
    "null",
    'quote " and \\ backslash',
    "a,b",
    "{}",
    "",
    " x ",
    "ü\u2028",
]


def test_many_rows_store_what_save_stores_with_one_text_for_any_count():
    tenant = TenantFactory()
    rows = [
        # integration_pk stays NULL: a NULL in an array, not the text "NULL".
        event(tenant=tenant, actor=value, request_id=value, changes={"value": value, "k": [value]})
        for value in AWKWARD * 2  # 18 rows: more values than UNNEST_ABOVE_PARAMETERS
    ]
    twins = copy.deepcopy(rows)

    sent: list[str] = []

    def record(execute, sql, params, many, context):
        sent.append(sql)  # the text with its placeholders, as psycopg gets it
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        compiled_write.insert_all(rows)
        compiled_write.insert_all([event(tenant=tenant) for _ in range(18)])
        compiled_write.insert_all([event(tenant=tenant) for _ in range(3)])
    for twin in twins:
        twin.save(force_insert=True)

    many, more, few = sent
    if connection.vendor == "postgresql":
        # One text for any count above UNNEST_ABOVE_PARAMETERS; below it, plain parameters.
        assert many == more and "UNNEST" in many
        assert "UNNEST" not in few and few.count("%s") == 3 * len(AuditEvent._meta.fields) - 3
    assert [row.pk for row in rows] == sorted(row.pk for row in rows)  # keys in row order
    for row, twin in zip(rows, twins, strict=True):
        stored, saved = AuditEvent.objects.get(pk=row.pk), AuditEvent.objects.get(pk=twin.pk)
        for field in AuditEvent._meta.concrete_fields:
            if field.name not in ("id", "occurred_at"):
                assert getattr(stored, field.attname) == getattr(saved, field.attname)
        assert stored.integration_pk is None
        assert (stored.actor, stored.changes["value"]) == (row.actor, row.changes["value"])


def test_what_it_cannot_write_is_refused():
    with pytest.raises(ValueError, match="parent models"):
        compiled_write.insert(TwilioIntegration(tenant=TenantFactory(), ident="twilio"))
    with pytest.raises(ValueError, match="not a column"):
        compiled_write.update(TwilioFactory(), ["versions"])
    with pytest.raises(ValueError, match="one parent"):
        compiled_write.insert_child(event(tenant=TenantFactory()))


@pytest.mark.parametrize("model", WRITTEN, ids=lambda model: model.__name__)
def test_nothing_listens_to_the_models_it_writes(model):
    """Skipping signals and save() is right only while no receiver and no override exists."""
    for signal in (signals.pre_save, signals.post_save):
        assert not signal.has_listeners(model), f"{signal} has receivers for {model.__name__}"
    own_save = [
        klass.__name__
        for klass in model.__mro__
        if "save" in vars(klass) and klass.__module__.startswith(("integrations", "tenants"))
    ]
    assert own_save == []


def test_a_version_can_be_deleted_by_one_plain_delete():
    """integrations.history prunes versions with one DELETE of its own: right only while no
    row refers to a version and no delete signal listens (else the ORM's delete would do more)."""
    assert list(IntegrationVersion._meta.related_objects) == []
    for signal in (signals.pre_delete, signals.post_delete):
        assert not signal.has_listeners(IntegrationVersion)


def test_many_rows_go_in_statements_the_database_takes():
    tenant = TenantFactory()
    events = [event(tenant=tenant, integration_ident=f"i{number}") for number in range(250)]

    with CaptureQueriesContext(connection) as queries:
        compiled_write.insert_all(events)

    # One statement on PostgreSQL; SQLite takes 999 parameters: 83 rows of 12 columns each.
    expected = 1 if connection.vendor == "postgresql" else 4
    assert len(queries.captured_queries) == expected
    stored = AuditEvent.objects.filter(tenant=tenant).order_by("pk")
    assert [row.integration_ident for row in stored] == [f"i{number}" for number in range(250)]
    if connection.features.can_return_columns_from_insert:
        assert [e.pk for e in events] == [row.pk for row in stored]


def test_rows_of_two_models_are_refused_and_none_is_nothing():
    compiled_write.insert_all([])
    with pytest.raises(ValueError, match="one model"):
        compiled_write.insert_all([event(), IntegrationVersion()])


# --- one_statement ----------------------------------------------------------------------------


def events_of(tenant) -> list[str]:
    return list(AuditEvent.objects.filter(tenant=tenant).values_list("actor", flat=True))


def test_writes_inside_one_statement_are_stored_together():
    tenant = TenantFactory()
    integration = TwilioFactory(tenant=tenant, account="AC-old")
    integration.account = "AC-new"

    with CaptureQueriesContext(connection) as queries, compiled_write.one_statement("default"):
        compiled_write.update(integration, ["account"])
        compiled_write.insert_all([event(tenant=tenant, actor="one"), event(tenant=tenant)])
        compiled_write.insert(event(tenant=tenant, actor="two"))

    assert TwilioIntegration.objects.get(pk=integration.pk).account == "AC-new"
    assert sorted(events_of(tenant)) == ["one", "tests", "two"]
    writes = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith(("WITH", "UP", "IN"))
    ]
    if connection.vendor == "postgresql":
        # One round trip: the UPDATE and both INSERTs are parts of one WITH statement.
        assert len(writes) == 1 and writes[0].startswith("WITH"), writes
    else:
        assert len(writes) == 3, writes


@pytest.mark.postgres
def test_a_nested_block_joins_the_outer_statement_and_an_update_counts_its_rows():
    tenant = TenantFactory()
    integration = TwilioFactory(tenant=tenant)
    integration.account = "AC-nested"

    with CaptureQueriesContext(connection) as queries, compiled_write.one_statement("default"):
        compiled_write.insert(event(tenant=tenant, actor="outer"))
        with compiled_write.one_statement("default"):
            compiled_write.update(integration, ["account"])
        assert events_of(tenant) == []  # nothing sent before the outer block ends

    statements = [q["sql"] for q in queries.captured_queries]
    assert sum(sql.startswith("WITH") for sql in statements) == 1, statements
    assert events_of(tenant) == ["outer"]
    assert TwilioIntegration.objects.get(pk=integration.pk).account == "AC-nested"


def test_a_part_that_updates_no_row_keeps_nothing_of_the_block():
    tenant = TenantFactory()
    integration = TwilioFactory(tenant=tenant, account="AC-kept")
    gone = TwilioIntegration.objects.get(pk=integration.pk)
    gone.pk = gone.integration_ptr_id = integration.pk + 1000  # no such row
    gone.account = "AC-lost"

    with (
        pytest.raises(DatabaseError, match="expected"),
        transaction.atomic(),  # the caller's transaction, which the failure ends
        compiled_write.one_statement("default"),
    ):
        compiled_write.insert(event(tenant=tenant, actor="not kept"))
        compiled_write.update(gone, ["account"])

    assert events_of(tenant) == []
    assert TwilioIntegration.objects.get(pk=integration.pk).account == "AC-kept"


def test_an_exception_inside_the_block_sends_nothing():
    tenant = TenantFactory()

    with (
        CaptureQueriesContext(connection) as queries,
        pytest.raises(RuntimeError),
        transaction.atomic(),  # the caller's transaction (SQLite writes as it goes)
        compiled_write.one_statement("default"),
    ):
        compiled_write.insert(event(tenant=tenant))
        if connection.vendor == "postgresql":
            sent = [q["sql"] for q in queries.captured_queries]
            assert not any("INSERT" in sql for sql in sent), sent  # deferred, not sent
        raise RuntimeError("the caller failed")

    assert events_of(tenant) == []


def test_a_part_the_database_refuses_keeps_nothing_of_the_block():
    tenant = TenantFactory()
    integration = TwilioFactory(tenant=tenant, account="AC-kept")
    integration.account = "AC-lost"
    refused = event(tenant=tenant, actor=None)  # a NOT NULL column

    with (
        pytest.raises(DatabaseError),
        transaction.atomic(),
        compiled_write.one_statement("default"),
    ):
        compiled_write.update(integration, ["account"])
        compiled_write.insert(refused)

    assert events_of(tenant) == []
    assert TwilioIntegration.objects.get(pk=integration.pk).account == "AC-kept"


# --- a guard: writes kept only while a locked row is still as read ----------------------------


def guard_on(integration, *, version: int) -> tuple[str, list]:
    """A guard of compiled_write.one_statement: the integration's row at `version`, locked."""
    locked = (
        Integration.objects.non_polymorphic()
        .filter(pk=integration.pk, version=version)
        .select_for_update()
    )
    sql, params = locked.query.get_compiler(using="default").as_sql()
    return sql, list(params)


@pytest.mark.postgres
def test_a_guard_that_finds_its_row_keeps_every_write_of_the_statement():
    tenant = TenantFactory()
    integration = TwilioFactory(tenant=tenant, account="AC-old")
    integration.account = "AC-new"

    with (
        CaptureQueriesContext(connection) as queries,
        compiled_write.one_statement(
            "default", guard=guard_on(integration, version=integration.version)
        ),
    ):
        compiled_write.update(integration, ["account"])
        compiled_write.insert(event(tenant=tenant, actor="kept"))

    assert TwilioIntegration.objects.get(pk=integration.pk).account == "AC-new"
    assert events_of(tenant) == ["kept"]
    [statement] = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("WITH")]
    assert statement.startswith("WITH guard_row AS (SELECT "), statement
    assert statement.count("AND EXISTS (SELECT 1 FROM guard_row)") == 1, statement  # the UPDATE


@pytest.mark.postgres
@pytest.mark.parametrize("why", ["another version", "deleted"])
def test_a_guard_that_finds_no_row_keeps_nothing_and_says_so(why):
    tenant = TenantFactory()
    integration = TwilioFactory(tenant=tenant, account="AC-kept")
    if why == "deleted":
        Integration.all_objects.filter(pk=integration.pk).delete()
    version = integration.version + (1 if why == "another version" else 0)
    integration.account = "AC-lost"

    with (
        pytest.raises(compiled_write.RowsNotAsExpected, match="the guard's row"),
        transaction.atomic(),  # the caller's transaction, which the failure ends
        compiled_write.one_statement("default", guard=guard_on(integration, version=version)),
    ):
        compiled_write.update(integration, ["account"])
        compiled_write.insert(event(tenant=tenant, actor="not kept"))
        compiled_write.execute(
            "default",
            "DELETE FROM tenants_auditevent WHERE tenant_id = %s",
            [tenant.pk],
        )

    assert events_of(tenant) == []
    if why == "another version":
        assert TwilioIntegration.objects.get(pk=integration.pk).account == "AC-kept"


@pytest.mark.postgres
def test_a_division_by_zero_of_the_schemas_own_is_not_taken_for_rows_not_as_expected():
    """The statement's own verdict has its own error: a trigger dividing by zero (or any error
    of the data) stays what it is, and a value spelling the verdict's text is only a value."""
    tenant = TenantFactory()
    integration = TwilioFactory(tenant=tenant, account="AC-kept")
    integration.account = compiled_write.NOT_AS_EXPECTED
    with compiled_write.one_statement(
        "default", guard=guard_on(integration, version=integration.version)
    ):
        compiled_write.update(integration, ["account"])
        compiled_write.insert(event(tenant=tenant, actor=compiled_write.NOT_AS_EXPECTED))
    assert events_of(tenant) == [compiled_write.NOT_AS_EXPECTED]
    integration.refresh_from_db()

    divide_by_zero_on_writes("integrations_twiliointegration")
    integration.account = "AC-lost"
    with (
        pytest.raises(DataError, match="division by zero") as raised,
        transaction.atomic(),
        compiled_write.one_statement(
            "default", guard=guard_on(integration, version=integration.version)
        ),
    ):
        compiled_write.update(integration, ["account"])
        compiled_write.insert(event(tenant=tenant, actor="not kept"))

    assert not isinstance(raised.value, compiled_write.RowsNotAsExpected)
    assert events_of(tenant) == [compiled_write.NOT_AS_EXPECTED]
    stored = TwilioIntegration.objects.get(pk=integration.pk)
    assert stored.account == compiled_write.NOT_AS_EXPECTED


def test_a_guard_is_refused_where_it_cannot_hold():
    tenant = TenantFactory()
    integration = TwilioFactory(tenant=tenant)
    guard = guard_on(integration, version=integration.version)

    if connection.vendor != "postgresql":
        with (
            pytest.raises(ValueError, match="no guard"),
            compiled_write.one_statement("default", guard=guard),
        ):
            pass
        return
    with (
        pytest.raises(ValueError, match="outermost"),
        compiled_write.one_statement("default"),
        compiled_write.one_statement("default", guard=guard),
    ):
        pass
    with (
        pytest.raises(ValueError, match="guard can hold"),
        compiled_write.one_statement("default", guard=guard),
    ):
        compiled_write.execute("default", "UPDATE tenants_tenant SET name = name", [])
    with (
        pytest.raises(ValueError, match="guard can hold"),
        compiled_write.one_statement("default", guard=guard),
    ):
        compiled_write.execute(
            "default", "DELETE FROM tenants_tenant WHERE id = %s OR id = %s", [0, 0]
        )


# --- a read and the writes it calls for, in one statement ------------------------------------


def read_of(integration_pk: int | None = None, **filters) -> tuple[str, list]:
    """(SQL, parameters) of a read of the id, tenant key and ident of the integration of this
    key, or of those matching `filters`."""
    if integration_pk is not None:
        filters["pk"] = integration_pk
    sql, params = (
        Integration.objects.non_polymorphic()
        .filter(**filters)
        .values_list("id", "tenant_id", "ident")
        .query.get_compiler(using="default")
        .as_sql()
    )
    return sql, list(params)


def test_a_read_with_writes_runs_on_postgresql_only():
    integration = TwilioFactory(ident="read-me")
    if connection.vendor != "postgresql":
        with pytest.raises(ValueError, match="PostgreSQL"):
            compiled_write.read_with_writes("default", read_of(integration.pk), 3, [])
        return
    found = compiled_write.read_with_writes("default", read_of(integration.pk), 3, [])
    assert found == ((integration.pk, integration.tenant_id, "read-me"), ())


@pytest.mark.postgres
def test_a_read_with_writes_writes_from_the_row_read_and_counts_them():
    tenant = TenantFactory()
    integration = TwilioFactory(tenant=tenant, ident="read-me")
    insert = compiled_write.insert_from_read(
        event(tenant=None, actor="from the read"),
        {"tenant_id": 1, "integration_pk": 0, "integration_ident": 2},
    )

    found = compiled_write.read_with_writes(
        "default", read_of(integration.pk), 3, [(*insert, compiled_write.EVERY_ROW)]
    )

    assert found == ((integration.pk, tenant.pk, "read-me"), (1,))
    stored = AuditEvent.objects.get(actor="from the read")
    assert (stored.tenant_id, stored.integration_pk, stored.integration_ident) == (
        tenant.pk,
        integration.pk,
        "read-me",
    )


@pytest.mark.postgres
def test_a_read_that_finds_nothing_writes_nothing():
    insert = compiled_write.insert_from_read(event(actor="never"), {"integration_pk": 0})

    found = compiled_write.read_with_writes(
        "default", read_of(10**9), 3, [(*insert, compiled_write.EVERY_ROW)]
    )

    assert found is None
    assert not AuditEvent.objects.filter(actor="never").exists()


@pytest.mark.postgres
def test_a_read_of_rows_writes_for_those_its_condition_holds_and_counts_only_them():
    tenant = TenantFactory()
    for ident in ("keep-1", "skip-2", "keep-3"):
        TwilioFactory(tenant=tenant, ident=ident)
    where = f"{compiled_write.read_column(2)} LIKE 'keep-%%'"
    insert = compiled_write.insert_from_read(
        event(tenant=None, actor="rows"),
        {
            "tenant_id": 1,
            "integration_pk": 0,
            "integration_ident": 2,
            "integration_type": f"upper({compiled_write.read_column(2)})",
        },
        where=where,
    )

    rows, counts = compiled_write.read_rows_with_writes(
        "default", read_of(tenant_id=tenant.pk), 3, [(*insert, where)]
    )

    assert sorted(row[2] for row in rows) == ["keep-1", "keep-3", "skip-2"]
    assert counts == (2,)
    stored = AuditEvent.objects.filter(actor="rows").order_by("integration_ident")
    assert [(e.integration_ident, e.integration_type) for e in stored] == [
        ("keep-1", "KEEP-1"),
        ("keep-3", "KEEP-3"),
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_read_of_rows_whose_counted_write_falls_short_keeps_nothing():
    tenant = TenantFactory()
    for ident in ("a", "b"):
        TwilioFactory(tenant=tenant, ident=ident)
    insert = compiled_write.insert_from_read(
        event(tenant=None, actor="short"), {"integration_pk": 0}
    )
    # Counted against every row read, but written for one of them only.
    short = insert[0].replace(" WHERE TRUE", f" WHERE {compiled_write.read_column(2)} = 'a'")

    with pytest.raises(compiled_write.RowsNotAsExpected):
        compiled_write.read_rows_with_writes(
            "default",
            read_of(tenant_id=tenant.pk),
            3,
            [(short, insert[1], compiled_write.EVERY_ROW)],
        )

    assert not AuditEvent.objects.filter(actor="short").exists()
