"""Staff login lock-out (django-axes): after LOGIN_FAILURE_LIMIT failures for one user name
from one address, that pair is refused, the right password too, with a page that says so and
how to get out; other addresses and other users are unaffected; an admin unlocks it."""

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

from tests.web.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Dozens of logins: a deliberately slow hasher would make this file take 20 s."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


BOT = "198.51.100.66"


def attempt(url: str, username: str, password: str, address: str = BOT):
    return Client(REMOTE_ADDR=address).post(url, {"username": username, "password": password})


def fail_until_locked(url: str, username: str = "support", address: str = BOT) -> None:
    """Five failures: four show the form again, the fifth reaches the limit and is locked."""
    for n in range(4):
        response = attempt(url, username, f"wrong-{n}", address)
        assert response.status_code == 200
    assert attempt(url, username, "wrong-4", address).status_code == 429


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_repeated_failures_lock_the_user_name_from_that_address(url, support_user):
    fail_until_locked(url)

    response = attempt(url, "support", PASSWORD)  # the right password, too late

    html = response.content.decode()
    assert response.status_code == 429
    assert "Login locked" in html
    assert "Too many failed logins as “support” from your address (5 in a row)" in html
    assert "Try again in 15 minutes" in html
    assert response["Retry-After"] == "900"
    assert "_auth_user_id" not in response.client.session


def test_a_locked_login_does_not_lock_the_person_out_elsewhere(support_user):
    fail_until_locked("/accounts/login/")

    elsewhere = attempt("/accounts/login/", "support", PASSWORD, address="203.0.113.10")

    assert elsewhere.status_code == 302
    # Another user name from the bot's address still gets its own attempts.
    assert attempt("/accounts/login/", "someone-else", "nope").status_code == 200


def test_the_admin_and_the_staff_login_share_one_count(support_user):
    for n in range(3):
        attempt("/accounts/login/", "support", f"wrong-{n}")
    attempt("/admin/login/", "support", "wrong-admin")

    assert attempt("/admin/login/", "support", "wrong-admin-again").status_code == 429
    assert attempt("/accounts/login/", "support", PASSWORD).status_code == 429


def test_a_success_before_the_limit_starts_the_count_again(support_user):
    for n in range(4):
        attempt("/accounts/login/", "support", f"wrong-{n}")
    assert attempt("/accounts/login/", "support", PASSWORD).status_code == 302
    for n in range(4):
        attempt("/accounts/login/", "support", f"again-{n}")

    assert attempt("/accounts/login/", "support", PASSWORD).status_code == 302


def test_attempts_are_kept_in_the_database_without_the_password(support_user):
    fail_until_locked("/accounts/login/")

    row = AccessAttempt.objects.get()
    assert (row.username, row.ip_address, row.failures_since_start) == ("support", BOT, 5)
    stored = " ".join(str(value) for value in row.__dict__.values())
    assert "wrong-" not in stored


def test_an_admin_unlocks_a_user_name_with_axes_reset_username(support_user):
    fail_until_locked("/accounts/login/")

    call_command("axes_reset_username", "support")

    assert attempt("/accounts/login/", "support", PASSWORD).status_code == 302


def test_with_no_lockout_minutes_the_page_says_an_admin_must_unlock(settings, support_user):
    settings.AXES_COOLOFF_TIME = None
    fail_until_locked("/accounts/login/")

    response = attempt("/accounts/login/", "support", PASSWORD)

    assert response.status_code == 429
    assert "It stays locked until an admin unlocks it." in response.content.decode()
    assert "Retry-After" not in response


def test_an_admin_sees_the_lock_out_and_unlocks_it_by_deleting_the_attempt(
    admin_user, support_user
):
    fail_until_locked("/accounts/login/")
    boss = Client()
    boss.force_login(admin_user)
    listing = boss.get("/admin/axes/accessattempt/")
    attempt_row = AccessAttempt.objects.get(username="support")

    assert listing.status_code == 200
    assert "support" in listing.content.decode() and BOT in listing.content.decode()
    response = boss.post(f"/admin/axes/accessattempt/{attempt_row.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert attempt("/accounts/login/", "support", PASSWORD).status_code == 302


def test_lock_outs_are_read_only_in_the_admin_and_unlocking_needs_the_delete_permission(
    admin_user, support_user
):
    fail_until_locked("/accounts/login/")
    attempt_row = AccessAttempt.objects.get()
    viewer = make_user("auditor", ["axes.view_accessattempt"], is_staff=True)
    client = Client()
    client.force_login(viewer)

    assert client.get(f"/admin/axes/accessattempt/{attempt_row.pk}/change/").status_code == 200
    assert client.get("/admin/axes/accessattempt/add/").status_code == 403
    delete = client.post(f"/admin/axes/accessattempt/{attempt_row.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert AccessAttempt.objects.filter(pk=attempt_row.pk).exists()
