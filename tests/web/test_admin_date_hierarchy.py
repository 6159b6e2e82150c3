"""Every admin list with a date_hierarchy (ours and django-axes') answers a date no calendar
holds with the admin's "invalid lookup" redirect, not a 500: Django's ChangeList builds the
date with datetime() and catches only ValueError, not OverflowError."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tenants.admin_helpers import DateHierarchyBoundsChecked
from tests.web.conftest import logged_in, make_user

OVERFLOWING = [
    {"__year": "2147483648"},
    {"__year": "99999999999999999999"},
    # The day after 9999-12-31, the upper bound of the range Django filters on.
    {"__year": "9999", "__month": "12", "__day": "31"},
    {"__year": "9999", "__month": "12"},
]


def _lists_with_a_date_hierarchy():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model_admin.date_hierarchy
    ]


def test_every_list_with_a_date_hierarchy_checks_its_bounds():
    lists = _lists_with_a_date_hierarchy()

    assert len(lists) >= 3  # the audit events, axes' attempts and logs
    for model, model_admin in lists:
        assert isinstance(model_admin, DateHierarchyBoundsChecked), model


@pytest.mark.django_db
@pytest.mark.parametrize("bounds", OVERFLOWING)
def test_a_date_no_calendar_holds_is_the_invalid_lookup_redirect(bounds):
    client = logged_in(make_user("root", [], is_staff=True, is_superuser=True))
    client.raise_request_exception = False

    for model, model_admin in _lists_with_a_date_hierarchy():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        params = {model_admin.date_hierarchy + suffix: value for suffix, value in bounds.items()}

        response = client.get(url, params)

        assert response.status_code == 302, (url, params, response.status_code)
        assert response["Location"].endswith("?e=1")
        # A year the calendar holds still filters.
        assert client.get(url, {model_admin.date_hierarchy + "__year": "2026"}).status_code == 200
