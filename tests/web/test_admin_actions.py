"""Every admin action of every registered ModelAdmin declares the permission it needs.

Found from the admin registry, so an action added later is covered without touching this file:
each one must declare `allowed_permissions` (never only "view"), a view-only staff user is not
offered it, and posting it anyway changes nothing. The same post by a superuser does change
the database, which shows that the posts are real.
"""

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.urls import reverse

from integrations import services
from integrations.models import Integration
from tenants.admin_helpers import DeletedListFilter
from tenants.models import ApiToken, AuditEvent, Tenant
from tenants.services import api_token_create, tenant_delete
from tests.factories import PROVIDER_FACTORIES, TenantFactory, actor_named
from tests.web.conftest import logged_in

ACTIONS = [
    (model, model_admin, name, function)
    for model, model_admin in admin.site._registry.items()
    for function, name, _description in model_admin._get_base_actions()
]
IDS = [f"{model._meta.label}.{name}" for model, _, name, _ in ACTIONS]


def test_every_admin_has_been_found():
    labels = {model._meta.label for model, *_ in ACTIONS}
    assert {"tenants.Tenant", "tenants.ApiToken", "integrations.Integration"} <= labels


@pytest.mark.parametrize(("model", "model_admin", "name", "function"), ACTIONS, ids=IDS)
def test_every_admin_action_declares_a_permission_beyond_view(model, model_admin, name, function):
    allowed = getattr(function, "allowed_permissions", ())

    assert allowed, f"{model_admin} action '{name}' declares no allowed_permissions"
    assert "view" not in allowed, f"{model_admin} action '{name}' needs only 'view'"
    for permission in allowed:
        assert callable(getattr(model_admin, f"has_{permission}_permission", None))


def _examples() -> None:
    """Live and deleted rows of every model an admin is registered for."""
    tenant = TenantFactory(name="acme")
    tenant_delete(tenant=TenantFactory(name="gone"), actor=actor_named())
    for factory in PROVIDER_FACTORIES:
        factory(tenant=tenant)
        deleted = factory(tenant=tenant, ident=f"{factory._meta.model.provider_key}-old")
        services.integration_delete(integration=deleted, actor=actor_named("setup"))
    api_token_create(label="ci", tenant=tenant, scopes="read", actor=actor_named("setup"))
    User.objects.create_user("someone")
    Group.objects.create(name="ops")
    # A staff login lock-out and a login (django-axes, tenants/admin_lockouts.py).
    AccessAttempt.objects.create(
        username="someone", ip_address="198.51.100.7", failures_since_start=5,
        user_agent="bot", path_info="/accounts/login/", get_data="", post_data="",
        http_accept="*/*",
    )  # fmt: skip
    AccessLog.objects.create(
        username="someone", ip_address="198.51.100.8", user_agent="browser",
        path_info="/accounts/login/", http_accept="*/*",
    )  # fmt: skip
    known = {Tenant, ApiToken, Integration, User, Group, AuditEvent}  # events: made by the above
    known |= {AccessAttempt, AccessLog}
    known |= {factory._meta.model for factory in PROVIDER_FACTORIES}
    missing = set(admin.site._registry) - known
    assert not missing, f"add example rows of {missing} here, so that their actions are run"


def _database() -> dict:
    models = [*admin.site._registry, LogEntry]
    return {
        model._meta.label: list(model._base_manager.order_by("pk").values()) for model in models
    }


def _post_action(client, model, model_admin, name):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    if DeletedListFilter in model_admin.list_filter:
        url += "?status=all"  # deleted rows too, for restore
    selected = list(model._base_manager.values_list("pk", flat=True))
    return client.post(url, {"action": name, "_selected_action": selected, "post": "yes"})


def _offered(client, model) -> set[str]:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url)
    assert response.status_code == 200
    action_form = response.context["action_form"]
    if action_form is None:
        return set()
    return {choice for choice, _ in action_form.fields["action"].choices if choice}


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "model_admin", "name", "function"), ACTIONS, ids=IDS)
def test_a_view_only_staff_user_can_run_no_admin_action_and_nothing_changes(
    view_only_staff, model, model_admin, name, function
):
    _examples()
    before = _database()

    assert name not in _offered(view_only_staff, model)
    response = _post_action(view_only_staff, model, model_admin, name)

    assert response.status_code in (200, 302)
    assert _database() == before


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "model_admin", "name", "function"), ACTIONS, ids=IDS)
def test_a_superuser_running_the_same_post_changes_the_database(
    admin_user, model, model_admin, name, function
):
    _examples()
    client = logged_in(admin_user)
    before = _database()
    offered = name in _offered(client, model)  # hard delete is taken away from soft-deleters

    _post_action(client, model, model_admin, name)

    assert (_database() != before) == offered
