"""An outside attacker's look at the hot-path changes: the JOINed read of tenant and integration
(TenantAPIView.live_integration), records rendered without serializer instances
(ProviderSerializer.record), and the compiled INSERT/UPDATE/DELETE (config/compiled_write,
integrations.history, integrations.services).

The oracle for the API's answers is the two-step read the change kept for tenant-scoped tokens
(`tenant_get_live` then `integration_get_live`): every answer of an all-tenants token must be
what that read gives, and every write must store what `Model.save()` stores.
"""

import json

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from rest_framework import serializers

from config import compiled_write
from integrations import selectors
from integrations.api.serializers import UNREADABLE_KEY, json_key, serializer_for
from integrations.exceptions import IntegrationNotFound
from integrations.models import Integration, IntegrationVersion
from integrations.providers import SendGridIntegration, TwilioIntegration, all_providers
from integrations.sealed import MASK
from tenants.exceptions import TenantNotFound
from tenants.models import AuditAction, AuditEvent, Tenant
from tenants.selectors import tenant_get_live
from tests.api.support import JSON
from tests.db_faults import allow_writes, refuse_writes
from tests.factories import FACTORY_FOR_PROVIDER, TenantFactory, TwilioFactory
from tests.integrations.support import raw_column

pytestmark = pytest.mark.django_db

STORED = "-".join(["stored", "twilio", "secret"])
TYPED = "-".join(["typed", "twilio", "secret"])
FAULT = "the database refused this write"
SURROGATE_ERROR = (
    "The JSON body holds a string that is not valid Unicode (an unpaired surrogate escape "
    "such as \\ud800); send text that UTF-8 can encode."
)
NUL_ERROR = "The request contains a NUL character, which no field, id or search accepts."


def _path(tenant: str, ident: str) -> str:
    return f"/1.0/tenants/{tenant}/integrations/{ident}"


def _send(client, method: str, path: str, body: dict | None = None):
    if method == "get":
        return client.get(path)
    if method == "delete":
        return client.delete(path)
    return client.patch(path, json.dumps(body or {"account": "AC-changed"}), content_type=JSON)


def _state(integration: Integration) -> tuple:
    """Everything a refused request must leave as it was."""
    row = Integration.all_objects.non_polymorphic().get(pk=integration.pk)
    return (
        row.deleted_at,
        row.version,
        row.updated_at,
        row.updated_by,
        row.last_used_at,
        raw_column(integration, "password") if hasattr(integration, "password") else None,
        IntegrationVersion.objects.filter(integration_id=integration.pk).count(),
        AuditEvent.objects.count(),
    )


def _two_step(tenant_name: str, ident: str):
    """What the read answered before the JOIN (and still answers tenant-scoped tokens)."""
    try:
        found = selectors.integration_get_live(
            tenant=tenant_get_live(name=tenant_name), ident=ident
        )
    except (TenantNotFound, IntegrationNotFound) as error:
        return type(error), str(error)
    return type(found), found.pk, found.tenant.pk


def _joined(tenant_name: str, ident: str):
    try:
        found = selectors.integration_get_live_by_name(tenant_name=tenant_name, ident=ident)
    except (TenantNotFound, IntegrationNotFound) as error:
        return type(error), str(error)
    return type(found), found.pk, found.tenant.pk


# --- tenant isolation through live_integration -----------------------------------------------

ODD_TENANTS = [
    "acme%00",
    "%00",
    "%ED%A0%80",
    "acme%ED%A0%80",
    "acme%0A",
    "ACME",
    "Acme",
    "a" * 65,
    "acme%2Fintegrations",
    "acme%252F",
    "acme ",
    "%C3%A1cme",
]
ODD_IDENTS = [
    "twilio%00",
    "%ED%A0%80",
    "twilio%0A",
    "TWILIO",
    "Twilio",
    "t" * 65,
    "twilio%2Fx",
    "twilio ",
    "tw%C3%AFlio",
]
METHODS = ["get", "patch", "delete"]


@pytest.fixture
def victims(tenant, other_tenant):
    """acme and globex each hold a Twilio record with a secret of their own."""
    return (
        TwilioFactory(tenant=tenant, password=STORED + "-acme"),
        TwilioFactory(tenant=other_tenant, password=STORED + "-globex"),
    )


@pytest.mark.parametrize("method", METHODS)
def test_a_tenant_token_on_another_tenants_url_is_refused_and_learns_nothing(
    method, victims, tenant_client
):
    _, globex = victims
    before = _state(globex)
    for ident in ("twilio", "missing", "sendgrid"):
        response = _send(tenant_client, method, _path("globex", ident))
        assert response.status_code == 403, (ident, response.content)
        assert response.json() == {"error": "This token may not act on tenant 'globex'."}
    # A tenant that does not exist answers the same (nothing tells which tenants exist).
    response = _send(tenant_client, method, _path("nowhere", "twilio"))
    assert response.status_code == 403
    assert response.json() == {"error": "This token may not act on tenant 'nowhere'."}
    assert _state(globex) == before


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("tenant_name", ODD_TENANTS)
def test_odd_tenant_names_in_the_url(method, tenant_name, victims, global_client, tenant_client):
    """All-tenants token: 422 and no record; tenant-scoped token: 403. Nothing changes."""
    acme, globex = victims
    before = (_state(acme), _state(globex))
    response = _send(global_client, method, _path(tenant_name, "twilio"))
    body = response.json()
    if "%00" in tenant_name:  # refused before any view, as always (a 400 of its own)
        assert (response.status_code, body) == (400, {"error": NUL_ERROR})
    elif "%2F" in tenant_name:  # decoded before routing: no route, as always
        assert response.status_code == 404 and "No API route" in body["error"]
    else:
        assert response.status_code == 422, response.content
    assert set(body) == {"error"}
    assert STORED not in response.content.decode("utf-8", "replace")
    if response.status_code == 422:
        assert body["error"].startswith("Tenant '"), body
        assert body["error"].endswith("' does not exist or has been deleted."), body
    refused = _send(tenant_client, method, _path(tenant_name, "twilio"))
    expected = 400 if "%00" in tenant_name else 404 if "%2F" in tenant_name else 403
    assert refused.status_code == expected, refused.content
    assert set(refused.json()) == {"error"}
    assert (_state(acme), _state(globex)) == before


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ident", ODD_IDENTS)
def test_odd_ids_answer_an_all_tenants_token_as_a_tenant_token(
    method, ident, victims, global_client, tenant_client
):
    """The all-tenants (JOINed) read and the tenant-scoped (two-step) read give one answer."""
    acme, _ = victims
    before = _state(acme)
    joined = _send(global_client, method, _path("acme", ident))
    assert _state(acme) == before
    two_step = _send(tenant_client, method, _path("acme", ident))
    assert _state(acme) == before
    assert joined.status_code == two_step.status_code, (joined.content, two_step.content)
    assert joined.status_code == (400 if "%00" in ident else 404 if "%2F" in ident else 422)
    assert joined.json() == two_step.json()
    assert STORED not in joined.content.decode("utf-8", "replace")


@pytest.mark.parametrize("method", METHODS)
def test_a_deleted_tenant_is_422_to_an_all_tenants_token(method, victims, global_client):
    acme, _ = victims
    Tenant.all_objects.filter(pk=acme.tenant.pk).update(deleted_at="2026-01-01T00:00:00Z")
    before = _state(acme)
    response = _send(global_client, method, _path("acme", "twilio"))
    assert response.status_code == 422, response.content
    assert response.json() == {"error": "Tenant 'acme' does not exist or has been deleted."}
    assert STORED not in response.content.decode()
    assert _state(acme) == before
    assert _joined("acme", "twilio") == _two_step("acme", "twilio")


@pytest.mark.parametrize("method", METHODS)
def test_a_deleted_integration_is_422_to_an_all_tenants_token(
    method, victims, global_client, tenant_client
):
    acme, _ = victims
    Integration.all_objects.filter(pk=acme.pk).update(deleted_at="2026-01-01T00:00:00Z")
    before = _state(acme)
    joined = _send(global_client, method, _path("acme", "twilio"))
    two_step = _send(tenant_client, method, _path("acme", "twilio"))
    assert joined.status_code == two_step.status_code == 422, joined.content
    assert joined.json() == two_step.json()
    assert STORED not in joined.content.decode()
    assert _state(acme) == before


def test_a_deleted_integration_with_a_live_successor_reads_the_successor(tenant, global_client):
    old = TwilioFactory(tenant=tenant, password=STORED + "-old")
    Integration.all_objects.filter(pk=old.pk).update(deleted_at="2026-01-01T00:00:00Z")
    new = TwilioFactory(tenant=tenant, password=STORED + "-new")
    response = global_client.get(_path("acme", "twilio"))
    assert response.status_code == 200
    assert response.json()["password"] == STORED + "-new"
    assert STORED + "-old" not in response.content.decode()
    assert (
        _joined("acme", "twilio")
        == _two_step("acme", "twilio")
        == (
            TwilioIntegration,
            new.pk,
            tenant.pk,
        )
    )


@pytest.mark.parametrize("method", METHODS)
def test_a_provider_named_id_of_another_type_and_other_ids(
    method, tenant, other_tenant, global_client, tenant_client
):
    """Legacy rows: id 'twilio' holding a SendGrid record; and an id naming no provider."""
    sendgrid = FACTORY_FOR_PROVIDER["sendgrid"](tenant=tenant, ident="twilio")
    TwilioFactory(tenant=other_tenant, password=STORED + "-globex")  # same id elsewhere
    custom = TwilioFactory(tenant=tenant, ident="twilio-eu", password=STORED + "-eu")
    assert _joined("acme", "twilio") == _two_step("acme", "twilio")
    assert _joined("acme", "twilio")[0] is SendGridIntegration
    assert _joined("acme", "twilio-eu") == _two_step("acme", "twilio-eu")
    assert _joined("globex", "twilio-eu") == _two_step("globex", "twilio-eu")
    assert _joined("globex", "twilio")[2] == other_tenant.pk
    for ident, expected in (("twilio", sendgrid), ("twilio-eu", custom)):
        row = Integration.all_objects.non_polymorphic().get(pk=expected.pk)
        account = type(expected).objects.get(pk=expected.pk).account
        joined = _send(global_client, method, _path("acme", ident), {"account": "x-changed"})
        if method == "patch":
            assert type(expected).objects.get(pk=expected.pk).account == "x-changed"
        if method == "delete":
            assert not type(expected).objects.filter(pk=expected.pk).exists()
        Integration.all_objects.filter(pk=expected.pk).update(
            deleted_at=None,
            version=row.version,
            updated_by=row.updated_by,
            updated_at=row.updated_at,
            last_used_at=None,
        )
        type(expected).all_objects.filter(pk=expected.pk).update(account=account)
        IntegrationVersion.objects.filter(
            integration_id=expected.pk, number__gt=row.version
        ).delete()
        two_step = _send(tenant_client, method, _path("acme", ident), {"account": "x-changed"})
        assert joined.status_code == two_step.status_code, (joined.content, two_step.content)
        if method == "get":
            assert joined.json()["type"] == type(expected).provider_key
            assert joined.json() == two_step.json() | {
                "last-used-at": joined.json()["last-used-at"]
            }
        assert STORED + "-globex" not in joined.content.decode()


def test_the_joined_read_agrees_with_the_two_step_read_on_every_combination(tenant):
    deleted = TenantFactory(name="gone")
    TwilioFactory(tenant=deleted)
    Tenant.all_objects.filter(pk=deleted.pk).update(deleted_at="2026-01-01T00:00:00Z")
    TwilioFactory(tenant=tenant)
    FACTORY_FOR_PROVIDER["datasift"](tenant=tenant, ident="sendgrid")
    dead = FACTORY_FOR_PROVIDER["salesforce"](tenant=tenant)
    Integration.all_objects.filter(pk=dead.pk).update(deleted_at="2026-01-01T00:00:00Z")
    legacy = TenantFactory(name="Legacy_Co")  # stored before the lower-case rule
    TwilioFactory(tenant=legacy)
    names = [
        "Legacy_Co",
        "legacy_co",
        "LEGACY_CO",
        "legacy-co",
        "acme",
        "gone",
        "nowhere",
        "ACME",
        "acme\n",
        "acme\x00",
        "\ud800",
        "a" * 65,
        "a/b",
    ]
    idents = [
        "twilio",
        "sendgrid",
        "salesforce",
        "datasift",
        "nope",
        "TWILIO",
        "twilio\n",
        "twilio\x00",
        "\ud800",
        "t" * 65,
    ]
    for name in names:
        for ident in idents:
            assert _joined(name, ident) == _two_step(name, ident), (name, ident)


# --- records ---------------------------------------------------------------------------------


def _drf_fields(integration: Integration, *, show_secrets: bool) -> dict:
    """The provider's fields as DRF's own ModelSerializer.to_representation renders them, with
    the secrets then replaced as the API always did (mask, or the revealed value)."""
    serializer = serializer_for(type(integration))(integration)
    rendered = serializers.ModelSerializer.to_representation(serializer, integration)
    for name in type(integration).secret_field_names():
        rendered[json_key(name)] = getattr(integration, name).reveal() if show_secrets else MASK
    return dict(rendered)


@pytest.mark.parametrize("provider", [p.provider_key for p in all_providers()])
@pytest.mark.parametrize("show_secrets", [False, True])
def test_records_match_drfs_rendering(provider, show_secrets, tenant):
    made = FACTORY_FOR_PROVIDER[provider](tenant=tenant)
    integration = selectors.integration_get_live(tenant=tenant, ident=made.ident)
    record = serializer_for(type(integration)).record(integration, show_secrets=show_secrets)
    expected = {
        "id": made.ident,
        "type": provider,
        **_drf_fields(integration, show_secrets=show_secrets),
    }
    provider_keys = list(expected)
    assert list(record)[: len(provider_keys)] == provider_keys
    assert {key: record[key] for key in provider_keys} == expected
    assert list(record)[len(provider_keys) :] == [
        "created-at",
        "updated-at",
        "version",
        "last-verified-at",
        "last-verification",
        "last-verification-detail",
        "last-used-at",
    ]
    assert record["last-used-at"] is None and record["last-verified-at"] is None
    # The bound serializer (what the views used before) renders the same.
    bound = serializer_for(type(integration))(integration, context={"show_secrets": show_secrets})
    assert bound.data == record
    text = json.dumps(record)
    for name in type(integration).secret_field_names():
        plain = getattr(integration, name).reveal()
        assert (plain in text) is show_secrets
        assert getattr(integration, name).ciphertext not in text


def test_a_record_renders_none_and_blank_values_as_drf_does(tenant):
    made = FACTORY_FOR_PROVIDER["salesforce"](tenant=tenant)
    integration = selectors.integration_get_live(tenant=tenant, ident=made.ident)
    integration.username = None
    integration.consumer_key = ""
    record = serializer_for(type(integration)).record(integration, show_secrets=False)
    expected = _drf_fields(integration, show_secrets=False)
    assert record["username"] is None is expected["username"]
    assert record["consumer-key"] == "" == expected["consumer-key"]


@pytest.mark.parametrize("provider", [p.provider_key for p in all_providers()])
def test_unreadable_secrets_under_a_foreign_key(provider, tenant, global_client):
    made = FACTORY_FOR_PROVIDER[provider](tenant=tenant)
    foreign = Fernet(Fernet.generate_key()).encrypt(b"lost-forever").decode()
    model = type(made)
    secrets = model.secret_field_names()
    with connection.cursor() as cursor:
        for name in secrets:
            cursor.execute(
                f"UPDATE {model._meta.db_table} SET {model._meta.get_field(name).column} = %s "  # noqa: S608
                "WHERE integration_ptr_id = %s",
                [foreign, made.pk],
            )
    response = global_client.get(_path("acme", made.ident))
    assert response.status_code == 200, response.content
    record = response.json()
    keys = [name.replace("_", "-") for name in secrets]
    assert record[UNREADABLE_KEY] == keys
    assert all(record[key] is None for key in keys)
    assert foreign not in response.content.decode()
    masked = serializer_for(model).record(
        selectors.integration_get_live(tenant=tenant, ident=made.ident), show_secrets=False
    )
    assert UNREADABLE_KEY not in masked and all(masked[key] == MASK for key in keys)


# --- compiled writes -------------------------------------------------------------------------

ODD_TEXT = "ünï\u2028\u2029😀\u200b\ufeff\"'\\<>%s?;--"


def _raw_rows(table: str, where: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE {where}", params)  # noqa: S608
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_a_compiled_audit_event_is_stored_as_save_stores_it(tenant):
    def event():
        return AuditEvent(
            actor="a" * 200,
            channel="api",
            request_id="r" * 64,
            client_address="::ffff:10.0.0.1",
            tenant=tenant,
            integration_pk=2**40,
            integration_ident="twilio",
            integration_type="twilio",
            api_token_prefix="",
            action=AuditAction.UPDATE,
            changes={ODD_TEXT: {"old": ODD_TEXT, "new": [None, 1.5, True, {"\u00e9": ""}]}},
        )

    saved, compiled = event(), event()
    compiled.occurred_at = saved.occurred_at
    saved.save(force_insert=True)
    compiled_write.insert(compiled)
    assert compiled.pk is not None and compiled.pk != saved.pk
    rows = _raw_rows("tenants_auditevent", "id IN (%s, %s) ORDER BY id", [saved.pk, compiled.pk])
    for row in rows:
        row.pop("id")
    assert rows[0] == rows[1]
    assert (
        AuditEvent.objects.get(pk=compiled.pk).changes
        == AuditEvent.objects.get(pk=saved.pk).changes
    )


def test_a_compiled_update_stores_what_save_stores(tenant, other_tenant):
    one, two = TwilioFactory(tenant=tenant), TwilioFactory(tenant=other_tenant)
    for integration in (one, two):
        integration.account = ODD_TEXT
        integration.password = TYPED
        integration.updated_by = "x" * 150
        integration.version = 7
    one.save(update_fields=["account", "password", "updated_by", "updated_at", "version"])
    compiled_write.update(two, ["account", "password", "updated_by", "updated_at", "version"])
    stored_one = TwilioIntegration.objects.get(pk=one.pk)
    stored_two = TwilioIntegration.objects.get(pk=two.pk)
    for name in ("account", "updated_by", "version"):
        assert getattr(stored_one, name) == getattr(stored_two, name)
    assert stored_two.password.reveal() == TYPED
    assert TYPED not in raw_column(two, "password")
    assert stored_two.updated_at >= stored_one.updated_at > stored_two.created_at
    assert stored_two.updated_at == two.updated_at  # the instance holds what was stored


@pytest.fixture
def twilio(tenant):
    return TwilioFactory(tenant=tenant, password=STORED)


def _all_text_of_the_database_rows(integration) -> str:
    parts = []
    for table, where in (
        ("integrations_integration", "id = %s"),
        ("integrations_twiliointegration", "integration_ptr_id = %s"),
        ("integrations_integrationversion", "integration_id = %s"),
        ("tenants_auditevent", "integration_pk = %s"),
    ):
        parts.append(repr(_raw_rows(table, where, [integration.pk])))
    return "\n".join(parts)


def test_a_patch_writes_once_and_stores_only_ciphertext(twilio, global_client, settings):
    events = AuditEvent.objects.count()
    response = global_client.patch(
        _path("acme", "twilio"),
        json.dumps({"password": TYPED, "account": ODD_TEXT}),
        content_type=JSON,
    )
    assert response.status_code == 200, response.content
    assert response.json()["version"] == twilio.version + 1
    assert response.json()["account"] == ODD_TEXT
    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    assert stored.account == ODD_TEXT and stored.password.reveal() == TYPED
    assert stored.version == twilio.version + 1 and stored.updated_by.startswith("token:platform")
    assert stored.updated_at > twilio.updated_at
    assert response.json()["updated-at"].startswith(stored.updated_at.strftime("%Y-%m-%dT%H:%M:%S"))
    versions = IntegrationVersion.objects.filter(integration_id=twilio.pk)
    assert [v.number for v in versions] == [twilio.version + 1]
    assert sorted(versions[0].changed_fields) == ["account", "password"]
    new_events = AuditEvent.objects.order_by("id")[events:]
    assert [e.action for e in new_events].count(AuditAction.UPDATE) == 1
    update = next(e for e in new_events if e.action == AuditAction.UPDATE)
    assert update.tenant_id == twilio.tenant_id and update.integration_ident == "twilio"
    assert update.changes["password"] == "changed"
    assert update.changes["account"] == {"old": "AC0123456789", "new": ODD_TEXT}
    text = _all_text_of_the_database_rows(twilio)
    assert TYPED not in text and STORED not in text


@pytest.mark.parametrize("scopes", ["read,write", "read,write,secrets"])
def test_a_patch_that_changes_nothing_writes_nothing(scopes, twilio, token_client, count_sql):
    client = token_client(None, scopes)  # all tenants: the JOINed read
    before = _state(twilio)
    with count_sql() as sql:
        response = client.patch(
            _path("acme", "twilio"),
            json.dumps({"password": STORED, "account": twilio.account}),
            content_type=JSON,
        )
    assert response.status_code == 200, response.content
    assert response.json()["version"] == twilio.version
    after = _state(twilio)
    assert after[:-1] == before[:-1]
    # A secrets token's answer is audited as a reveal (as before the change); nothing else.
    reveals = 1 if "secrets" in scopes else 0
    assert after[-1] == before[-1] + reveals
    assert (
        AuditEvent.objects.filter(integration_pk=twilio.pk)
        .exclude(action=AuditAction.REVEAL)
        .count()
        == 0
    )
    writes = [
        s for s in sql.statements if s.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))
    ]
    # The token's own last use may be written, and the reveal; the record may not.
    record_writes = [
        s for s in writes if "integrations_" in s or ("auditevent" in s and not reveals)
    ]
    assert record_writes == [], writes


@pytest.mark.parametrize(
    "raw",
    ['"\\ud800"', '"a\\udfffb"', '"\\u0000"', '"x\\ud83d"', '"\\ud83d\\ude00 ok"'],
)
def test_odd_unicode_in_a_patch_is_refused_or_stored_exactly(raw, twilio, global_client):
    before = _state(twilio)
    body = '{"account": ' + raw + ', "password": "' + TYPED + '"}'
    response = global_client.patch(_path("acme", "twilio"), body, content_type=JSON)
    value = json.loads(raw)
    if response.status_code == 200:
        stored = TwilioIntegration.objects.get(pk=twilio.pk)
        assert stored.account == value == response.json()["account"]
        update = AuditEvent.objects.get(integration_pk=twilio.pk, action=AuditAction.UPDATE)
        assert update.changes["account"]["new"] == value
        assert IntegrationVersion.objects.get(integration_id=twilio.pk).values["account"] == value
    else:
        assert response.status_code == 400, response.content
        refused = response.json()
        if "\\u0000" in raw:
            assert refused["error"] == "The request body is invalid."
            assert list(refused["fields"]) == ["account"]
        else:  # an unpaired surrogate: refused as a whole body
            assert refused == {"error": SURROGATE_ERROR}
        assert TYPED not in response.content.decode("utf-8", "replace")
        assert _state(twilio) == before


@pytest.mark.parametrize("kept", [1, 3])
def test_pruning_keeps_exactly_the_last_versions(kept, settings, twilio, tenant, global_client):
    settings.INTEGRATION_VERSIONS_KEPT = kept
    neighbour = TwilioFactory(tenant=tenant, ident="twilio-eu")
    for n in range(2):
        response = global_client.patch(
            _path("acme", "twilio-eu"), json.dumps({"account": f"EU{n}"}), content_type=JSON
        )
        assert response.status_code == 200, response.content
    neighbour_versions = IntegrationVersion.objects.filter(integration_id=neighbour.pk).count()
    for n in range(kept + 3):
        response = global_client.patch(
            _path("acme", "twilio"), json.dumps({"account": f"AC{n}"}), content_type=JSON
        )
        assert response.status_code == 200, response.content
        version = response.json()["version"]
        numbers = list(
            IntegrationVersion.objects.filter(integration_id=twilio.pk).values_list(
                "number", flat=True
            )
        )
        assert numbers == list(range(version, max(0, version - kept), -1)), (version, numbers)
    assert (
        IntegrationVersion.objects.filter(integration_id=neighbour.pk).count() == neighbour_versions
    )
    assert (
        AuditEvent.objects.filter(integration_pk=twilio.pk, action=AuditAction.UPDATE).count()
        == kept + 3
    )


# --- a database that fails mid-write ---------------------------------------------------------


FAILING_TABLES = [
    "integrations_twiliointegration",
    "integrations_integration",
    "integrations_integrationversion",
    "tenants_auditevent",
]


@pytest.mark.parametrize("table", FAILING_TABLES)
@pytest.mark.parametrize(
    "body", [{"password": TYPED}, {"account": "AC-new"}, {"password": TYPED, "account": "AC-new"}]
)
def test_a_patch_the_database_refuses_leaves_nothing_half_stored(
    table, body, twilio, global_client, caplog
):
    before = _state(twilio)
    before_account = TwilioIntegration.objects.get(pk=twilio.pk).account
    refuse_writes(table, FAULT)
    response = global_client.patch(_path("acme", "twilio"), json.dumps(body), content_type=JSON)
    assert response.status_code == 500, response.content
    assert response.json() == {"error": "Internal server error."}
    text = response.content.decode()
    assert TYPED not in text and STORED not in text and FAULT not in text
    assert TYPED not in caplog.text and STORED not in caplog.text  # the logged traceback too
    assert _state(twilio) == before
    assert TwilioIntegration.objects.get(pk=twilio.pk).account == before_account


@pytest.mark.parametrize("table", ["integrations_integration", "tenants_auditevent"])
def test_a_delete_the_database_refuses_leaves_the_record_live(table, twilio, global_client):
    before = _state(twilio)
    refuse_writes(table, FAULT)
    response = global_client.delete(_path("acme", "twilio"))
    assert response.status_code == 500, response.content
    assert response.json() == {"error": "Internal server error."}
    assert STORED not in response.content.decode()
    assert _state(twilio) == before


@pytest.mark.django_db(transaction=True)
def test_a_secrets_read_whose_reveal_audit_fails_answers_no_secret_and_stores_nothing(
    tenant, global_client
):
    """Transactional, as production runs (autocommit): what the read committed stays.

    Failed before 63e6959 (and before the hot-path commits too): the last-used-at UPDATE
    committed on its own before the reveal INSERT, so a read that answered a 500 and was never
    audited was still recorded as a use of the secrets."""
    twilio = TwilioFactory(tenant=tenant, password=STORED)
    before = _state(twilio)
    refuse_writes("tenants_auditevent", FAULT)
    try:
        response = global_client.get(_path("acme", "twilio"))
    finally:
        allow_writes("tenants_auditevent")
    assert response.status_code == 500, response.content
    assert response.json() == {"error": "Internal server error."}
    assert STORED not in response.content.decode()
    # The read was not audited (and answered no record), so it must not be noted as a use.
    assert _state(twilio) == before


def test_a_list_reveals_every_record_once_in_batches(tenant, global_client):
    """More records than one SQLite INSERT takes parameters for (insert_all batches)."""
    made = [TwilioFactory(tenant=tenant, ident=f"twilio-{n:03}") for n in range(120)]
    events = AuditEvent.objects.count()
    response = global_client.get("/1.0/tenants/acme/integrations?limit=1000")
    assert response.status_code == 200, response.content
    records = response.json()
    records = records["integrations"] if isinstance(records, dict) else records
    assert [r["id"] for r in records] == [m.ident for m in made]
    assert all(r["password"] == m.password.reveal() for r, m in zip(records, made, strict=True))
    reveals = list(AuditEvent.objects.order_by("id")[events:])
    assert AuditEvent.objects.count() == events + len(made)
    assert {e.action for e in reveals} == {AuditAction.REVEAL}
    assert sorted(e.integration_pk for e in reveals) == sorted(m.pk for m in made)
    assert all(e.changes == {"revealed": ["password"]} for e in reveals), reveals[0].changes
    stored = TwilioIntegration.objects.filter(tenant=tenant)
    assert all(i.last_used_at is not None for i in stored)


def test_last_used_at_is_written_once_a_minute_and_for_a_row_deleted_since_its_read(
    tenant, global_client, count_sql
):
    from datetime import timedelta

    from integrations import services

    live = TwilioFactory(tenant=tenant)
    gone = TwilioFactory(tenant=tenant, ident="twilio-old")
    Integration.all_objects.filter(pk=gone.pk).update(deleted_at="2026-01-01T00:00:00Z")
    first = global_client.get(_path("acme", "twilio"))
    assert first.status_code == 200
    stamped = Integration.all_objects.get(pk=live.pk).last_used_at
    assert stamped is not None
    assert first.json()["last-used-at"] is not None
    with count_sql() as sql:
        again = global_client.get(_path("acme", "twilio"))
    assert again.status_code == 200
    assert Integration.all_objects.get(pk=live.pk).last_used_at == stamped
    assert not [s for s in sql.statements if "last_used_at" in s and s.startswith("UPDATE")]
    # Called on a copy read while live of a row deleted since: the read did use it, and its
    # answer and reveal event went out, so it is stamped with them (the one-statement attack,
    # tests/api/test_one_statement_attack.py, found the two disagreeing).
    gone.deleted_at = None
    gone.last_used_at = None
    used_at = stamped + timedelta(minutes=5)
    written = services.integration_used_record(integrations=[gone], now=used_at)
    assert written == 1
    assert Integration.all_objects.get(pk=gone.pk).last_used_at == used_at
    later = stamped + timedelta(minutes=2)
    fresh = TwilioIntegration.objects.get(pk=live.pk)
    assert services.integration_used_record(integrations=[fresh], now=later) == 1
    assert Integration.all_objects.get(pk=live.pk).last_used_at == later


def _record_rows(integration) -> tuple:
    return (
        _raw_rows("integrations_integration", "id = %s", [integration.pk]),
        _raw_rows("integrations_twiliointegration", "integration_ptr_id = %s", [integration.pk]),
        _raw_rows(
            "integrations_integrationversion", "integration_id = %s ORDER BY id", [integration.pk]
        ),
        _raw_rows("tenants_auditevent", "integration_pk = %s ORDER BY id", [integration.pk]),
    )


def test_a_post_replace_writes_once_and_a_repeat_writes_nothing(tenant, token_client):
    client = token_client(None, "read,write")  # all tenants, no secrets: no reveal events
    body = {"account": "AC-first", "password": TYPED}
    created = client.post(_path("acme", "twilio"), json.dumps(body), content_type=JSON)
    assert created.status_code == 201, created.content
    twilio = TwilioIntegration.objects.get(tenant=tenant, ident="twilio")
    rows = _record_rows(twilio)
    assert [v["number"] for v in rows[2]] == [1] and len(rows[3]) == 1
    again = client.post(_path("acme", "twilio"), json.dumps(body), content_type=JSON)
    assert again.status_code == 200, again.content
    assert again.json()["version"] == 1 and again.json()["password"] == MASK
    assert _record_rows(twilio) == rows
    changed = client.post(
        _path("acme", "twilio"), json.dumps({**body, "password": TYPED + "-2"}), content_type=JSON
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    after = _record_rows(twilio)
    assert [v["number"] for v in after[2]] == [1, 2] and len(after[3]) == 2
    assert [e["action"] for e in after[3]] == [AuditAction.CREATE, AuditAction.REPLACE]
    assert TYPED not in repr(after)
    assert TwilioIntegration.objects.get(pk=twilio.pk).password.reveal() == TYPED + "-2"


def test_a_rollback_is_written_once_with_the_old_ciphertexts_value(twilio, global_client):
    for n in range(3):
        response = global_client.patch(
            _path("acme", "twilio"),
            json.dumps({"password": f"{TYPED}-{n}", "account": f"AC{n}"}),
            content_type=JSON,
        )
        assert response.status_code == 200, response.content
    first = twilio.version + 1
    events = AuditEvent.objects.filter(integration_pk=twilio.pk).exclude(action=AuditAction.REVEAL)
    counted = events.count()
    response = global_client.post(f"{_path('acme', 'twilio')}/versions/{first}/restore")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == first + 3
    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.password.reveal()) == ("AC0", f"{TYPED}-0")
    assert events.count() == counted + 1
    assert events.order_by("-id")[0].action == AuditAction.ROLLBACK
    assert list(
        IntegrationVersion.objects.filter(integration_id=twilio.pk).values_list("number", flat=True)
    ) == list(range(first + 3, first - 1, -1))
    text = _all_text_of_the_database_rows(twilio)
    assert all(f"{TYPED}-{n}" not in text for n in range(3))
