"""Outside the API a database that is down answers the plain 503 page with Retry-After (in
DEBUG too), not a 500 or the debug page; the page itself needs no database."""

import pytest
from django.db import InterfaceError, OperationalError

from integrations import selectors
from integrations.api.errors import server_error_handler

DRIVER_TEXT = 'connection to server at "db.internal", port 5432 failed: timeout expired'


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):
    settings.DEBUG = request.param


@pytest.mark.django_db
@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_database_error_on_a_staff_page_is_the_plain_503_page(
    debug, support, tenant, monkeypatch, error
):
    def fail(**kwargs):
        raise error(DRIVER_TEXT)

    monkeypatch.setattr(selectors, "integration_list", fail)

    response = support.get("/tenants/acme/")

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "<h1>Temporarily unavailable</h1>" in page
    assert "The database is unavailable; try again shortly." in page
    assert "db.internal" not in page
    assert "Traceback" not in page


@pytest.mark.parametrize(
    "path,content_type",
    [("/tenants/acme/", "text/html"), ("/1.0/tenants/acme/integrations", "application/json")],
)
def test_a_database_error_raised_outside_any_view_is_a_503_not_a_500(rf, path, content_type):
    # handler500 runs while Django handles an exception a middleware raised.
    try:
        raise OperationalError(DRIVER_TEXT)
    except OperationalError:
        response = server_error_handler(rf.get(path))

    assert response.status_code == 503
    assert response["Content-Type"].startswith(content_type)
    assert response["Retry-After"] == "5"


def test_any_other_error_outside_a_view_is_still_a_500(rf):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        response = server_error_handler(rf.get("/tenants/acme/"))

    assert response.status_code == 500
