"""The client's address, as rate limits, lock-outs and audit events name it: the peer's, or
behind TRUSTED_PROXY_COUNT proxies of ours the one the outermost of them saw."""

import json

import pytest
from axes.models import AccessLog
from django.test import RequestFactory

from config.client_address import client_address
from tenants.models import AuditEvent


def address(settings, proxies: int, remote: str = "10.0.0.2", forwarded: str | None = None):
    settings.TRUSTED_PROXY_COUNT = proxies
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **extra))


def test_directly_exposed_the_peer_is_the_client_whatever_it_forwards(settings):
    assert address(settings, 0, forwarded="192.0.2.1") == "10.0.0.2"


def test_behind_one_proxy_the_address_it_appended_is_the_client(settings):
    # The client wrote the first entry itself (forged); our proxy appended the second.
    assert address(settings, 1, forwarded="192.0.2.1, 198.51.100.7") == "198.51.100.7"


def test_behind_two_proxies_the_outer_proxy_s_entry_is_the_client(settings):
    forwarded = "192.0.2.1, 198.51.100.7, 10.0.0.1"
    assert address(settings, 2, forwarded=forwarded) == "198.51.100.7"


def test_a_probe_that_bypassed_the_proxies_is_its_own_peer(settings):
    assert address(settings, 1) == "10.0.0.2"


def test_with_fewer_entries_than_proxies_the_leftmost_is_taken(settings):
    assert address(settings, 3, forwarded="198.51.100.7") == "198.51.100.7"


def test_a_forwarded_entry_that_is_no_address_falls_back_to_the_peer(settings):
    # Fewer entries than proxies: the leftmost, written by the client, is not an address.
    assert address(settings, 2, forwarded="<script>") == "10.0.0.2"


def test_a_request_without_a_peer_address_has_none(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/")
    del request.META["REMOTE_ADDR"]

    assert client_address(request) is None


@pytest.mark.django_db
def test_a_login_made_in_code_is_recorded_without_an_address(client, django_user_model):
    # force_login builds a request with no REMOTE_ADDR: django-axes stores no address (on
    # PostgreSQL an invalid one would fail the inet column).
    user = django_user_model.objects.create_user("someone", password="x")

    client.force_login(user)

    assert AccessLog.objects.get(username="someone").ip_address is None


@pytest.mark.django_db
def test_audit_events_record_the_client_behind_a_trusted_proxy(settings, tenant_client, tenant):
    settings.TRUSTED_PROXY_COUNT = 1
    tenant_client.post(
        "/1.0/tenants/acme/integrations/twilio",
        json.dumps({"account": "AC1", "password": "pw-1234"}),
        content_type="application/json",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )

    assert AuditEvent.objects.get(action="create").client_address == "198.51.100.7"
