"""The list is paginated by id: the body stays a plain array (compatible with clients that
read one list), the next page is in `Link` and `Next-Cursor`, and pages neither skip nor
repeat records while others write."""

import pytest

from tests.factories import SendGridFactory, TwilioFactory

pytestmark = pytest.mark.django_db

LIST = "/1.0/tenants/acme/integrations"


def mixed(tenant, count: int) -> list[str]:
    factories = [TwilioFactory, SendGridFactory]
    for n in range(count):
        factories[n % 2](tenant=tenant, ident=f"int-{n:04d}")
    return [f"int-{n:04d}" for n in range(count)]


def ids(response) -> list[str]:
    return [record["id"] for record in response.json()]


def test_a_short_list_is_one_plain_array_without_a_next_page(tenant_client, tenant):
    mixed(tenant, 3)

    response = tenant_client.get(LIST)

    assert ids(response) == ["int-0000", "int-0001", "int-0002"]
    assert "Link" not in response and "Next-Cursor" not in response


def test_pages_of_the_default_size_follow_the_link_to_the_end(tenant_client, tenant):
    every = mixed(tenant, 250)

    first = tenant_client.get(LIST)
    second = tenant_client.get(first["Link"].split(">")[0].lstrip("<"))
    third = tenant_client.get(LIST, {"after": second["Next-Cursor"]})

    assert len(first.json()) == len(second.json()) == 100
    assert first["Next-Cursor"] == "int-0099"
    assert first["Link"].endswith('rel="next"') and "after=int-0099" in first["Link"]
    assert ids(first) + ids(second) + ids(third) == every
    assert "Link" not in third


def test_a_page_is_stable_while_others_write(tenant_client, tenant):
    mixed(tenant, 6)
    first = tenant_client.get(LIST, {"limit": 3})
    TwilioFactory(tenant=tenant, ident="int-0000a")  # sorts into the page already read
    tenant_client.delete(f"{LIST}/int-0004")  # one of the next page goes away

    second = tenant_client.get(LIST, {"limit": 3, "after": first["Next-Cursor"]})

    assert ids(first) == ["int-0000", "int-0001", "int-0002"]
    assert ids(second) == ["int-0003", "int-0005"]


def test_the_type_filter_pages_too(tenant_client, tenant):
    mixed(tenant, 10)

    response = tenant_client.get(LIST, {"type": "twilio", "limit": 2})

    assert ids(response) == ["int-0000", "int-0002"]
    assert response["Next-Cursor"] == "int-0002"


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "ten", "1.5"])
def test_a_limit_out_of_bounds_is_a_400(tenant_client, tenant, limit):
    response = tenant_client.get(LIST, {"limit": limit})

    assert response.status_code == 400
    assert response.json() == {"error": "'limit' must be a whole number from 1 to 1000."}


def test_the_largest_page_holds_a_thousand(tenant_client, tenant):
    mixed(tenant, 1001)

    response = tenant_client.get(LIST, {"limit": 1000})

    assert len(response.json()) == 1000
    assert response["Next-Cursor"] == "int-0999"


def test_ids_with_hyphens_and_underscores_page_by_code_point_without_skipping(
    tenant_client, tenant
):
    # An ICU or glibc collation orders '_' and '-' unlike Python; pages compare by code point.
    for ident in ["a-b", "a1", "a_b", "ab", "a-c"]:
        TwilioFactory(tenant=tenant, ident=ident)
    seen, after = [], None
    for _ in range(10):
        response = tenant_client.get(LIST, {"limit": 1, **({"after": after} if after else {})})
        seen += ids(response)
        after = response.get("Next-Cursor")
        if after is None:
            break

    assert seen == sorted(["a-b", "a1", "a_b", "ab", "a-c"])
