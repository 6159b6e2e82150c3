"""Only a superuser grants privileges in the admin (tenants/admin_users.py).

Found by an outside tester: staff holding `auth.change_user` (every view_* and change_*
permission, say) made itself a superuser on its own user page, then minted an all-tenants
`secrets` token, defeating `tenants.add_privileged_apitoken`. Anyone but a superuser now sees
`is_superuser`, `is_staff`, groups and permissions read-only, may change or delete only users
holding no permission they lack (never a superuser), and cannot change a group's permissions.
"""

import pytest
from django.contrib.auth.models import Group, Permission, User

from tenants.models import ApiToken
from tests.web.conftest import PASSWORD, logged_in, make_user, staff_user
from tests.web.support import submitted_form

pytestmark = pytest.mark.django_db

PRIVILEGED = "tenants.add_privileged_apitoken"
NEW_PASSWORD = "a-new-password-4-takeover"


def change_url(user) -> str:
    return f"/admin/auth/user/{user.pk}/change/"


def password_url(user) -> str:
    return f"/admin/auth/user/{user.pk}/password/"


def all_permission_pks() -> list[str]:
    return [str(pk) for pk in Permission.objects.values_list("pk", flat=True)]


def escalated(client, user, **extra) -> dict:
    """The user's change page as shown, with every privilege ticked on."""
    page = client.get(change_url(user))
    assert page.status_code == 200
    data = submitted_form(page.content.decode())
    data.update(
        is_active="on",
        is_staff="on",
        is_superuser="on",
        user_permissions=all_permission_pks(),
        **extra,
    )
    return data


def privileges(user) -> tuple:
    user = User.objects.get(pk=user.pk)
    return (
        user.is_superuser,
        user.is_staff,
        set(user.groups.values_list("name", flat=True)),
        set(user.user_permissions.values_list("codename", flat=True)),
    )


@pytest.fixture
def admins_group(db):
    group = Group.objects.create(name="admins")
    group.permissions.set(Permission.objects.all())
    return group


def test_change_only_staff_cannot_make_itself_superuser_or_grant_itself_anything(
    change_only_staff, change_only_staff_user, admins_group
):
    before = privileges(change_only_staff_user)
    data = escalated(change_only_staff, change_only_staff_user, groups=[str(admins_group.pk)])
    data["first_name"] = "Changed"

    response = change_only_staff.post(change_url(change_only_staff_user), data)

    assert response.status_code == 302  # the rest of the form is saved...
    assert User.objects.get(pk=change_only_staff_user.pk).first_name == "Changed"
    assert privileges(change_only_staff_user) == before  # ...its privileges are not
    assert not User.objects.get(pk=change_only_staff_user.pk).has_perm(PRIVILEGED)


def test_change_only_staff_sees_the_privilege_fields_read_only(
    change_only_staff, change_only_staff_user
):
    page = change_only_staff.get(change_url(change_only_staff_user)).content.decode()

    for name in ("is_superuser", "is_staff", "groups", "user_permissions"):
        assert f'name="{name}"' not in page
    assert 'name="first_name"' in page


def test_change_only_staff_cannot_grant_privileges_to_a_plain_user(change_only_staff):
    plain = make_user("plain", [])
    before = privileges(plain)

    response = change_only_staff.post(change_url(plain), escalated(change_only_staff, plain))

    assert response.status_code == 302
    assert privileges(plain) == before == (False, False, set(), set())


def test_the_escalation_chain_ends_without_a_privileged_token(
    change_only_staff, change_only_staff_user, tenant
):
    change_only_staff.post(
        change_url(change_only_staff_user), escalated(change_only_staff, change_only_staff_user)
    )

    response = change_only_staff.post(
        "/admin/tenants/apitoken/add/",
        {"label": "mine", "all_tenants": "on", "scope_choices": ["read", "secrets"]},
    )

    assert response.status_code == 403  # change-only: may not add tokens at all
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("target", ["superuser", "more-privileged-staff"])
def test_change_only_staff_can_neither_change_nor_set_the_password_of_someone_above_it(
    change_only_staff, admin_user, target
):
    victim = admin_user if target == "superuser" else staff_user("minter", [PRIVILEGED])
    before = privileges(victim)

    page = change_only_staff.get(change_url(victim))
    changed = change_only_staff.post(
        change_url(victim), {"username": "renamed", "is_active": "", "first_name": "x"}
    )
    password = change_only_staff.post(
        password_url(victim), {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert page.status_code == 200  # view permission: it may look...
    assert 'name="username"' not in page.content.decode()  # ...read-only
    assert changed.status_code == 403
    assert password.status_code == 403
    victim = User.objects.get(pk=victim.pk)
    assert victim.username != "renamed" and victim.is_active
    assert victim.check_password(PASSWORD) and not victim.check_password(NEW_PASSWORD)
    assert privileges(victim) == before


def test_change_only_staff_may_still_change_a_user_holding_less_than_itself(change_only_staff):
    plain = make_user("plain", ["tenants.view_tenant"])

    response = change_only_staff.post(
        password_url(plain), {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert response.status_code == 302
    assert User.objects.get(pk=plain.pk).check_password(NEW_PASSWORD)


def test_an_inactive_user_holding_more_counts_as_above_it(change_only_staff):
    dormant = staff_user("dormant", [PRIVILEGED])
    User.objects.filter(pk=dormant.pk).update(is_active=False)

    response = change_only_staff.post(
        change_url(dormant), {"username": "dormant", "is_active": "on"}
    )

    assert response.status_code == 403
    assert not User.objects.get(pk=dormant.pk).is_active


def test_staff_with_delete_user_cannot_delete_a_superuser(admin_user):
    deleter = logged_in(
        staff_user("deleter", ["auth.view_user", "auth.change_user", "auth.delete_user"])
    )

    single = deleter.post(f"/admin/auth/user/{admin_user.pk}/delete/", {"post": "yes"})
    bulk = deleter.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [admin_user.pk], "post": "yes"},
    )

    assert single.status_code == 403
    assert bulk.status_code == 403
    assert User.objects.filter(pk=admin_user.pk).exists()


def test_staff_who_may_add_users_adds_them_without_privileges():
    adder = logged_in(staff_user("adder", ["auth.view_user", "auth.add_user", "auth.change_user"]))

    response = adder.post(
        "/admin/auth/user/add/",
        {
            "username": "newcomer",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "is_superuser": "on",
            "is_staff": "on",
            "user_permissions": all_permission_pks(),
        },
    )

    assert response.status_code == 302
    assert privileges(User.objects.get(username="newcomer")) == (False, False, set(), set())


def test_staff_with_change_group_cannot_change_a_groups_permissions(change_only_staff):
    group = Group.objects.create(name="support")
    group.permissions.set(Permission.objects.filter(codename="view_tenant"))

    response = change_only_staff.post(
        f"/admin/auth/group/{group.pk}/change/",
        {"name": "support-renamed", "permissions": all_permission_pks()},
    )

    assert response.status_code == 302
    group.refresh_from_db()
    assert group.name == "support-renamed"
    assert list(group.permissions.values_list("codename", flat=True)) == ["view_tenant"]


def test_staff_with_add_group_adds_groups_without_permissions():
    adder = logged_in(staff_user("group-adder", ["auth.view_group", "auth.add_group"]))

    response = adder.post(
        "/admin/auth/group/add/", {"name": "wide", "permissions": all_permission_pks()}
    )

    assert response.status_code == 302
    assert not Group.objects.get(name="wide").permissions.exists()


def test_a_superuser_can_grant_every_privilege(admin, admin_user, admins_group):
    user = staff_user("promoted", [])

    response = admin.post(change_url(user), escalated(admin, user, groups=[str(admins_group.pk)]))

    assert response.status_code == 302
    is_superuser, is_staff, groups, permissions = privileges(user)
    assert is_superuser and is_staff
    assert groups == {"admins"}
    assert len(permissions) == Permission.objects.count()


def test_a_superuser_can_change_a_groups_permissions(admin):
    group = Group.objects.create(name="support")

    response = admin.post(
        f"/admin/auth/group/{group.pk}/change/",
        {"name": "support", "permissions": all_permission_pks()},
    )

    assert response.status_code == 302
    assert group.permissions.count() == Permission.objects.count()
