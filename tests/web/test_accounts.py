"""Accounts: log in, log out and password change are routed; password reset is not.

Password reset works by mailing a link, and this application sends no mail: its pages must
not exist (an admin sets a forgotten password instead).
"""

import pytest
from django.contrib.auth.models import User

from tests.web.conftest import PASSWORD


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/MQ/set-password/",
        "/accounts/reset/done/",
    ],
)
def test_password_reset_pages_do_not_exist(client, support, url):
    assert client.get(url).status_code == 404
    assert client.post(url, {"email": "support@example.com"}).status_code == 404
    assert support.get(url).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_no_login_page_offers_a_password_reset(client, url):
    html = client.get(url).content.decode()

    assert "password_reset" not in html
    assert "Forgotten your password" not in html


@pytest.mark.django_db
def test_a_person_logs_in_and_out(client, support_user):
    login = client.post("/accounts/login/", {"username": "support", "password": PASSWORD})
    assert (login.status_code, login["Location"]) == (302, "/")
    assert client.get("/").status_code == 200

    logout = client.post("/accounts/logout/")
    assert (logout.status_code, logout["Location"]) == (302, "/accounts/login/")
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_a_wrong_password_does_not_log_in(client, support_user):
    response = client.post("/accounts/login/", {"username": "support", "password": "wrong"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_logged_in_person_changes_their_own_password(support, support_user):
    page = support.get("/accounts/password_change/")
    assert page.status_code == 200

    new = "a-new-horse-battery-staple"
    response = support.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )

    assert (response.status_code, response["Location"]) == (302, "/accounts/password_change/done/")
    assert User.objects.get(username="support").check_password(new)
    assert support.get("/accounts/password_change/done/").status_code == 200
