"""Minting and revoking API tokens in the admin: who may mint what, and what is recorded.

`add_apitoken` mints tokens of one tenant without the `secrets` scope; a token for all tenants
or with `secrets` needs `tenants.add_privileged_apitoken` (or a superuser). Every creation and
revocation is a log line (logger "tenants.tokens": prefix, label, who) and an admin history
entry; neither ever holds the token.
"""

import logging
import re

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.core.management import call_command
from django.utils.html import escape

from tenants.models import ApiToken
from tenants.services import api_token_create
from tests.factories import actor_named
from tests.web.conftest import logged_in, staff_user

ADD = "/admin/tenants/apitoken/add/"
MINTER_PERMISSIONS = ["tenants.view_apitoken", "tenants.add_apitoken", "tenants.view_tenant"]


@pytest.fixture
def minter(db):
    """Staff who may add API tokens, and nothing more about them."""
    return logged_in(staff_user("minter", MINTER_PERMISSIONS))


@pytest.fixture
def privileged_minter(db):
    return logged_in(
        staff_user("privileged", [*MINTER_PERMISSIONS, "tenants.add_privileged_apitoken"])
    )


def _shown_token(response) -> str:
    return re.search(r'value="(ir_[A-Za-z0-9_-]+)"', response.content.decode()).group(1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "sentence"),
    [
        ({"all_tenants": "on", "scope_choices": ["read"]}, "all_tenants", "for all tenants"),
        ({"scope_choices": ["read", "secrets"]}, "scope_choices", "with the 'secrets' scope"),
    ],
    ids=["all-tenants", "secrets-scope"],
)
def test_a_user_with_add_apitoken_only_cannot_mint_an_all_tenants_or_secrets_token(
    minter, tenant, data, field, sentence
):
    if field == "scope_choices":
        data = {**data, "tenant": tenant.pk}

    response = minter.post(ADD, {"label": "wide", **data})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors[field] == [
        "Only users with the permission 'Can create all-tenants or secrets-scope API tokens' "
        f"may create a token {sentence}."
    ]
    assert escape(f"may create a token {sentence}.") in response.content.decode()
    assert not ApiToken.objects.exists()
    assert not LogEntry.objects.exists()


@pytest.mark.django_db
def test_a_user_with_add_apitoken_only_mints_a_read_write_token_of_one_tenant(
    minter, tenant, caplog
):
    form = minter.get(ADD)
    assert form.context["adminform"].form["scope_choices"].initial == ["read", "write"]

    with caplog.at_level(logging.INFO, logger="tenants.tokens"):
        response = minter.post(
            ADD, {"label": "billing", "tenant": tenant.pk, "scope_choices": ["read", "write"]}
        )

    assert response.status_code == 200
    shown = _shown_token(response)
    stored = ApiToken.objects.get()
    assert (stored.label, stored.tenant, stored.all_tenants, stored.scopes) == (
        "billing",
        tenant,
        False,
        "read,write",
    )
    entry = LogEntry.objects.get()
    assert (entry.user.username, entry.action_flag, entry.object_id) == (
        "minter",
        ADDITION,
        str(stored.pk),
    )
    assert entry.get_change_message() == (
        "Created for tenant 'acme', scopes read,write, no expiry."
    )
    assert [r.getMessage() for r in caplog.records if r.name == "tenants.tokens"] == [
        f"API token {stored.prefix}… 'billing' created by minter "
        "(for tenant 'acme', scopes read,write, no expiry)"
    ]
    assert shown not in caplog.text
    assert shown not in str(list(LogEntry.objects.values()))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [{"all_tenants": "on", "scope_choices": ["read"]}, {"scope_choices": ["secrets"]}],
    ids=["all-tenants", "secrets-scope"],
)
def test_the_privileged_permission_or_a_superuser_mints_all_tenants_and_secrets_tokens(
    privileged_minter, admin, tenant, data
):
    if "all_tenants" not in data:
        data = {**data, "tenant": tenant.pk}

    for client in (privileged_minter, admin):
        response = client.post(ADD, {"label": "wide", **data})
        assert response.status_code == 200
        assert _shown_token(response)

    assert ApiToken.objects.filter(label="wide").count() == 2


@pytest.mark.django_db
def test_revoking_a_token_in_the_admin_is_logged_and_recorded_without_the_token(
    change_only_staff, tenant, caplog
):
    api_token, plaintext = api_token_create(label="ci", tenant=tenant, actor=actor_named("tests"))
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="tenants.tokens"):
        change_only_staff.post(
            "/admin/tenants/apitoken/", {"action": "revoke", "_selected_action": [api_token.pk]}
        )

    api_token.refresh_from_db()
    assert api_token.revoked_at is not None
    assert [r.getMessage() for r in caplog.records if r.name == "tenants.tokens"] == [
        f"API token {api_token.prefix}… 'ci' revoked by change-only"
    ]
    entry = LogEntry.objects.get()
    assert (entry.user.username, entry.action_flag, entry.get_change_message()) == (
        "change-only",
        CHANGE,
        "Revoked.",
    )
    assert plaintext not in caplog.text
    assert api_token.digest not in caplog.text


@pytest.mark.django_db
def test_createapitoken_logs_who_ran_it_and_the_prefix_but_never_the_token(tenant, caplog):
    with caplog.at_level(logging.INFO, logger="tenants.tokens"):
        call_command("createapitoken", "--tenant", "acme", "--label", "ops", "--scopes", "read")

    stored = ApiToken.objects.get()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "tenants.tokens"]
    assert line.startswith(f"API token {stored.prefix}… 'ops' created by manage.py createapitoken")
    assert stored.digest not in caplog.text
    assert not re.search(r"ir_[A-Za-z0-9_-]{20,}", caplog.text)
