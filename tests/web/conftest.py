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


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("boss", "boss@example.com", PASSWORD)


@pytest.fixture
def admin(admin_user):
    return logged_in(admin_user)
