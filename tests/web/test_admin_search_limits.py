"""Every admin search box takes at most MAX_SEARCH_WORDS words of its first MAX_SEARCH_LENGTH
characters (tenants.admin_helpers.BoundedSearch), and a lone quote is a word as typed.

Found by an attack on the search (tests/web/test_search_attack.py): Django's admin makes one
more AND of every search field's LIKE per word, without limit; 2,700 one-letter words (a
request line gunicorn accepts) were a 503 on SQLite (an expression tree too deep) and held a
PostgreSQL connection until the statement timeout; 20 words in the integration list took
seconds for PostgreSQL to plan. A lone `'` was read as an empty phrase: every row listed."""

import pytest
from django.contrib import admin as django_admin
from django.urls import reverse
from django.utils.text import smart_split, unescape_string_literal

from integrations.models import Integration
from tenants.admin_helpers import (
    MAX_SEARCH_LENGTH,
    MAX_SEARCH_WORDS,
    BoundedSearch,
    _as_search_term,
    bounded_search,
)
from tests.factories import TenantFactory, TwilioFactory

SEARCHING_ADMINS = sorted(
    (model._meta.label for model, model_admin in django_admin.site._registry.items()
     if model_admin.search_fields),
)  # fmt: skip


def _changelist(label: str) -> str:
    app_label, model_name = label.lower().split(".")
    return reverse(f"admin:{app_label}_{model_name}_changelist")


def test_every_admin_that_searches_is_bounded():
    assert len(SEARCHING_ADMINS) >= 8  # tenants, tokens, audit, integrations, users, axes…
    unbounded = [
        model._meta.label
        for model, model_admin in django_admin.site._registry.items()
        if model_admin.search_fields and not isinstance(model_admin, BoundedSearch)
    ]
    assert unbounded == []


@pytest.mark.django_db
@pytest.mark.parametrize("label", SEARCHING_ADMINS)
def test_a_search_of_thousands_of_words_answers_and_searches_the_first_ten(admin, count_sql, label):
    q = " ".join(["zq"] * 2700)  # about 8,100 bytes of request line: gunicorn takes it

    with count_sql() as sql:
        response = admin.get(_changelist(label), {"q": q})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 0
    searched = max(statement.count("%zq%") for statement in sql.statements)
    assert (
        1
        <= searched
        <= MAX_SEARCH_WORDS * len(django_admin.site._registry[_model(label)].search_fields)
    )


def _model(label: str):
    return next(model for model in django_admin.site._registry if model._meta.label == label)


@pytest.mark.django_db
def test_the_integration_search_makes_one_subquery_per_word_up_to_ten(admin, count_sql):
    TwilioFactory(tenant=TenantFactory(name="acme"), account="AC-A")
    q = " ".join(f"a{n}" if n % 2 else "a" for n in range(40))

    with count_sql() as sql:
        response = admin.get("/admin/integrations/integration/", {"q": q})

    assert response.status_code == 200
    listing = [s for s in sql.statements if '"integrations_integration"."ident"' in s]
    # The words kept are "a", "a1", "a", "a3" … "a9": ten subqueries, none of "a11" or later.
    assert listing and all("%a11%" not in s for s in listing)
    assert max(s.count("%a9%") for s in listing) >= 1
    assert [i.ident for i in response.context["cl"].result_list] == []


@pytest.mark.django_db
@pytest.mark.parametrize("quote", ["'", '"'])
def test_a_lone_quote_finds_the_rows_holding_one_not_every_row(admin, quote):
    TenantFactory(name="obrien", display_name=f"O{quote}Brien")
    TenantFactory(name="plain", display_name="Plain")

    response = admin.get("/admin/tenants/tenant/", {"q": quote})

    assert response.status_code == 200
    assert [t.name for t in response.context["cl"].result_list] == ["obrien"]


@pytest.mark.django_db
def test_the_integration_admin_finds_a_lone_quote_too(admin):
    TwilioFactory(tenant=TenantFactory(name="quo"), account="AC'4")
    TwilioFactory(tenant=TenantFactory(name="plain"), account="AC55")

    response = admin.get("/admin/integrations/integration/", {"q": "'"})

    assert [i.tenant.name for i in response.context["cl"].result_list] == ["quo"]
    assert Integration.objects.count() == 2


@pytest.mark.parametrize(
    "term,words",
    [
        ("", []),
        ("   ", []),
        ("a b", ["a", "b"]),
        ('a "b c" d', ["a", "b c", "d"]),
        ("it's", ["it's"]),
        ("'", ["'"]),
        ('"', ['"']),
        ('""', []),  # an empty phrase: nothing to look for
        ('"abc', ['"abc']),  # unclosed: the word as typed
        (" ".join(str(n) for n in range(30)), [str(n) for n in range(MAX_SEARCH_WORDS)]),
        ('" a b "', [" a b "]),  # a phrase keeps its blanks, as in Django's admin
        ("' '", [" "]),
        ("\u3000" * 300 + "a b", ["a", "b"]),  # the blanks around the term use up no limit
        # A word cut in two by the limit is left out; one that ends at it is kept.
        ("x" * 500, []),
        ("a " + "x" * 300, ["a"]),
        ("x" * (MAX_SEARCH_LENGTH - 2) + " yz", ["x" * (MAX_SEARCH_LENGTH - 2)]),
        ("x" * (MAX_SEARCH_LENGTH - 3) + " yz b", ["x" * (MAX_SEARCH_LENGTH - 3), "yz"]),
        ("x" * (MAX_SEARCH_LENGTH - 1) + " yz", ["x" * (MAX_SEARCH_LENGTH - 1)]),
    ],
)
def test_search_words(term, words):
    assert bounded_search(term).words == words


@pytest.mark.parametrize(
    "term,cut,lists_nothing",
    [
        ("a b", False, False),
        ("  " + "x" * MAX_SEARCH_LENGTH + "  ", False, False),
        (" ".join("w" * MAX_SEARCH_WORDS), False, False),
        (" ".join("w" * (MAX_SEARCH_WORDS + 1)), True, False),
        ("a " + "x" * 300, True, False),
        ("x" * (MAX_SEARCH_LENGTH + 1), True, True),
    ],
)
def test_bounded_search_says_when_it_left_words_out(term, cut, lists_nothing):
    bounded = bounded_search(term)
    assert (bounded.cut, bounded.lists_nothing) == (cut, lists_nothing)


@pytest.mark.django_db
def test_a_word_longer_than_the_limit_lists_nothing_and_says_why(admin):
    TenantFactory(name="x" * 50)

    response = admin.get("/admin/tenants/tenant/", {"q": "x" * (MAX_SEARCH_LENGTH + 1)})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    [message] = [str(m) for m in response.context["messages"]]
    assert message == (
        f"A search takes at most {MAX_SEARCH_WORDS} words of {MAX_SEARCH_LENGTH} characters. "
        "Its first word is longer: nothing is listed."
    )


@pytest.mark.django_db
def test_a_search_of_too_many_words_says_which_were_searched(admin):
    TenantFactory(name="acme-corp")
    words = ["acme"] * MAX_SEARCH_WORDS + ["zzz"]

    response = admin.get("/admin/tenants/tenant/", {"q": " ".join(words)})

    assert [t.name for t in response.context["cl"].result_list] == ["acme-corp"]
    [message] = [str(m) for m in response.context["messages"]]
    searched = " ".join(["“acme”"] * MAX_SEARCH_WORDS)
    assert message.endswith(f"Listed are the rows that match {searched} only.")
    assert "zzz" not in message
    assert "Listed are the rows" in response.content.decode()  # shown on that very page


@pytest.mark.parametrize(
    "word",
    ["a", "\\", '"', "'", '\\"', '"\\', "it's", 'a"b"c', '\\\\""', "x y", "%_\\", "é\u00a0é"],
)
def test_a_word_survives_the_way_back_through_djangos_split(word):
    """BoundedSearch hands Django's search `_as_search_term(words)`; Django splits it as its
    admin does (smart_split, then unescape_string_literal of a quoted phrase)."""
    bits = list(smart_split(_as_search_term([word, "next"])))
    assert [unescape_string_literal(bit) for bit in bits] == [word, "next"]


@pytest.mark.django_db
def test_the_warning_shows_the_searched_words_escaped(admin):
    words = ["<b>x</b>"] * MAX_SEARCH_WORDS + ["more"]

    response = admin.get("/admin/tenants/tenant/", {"q": " ".join(words)})

    page = response.content.decode()
    assert "“&lt;b&gt;x&lt;/b&gt;”" in page
    assert "<b>x</b>" not in page
