import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

SUPPORT_PERMISSIONS = [
    "tenants.view_tenant",
    "tenants.add_tenant",
    "integrations.view_integration",
    "integrations.add_integration",
    "integrations.change_integration",
    "integrations.delete_integration",
]
VIEWER_PERMISSIONS = ["tenants.view_tenant", "integrations.view_integration"]
PASSWORD = "correct-horse-battery-staple"


def make_user(username: str, permissions: list[str], **flags) -> User:
    user = User.objects.create_user(username, password=PASSWORD, **flags)
    for dotted in permissions:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def support_user(db):
    return make_user("support", SUPPORT_PERMISSIONS)


@pytest.fixture
def support(support_user):
    """A support person: may view, add, change and delete integrations and add tenants."""
    return logged_in(support_user)


@pytest.fixture
def viewer(db):
    """May look, nothing else."""
    return logged_in(make_user("viewer", VIEWER_PERMISSIONS))


@pytest.fixture
def outsider(db):
    """Logged in, with no permission at all."""
    return logged_in(make_user("outsider", []))


def every_permission(action: str) -> list[str]:
    """Every `<action>_*` permission of every installed model, as "app_label.codename"."""
    permissions = Permission.objects.filter(codename__startswith=f"{action}_")
    return [f"{p.content_type.app_label}.{p.codename}" for p in permissions.select_related()]


def staff_user(username: str, permissions: list[str]) -> User:
    """A staff user (may open the admin) holding exactly `permissions`."""
    return make_user(username, permissions, is_staff=True)


@pytest.fixture
def view_only_staff_user(db):
    """Staff who may view every model in the admin and change nothing."""
    return staff_user("view-only", every_permission("view"))


@pytest.fixture
def view_only_staff(view_only_staff_user):
    return logged_in(view_only_staff_user)


@pytest.fixture
def change_only_staff_user(db):
    """Staff who may view and change every model, but add and delete nothing."""
    return staff_user("change-only", every_permission("view") + every_permission("change"))


@pytest.fixture
def change_only_staff(change_only_staff_user):
    return logged_in(change_only_staff_user)


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("boss", "boss@example.com", PASSWORD)


@pytest.fixture
def admin(admin_user):
    return logged_in(admin_user)
