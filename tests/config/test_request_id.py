"""Every request carries an id: echoed, logged on every line, recorded in audit events."""

import json
import logging

import pytest
from django.test import Client

from config.request_id import KeyValueFormatter, RequestIdLogFilter
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_a_well_formed_request_id_is_kept_and_echoed(tenant_client, tenant):
    response = tenant_client.get("/1.0/tenants/acme/integrations", HTTP_X_REQUEST_ID="abc-123")

    assert response["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize("given", ["", "has space", "x" * 65, "new\nline", 'quote"'])
def test_a_missing_or_odd_request_id_is_replaced_by_a_new_one(client, given):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=given)

    assert len(response["X-Request-ID"]) == 32
    assert response["X-Request-ID"] != given


def test_the_request_id_is_recorded_in_the_audit_event(tenant_client, tenant):
    tenant_client.post(
        "/1.0/tenants/acme/integrations/twilio",
        json.dumps({"account": "AC1", "password": "pw-1234"}),
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-42",
        REMOTE_ADDR="203.0.113.9",
    )

    event = AuditEvent.objects.get(action="create")
    assert (event.request_id, event.client_address, event.channel) == (
        "req-42",
        "203.0.113.9",
        "api",
    )


def test_every_log_line_of_a_request_names_it_on_one_line(tenant_client, tenant, caplog):
    caplog.set_level(logging.INFO)
    handler_filter = RequestIdLogFilter()
    formatter = KeyValueFormatter()
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            handler_filter.filter(record)
            lines.append(formatter.format(record))

    collector = Collect()
    logging.getLogger().addHandler(collector)
    try:
        tenant_client.get("/1.0/tenants/acme/no-such-route/x/y", HTTP_X_REQUEST_ID="req-7")
        logging.getLogger("tests").warning("forged\nline=%s", "x")
    finally:
        logging.getLogger().removeHandler(collector)

    assert any("request_id=req-7" in line for line in lines)
    assert all("\n" not in line for line in lines)
    assert "request_id=- message='forged\\nline=x'" in lines[-1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("HTTP_X_REQUEST_ID", b"abc-123"),
        ("HTTP_X_FORWARDED_FOR", b"203.0.113.5"),
        ("HTTP_AUTHORIZATION", b"Bearer nope"),
        ("HTTP_IF_NONE_MATCH", b'"1-1"'),
    ],
)
def test_a_header_given_as_bytes_is_read_as_latin_1_never_a_500(header, value, settings):
    """PEP 3333 gives headers as str; a test client (or a server outside the PEP) may give
    bytes. Every header the app reads goes through config.request_headers."""
    settings.TRUSTED_PROXY_COUNT = 1
    response = Client().get("/1.0/tenants/acme/integrations/twilio", **{header: value})
    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    if header == "HTTP_X_REQUEST_ID":
        assert response["X-Request-ID"] == "abc-123"
