"""Safe concurrent updates (RFC 9110 §13): every record has a strong ETag; If-Match on POST,
PATCH and DELETE answers 412 when stale; If-None-Match: * makes a POST create-only; a created
record's answer says where it lives (Location)."""

import json
from functools import partial

import pytest

from integrations.models import Integration
from tenants.services import api_token_create
from tests.api.support import JSON, TWILIO, post_json, url
from tests.api.test_post_concurrency import all_at_once
from tests.factories import TenantFactory, TwilioFactory, actor_named

STALE = {"error": "The integration has changed: its entity tag is now {tag} (If-Match)."}


def patch(client, body: dict, **headers):
    return client.patch(url("twilio"), json.dumps(body), content_type=JSON, **headers)


def tag_of(integration) -> str:
    integration.refresh_from_db()
    return f'"{integration.pk}-{integration.version}"'


@pytest.mark.django_db
def test_a_created_record_says_where_it_lives_and_carries_its_tag(tenant_client):
    response = post_json(tenant_client, url("twilio"), TWILIO)

    created = Integration.objects.get()
    assert response.status_code == 201
    assert response["Location"] == "http://testserver/1.0/tenants/acme/integrations/twilio"
    assert response["ETag"] == f'"{created.pk}-1"'
    assert tenant_client.get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_a_read_carries_the_tag_and_a_matching_if_none_match_is_304(tenant_client, tenant):
    twilio = TwilioFactory(tenant=tenant)
    tag = tag_of(twilio)

    read = tenant_client.get(url("twilio"))
    again = tenant_client.get(url("twilio"), HTTP_IF_NONE_MATCH=tag)

    assert (read.status_code, read["ETag"]) == (200, tag)
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", tag)


@pytest.mark.django_db
def test_a_patch_with_the_current_tag_applies_and_answers_the_new_tag(tenant_client, tenant):
    twilio = TwilioFactory(tenant=tenant, account="AC1")

    response = patch(tenant_client, {"account": "AC2"}, HTTP_IF_MATCH=tag_of(twilio))

    assert response.status_code == 200
    assert response["ETag"] == f'"{twilio.pk}-1"' == tag_of(twilio)
    assert Integration.objects.get().account == "AC2"


@pytest.mark.django_db
def test_a_stale_tag_is_412_on_patch_post_and_delete_and_nothing_changes(tenant_client, tenant):
    twilio = TwilioFactory(tenant=tenant, account="AC1")
    stale = tag_of(twilio)
    patch(tenant_client, {"account": "AC2"})  # someone else's change: version 0 -> 1
    current = tag_of(twilio)

    patched = patch(tenant_client, {"account": "AC3"}, HTTP_IF_MATCH=stale)
    posted = post_json(tenant_client, url("twilio"), TWILIO, HTTP_IF_MATCH=stale)
    deleted = tenant_client.delete(url("twilio"), HTTP_IF_MATCH=stale)

    for response in (patched, posted, deleted):
        assert response.status_code == 412
        assert response.json() == {"error": STALE["error"].format(tag=current)}
    stored = Integration.objects.get()
    assert (stored.account, stored.deleted_at, tag_of(stored)) == ("AC2", None, current)


@pytest.mark.django_db
def test_if_none_match_star_makes_a_post_create_only(tenant_client):
    first = post_json(tenant_client, url("twilio"), TWILIO, HTTP_IF_NONE_MATCH="*")
    second = post_json(
        tenant_client, url("twilio"), {**TWILIO, "account": "AC-2"}, HTTP_IF_NONE_MATCH="*"
    )

    assert first.status_code == 201
    assert second.status_code == 412
    assert second.json() == {"error": "The integration exists already (If-None-Match: *)."}
    assert Integration.objects.get().account == TWILIO["account"]


@pytest.mark.django_db
def test_if_match_on_a_post_of_a_new_id_is_412_and_creates_nothing(tenant_client):
    response = post_json(tenant_client, url("twilio"), TWILIO, HTTP_IF_MATCH='"1-1"')

    assert response.status_code == 412
    assert response.json() == {"error": "The integration does not exist (If-Match)."}
    assert not Integration.all_objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("HTTP_IF_MATCH", 'W/"1-0"'),
        ("HTTP_IF_MATCH", "1-0"),
        ("HTTP_IF_NONE_MATCH", '"1-0"'),
    ],
)
def test_a_malformed_or_weak_precondition_is_400(tenant_client, tenant, header, value):
    TwilioFactory(tenant=tenant, account="AC1")

    response = patch(tenant_client, {"account": "AC2"}, **{header: value})

    assert response.status_code == 400
    assert "If-" in response.json()["error"]
    assert Integration.objects.get().account == "AC1"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_writers_holding_the_same_tag_make_exactly_one_change():
    tenant = TenantFactory(name="acme")
    _, token = api_token_create(actor=actor_named(), label="race", tenant=tenant)
    twilio = TwilioFactory(tenant=tenant, account="AC0")
    tag = tag_of(twilio)
    writers = [partial(patch, body={"account": f"AC-{n}"}, HTTP_IF_MATCH=tag) for n in range(10)]

    results = all_at_once(token, writers)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [412] * 9, results
    stored = Integration.objects.get()
    assert stored.version == 1
    winner = next(body for status, body in results if status == 200)
    assert stored.account == winner["account"]


@pytest.mark.django_db
def test_restoring_a_version_honours_if_match_and_answers_the_new_tag(tenant_client, tenant):
    post_json(tenant_client, url("twilio"), TWILIO)
    patch(tenant_client, {"account": "AC-2"})
    twilio = Integration.objects.get()
    stale, current = f'"{twilio.pk}-1"', tag_of(twilio)
    restore = url("twilio") + "/versions/1/restore"

    refused = tenant_client.post(restore, HTTP_IF_MATCH=stale)
    done = tenant_client.post(restore, HTTP_IF_MATCH=current)

    assert refused.status_code == 412
    assert (done.status_code, done["ETag"]) == (200, f'"{twilio.pk}-3"')
    assert Integration.objects.get().account == TWILIO["account"]


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["*", "W/{tag}", '"0-0", {tag}'])
def test_if_none_match_on_a_read_compares_weakly_and_star_matches(tenant_client, tenant, header):
    twilio = TwilioFactory(tenant=tenant)

    response = tenant_client.get(
        url("twilio"), HTTP_IF_NONE_MATCH=header.format(tag=tag_of(twilio))
    )

    assert response.status_code == 304
