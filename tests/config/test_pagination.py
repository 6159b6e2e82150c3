"""config.pagination.CountingPaginator pages exactly as Django's Paginator does, in one query
for a page that has rows (the page's SELECT counts every row with COUNT(*) OVER ())."""

import pytest
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.pagination import CountingPaginator
from tenants.models import Tenant
from tests.bulk import bulk_tenants


def _outcome(paginator_class, queryset, number, **options):
    paginator = paginator_class(queryset, 5, **options)
    try:
        page = paginator.page(number)
    except (EmptyPage, PageNotAnInteger) as error:
        return type(error).__name__, str(error)
    return (
        [tenant.name for tenant in page],
        page.number,
        paginator.count,
        paginator.num_pages,
        page.has_previous(),
        page.has_next(),
        page.start_index(),
        page.end_index(),
    )


NUMBERS = [1, 2, 3, 4, 5, "2", "last", "x", None, 0, -1, 99, "3.0"]


@pytest.mark.django_db
@pytest.mark.parametrize("tenants", [0, 1, 5, 12, 15])
@pytest.mark.parametrize("orphans", [0, 2])
def test_every_page_is_the_page_djangos_paginator_gives(tenants, orphans):
    bulk_tenants([f"t{i:03d}" for i in range(tenants)])
    queryset = Tenant.objects.order_by("name")

    for number in NUMBERS:
        ours = _outcome(CountingPaginator, queryset, number, orphans=orphans)
        theirs = _outcome(Paginator, queryset, number, orphans=orphans)
        assert ours == theirs, (number, ours, theirs)


@pytest.mark.django_db
def test_a_page_with_rows_and_its_total_are_one_query():
    bulk_tenants([f"t{i:03d}" for i in range(12)])
    paginator = CountingPaginator(Tenant.objects.order_by("name"), 5)

    with CaptureQueriesContext(connection) as captured:
        page = paginator.page(2)
        assert [tenant.name for tenant in page] == [f"t{i:03d}" for i in range(5, 10)]
        assert (paginator.count, paginator.num_pages) == (12, 3)

    assert len(captured) == 1
    assert "OVER ()" in captured[0]["sql"]


@pytest.mark.django_db
def test_a_page_past_the_end_is_djangos_empty_page_after_djangos_count():
    bulk_tenants([f"t{i:03d}" for i in range(3)])
    paginator = CountingPaginator(Tenant.objects.order_by("name"), 5)

    with CaptureQueriesContext(connection) as captured, pytest.raises(EmptyPage):
        paginator.page(2)

    assert len(captured) == 2  # the empty page, then COUNT(*)
    assert paginator.count == 3


@pytest.mark.django_db
def test_distinct_querysets_and_lists_are_paged_the_django_way():
    bulk_tenants([f"t{i:03d}" for i in range(7)])
    distinct = Tenant.objects.order_by("name").distinct()

    assert _outcome(CountingPaginator, distinct, 2) == _outcome(Paginator, distinct, 2)
    names = [f"n{i}" for i in range(7)]
    assert CountingPaginator(names, 5).page(2).object_list == ["n5", "n6"]
