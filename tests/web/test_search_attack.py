"""Attack on c07e809 (the staff search as an OR of the tenant's columns and an InSubquery of
the integrations' tenant ids; the plain Paginator; search hits filtered before the joins; the
admin's integration search sharing the branches). Each test states what a user expects of the
tenant list (`/?q=`) and of the admin's integration list (`/admin/integrations/integration/?q=`).
Runs on the configured database; the `postgres` ones only on PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import Integration
from integrations.providers import all_providers
from integrations.search import MAX_QUERY_LENGTH, search_hits, tenant_search
from integrations.services import integration_delete
from tenants.models import Tenant
from tenants.services import tenant_delete
from tests.factories import (
    DataSiftFactory,
    SalesforceFactory,
    SendGridFactory,
    TenantFactory,
    TwilioFactory,
    actor_named,
)

ADMIN_LIST = "/admin/integrations/integration/"


def names(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    return [tenant.name for tenant in response.context["tenants"]]


def count(response) -> int:
    return response.context["paginator"].count


def admin_rows(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    return sorted(f"{i.tenant.name}/{i.ident}" for i in response.context["cl"].result_list)


def raw_get(client, path: str, query_string: str):
    """A GET with the query string exactly as given (bytes a browser might send)."""
    return client.generic("GET", path, QUERY_STRING=query_string)


# --- LIKE wildcards, escapes, quotes ---------------------------------------------------------


@pytest.fixture
def odd_values(db):
    TwilioFactory(tenant=TenantFactory(name="pct", display_name="100% sure"), account="AC%1")
    TwilioFactory(tenant=TenantFactory(name="und", display_name="a_b"), account="AC_2")
    TwilioFactory(tenant=TenantFactory(name="bsl", display_name="back\\slash"), account="AC\\3")
    TwilioFactory(tenant=TenantFactory(name="quo", display_name='O\'Brien "Q"'), account="AC'4")
    TwilioFactory(tenant=TenantFactory(name="plain", display_name="plain"), account="AC55")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "q,expected",
    [
        ("%", ["pct"]),
        ("_", ["und"]),
        ("\\", ["bsl"]),
        ("\\\\", []),
        ("'", ["quo"]),
        ('"', ["quo"]),
        ("O'Brien", ["quo"]),
        ("AC%", ["pct"]),
        ("AC_", ["und"]),
        ("AC\\", ["bsl"]),
        ("%%", []),
        ("__", []),
        ("[a-z]", []),
        ("*", []),
        ("?", []),
        ("AC.", []),
    ],
)
def test_staff_search_takes_like_metacharacters_literally(support, odd_values, q, expected):
    response = support.get("/", {"q": q})

    assert names(response) == expected
    assert count(response) == len(expected)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "q,expected",
    [
        ("%", ["pct/twilio"]),
        ("_", ["und/twilio"]),
        ("\\", ["bsl/twilio"]),
        ("AC%", ["pct/twilio"]),
        ("AC_", ["und/twilio"]),
        ("%%", []),
        ("__", []),
        ('"O\'Brien"', ["quo/twilio"]),
    ],
)
def test_admin_search_takes_like_metacharacters_literally(admin, odd_values, q, expected):
    assert admin_rows(admin.get(ADMIN_LIST, {"q": q})) == expected


# --- NUL, surrogates, length, whitespace -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", ADMIN_LIST])
@pytest.mark.parametrize("q", ["\x00", "acme\x00", "%00"])
def test_nul_in_a_search_is_a_400_never_a_500(request, path, q):
    client = request.getfixturevalue("support" if path == "/" else "admin")
    TwilioFactory(tenant=TenantFactory(name="acme"))

    response = raw_get(client, path, "q=%00") if q == "%00" else client.get(path, {"q": q})

    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", ADMIN_LIST])
@pytest.mark.parametrize(
    "raw",
    [
        "q=%ED%A0%80",  # a lone high surrogate, UTF-8-encoded (invalid UTF-8)
        "q=%ED%B0%80acme",  # a lone low surrogate
        "q=%FF%FE",  # not UTF-8 at all
        "q=%F0%9F%98%80",  # an emoji (astral plane)
        "q=%EF%BF%BF",  # a non-character
        "q=acme&q=globex",  # the parameter twice
        "q",  # no value
    ],
)
def test_odd_bytes_in_a_search_never_answer_500(request, path, raw):
    client = request.getfixturevalue("support" if path == "/" else "admin")
    TwilioFactory(tenant=TenantFactory(name="acme"))

    response = raw_get(client, path, raw)

    assert response.status_code in (200, 400)


@pytest.mark.django_db
def test_an_emoji_value_is_found_and_marked(support):
    TwilioFactory(tenant=TenantFactory(name="acme", display_name="x"), account="AC-\U0001f600-1")
    TenantFactory(name="other")

    response = support.get("/", {"q": "\U0001f600"})

    assert names(response) == ["acme"]
    [hit] = response.context["tenants"][0].hits
    assert [v.marked.hit for v in hit.values] == ["\U0001f600"]


@pytest.mark.django_db
def test_a_query_longer_than_the_limit_is_cut_not_refused(support):
    long_name = "y" * 200
    TenantFactory(name="longone", display_name=long_name)
    TenantFactory(name="other", display_name="other")

    cut = support.get("/", {"q": long_name + "ZZZZ-not-in-it" * 50})
    admin_search = support.get("/", {"q": "x" * 100_000})

    assert names(cut) == ["longone"]  # the first 200 characters are searched
    assert admin_search.status_code == 200 and names(admin_search) == []


@pytest.mark.django_db
def test_the_admin_survives_a_very_long_query(admin):
    TwilioFactory(tenant=TenantFactory(name="acme"))

    response = admin.get(ADMIN_LIST, {"q": "AC" * 5000})

    assert response.status_code == 200
    assert admin_rows(response) == []


@pytest.mark.django_db
def test_the_search_cuts_at_the_limit_after_stripping(support):
    TenantFactory(name="acme", display_name="acme")
    q = "   " + "acme" + " " * 300 + "nothing"

    response = support.get("/", {"q": q})

    assert names(response) == ["acme"]
    assert len(tenant_search(query="a" * 500).query.__str__()) > 0
    assert MAX_QUERY_LENGTH == 200


@pytest.mark.django_db
@pytest.mark.parametrize("q", [" ", "   ", "\t", "\n", "\u00a0", "\u3000"])
def test_a_whitespace_only_query_lists_everyone(support, q):
    TenantFactory(name="acme")
    TenantFactory(name="globex")

    response = support.get("/", {"q": q})

    assert names(response) == ["acme", "globex"]
    assert count(response) == 2


# --- unicode case ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "stored,q",
    [
        ("Müller GmbH", "MÜLLER"),
        ("ÉCOLE", "école"),
        ("Ωmega", "ωMEGA"),
    ],
)
def test_the_search_is_case_insensitive_beyond_ascii(support, stored, q):
    TenantFactory(name="acme", display_name=stored)
    TenantFactory(name="other", display_name="other")

    assert names(support.get("/", {"q": q})) == ["acme"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "stored,q",
    [
        ("Müller GmbH", "MÜLLER"),
        ("ÉCOLE", "école"),
    ],
)
def test_a_matched_value_beyond_ascii_is_found_and_marked(support, stored, q):
    TwilioFactory(tenant=TenantFactory(name="acme", display_name="x"), account=stored)
    TenantFactory(name="other")

    response = support.get("/", {"q": q})

    assert names(response) == ["acme"]
    [hit] = response.context["tenants"][0].hits
    assert [v.value for v in hit.values] == [stored]


@pytest.mark.django_db
@pytest.mark.parametrize("q", ["ı", "İ", "ß", "K", "ſ"])  # noqa: RUF001 (on purpose)
def test_every_listed_tenant_shows_why_it_matched(support, q):
    """A tenant in the results matched by name, display name or an integration: the row shows
    the integration (marked) or the name holds the query; never a row with no reason."""
    for name, account in [("istanbul", "ISTANBUL"), ("strasse", "STRASSE"), ("kilo", "K1")]:
        TwilioFactory(tenant=TenantFactory(name=name, display_name=name), account=account)
    SendGridFactory(tenant=TenantFactory(name="sendgrid-shop", display_name="s"), ident="sg")

    response = support.get("/", {"q": q})

    assert response.status_code == 200
    for tenant in response.context["tenants"]:
        in_name = any(
            q.casefold() in (value or "").casefold() for value in (tenant.name, tenant.display_name)
        )
        explained = [h for h in tenant.hits if h.ident_marked or h.values or h.provider_matched]
        assert in_name or explained, (q, tenant.name, [h.ident for h in tenant.hits])


# --- provider key or label -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("q", ["twilio", "Twilio", "TWILIO", "wil", "Salesforce", "force"])
def test_a_provider_key_or_label_finds_exactly_the_tenants_holding_one_live(support, q):
    wanted = "twilio" if "wil" in q.lower() else "salesforce"
    factory = TwilioFactory if wanted == "twilio" else SalesforceFactory
    holder = TenantFactory(name="holder", display_name="h")
    factory(tenant=holder, ident="main")
    factory(tenant=holder, ident="second")
    gone_only = TenantFactory(name="gone-only", display_name="g")
    integration_delete(integration=factory(tenant=gone_only, ident="main"), actor=actor_named())
    deleted_tenant = TenantFactory(name="deleted-tenant", display_name="d")
    factory(tenant=deleted_tenant, ident="main")
    tenant_delete(tenant=deleted_tenant, actor=actor_named())
    DataSiftFactory(tenant=TenantFactory(name="other", display_name="o"), ident="ds")

    response = support.get("/", {"q": q})

    assert names(response) == ["holder"]
    assert count(response) == 1
    hits = response.context["tenants"][0].hits
    assert sorted(h.ident for h in hits) == ["main", "second"]
    assert all(h.provider_matched for h in hits)


@pytest.mark.django_db
def test_the_admin_finds_deleted_integrations_and_those_of_deleted_tenants_on_demand(admin):
    holder = TenantFactory(name="holder")
    TwilioFactory(tenant=holder, ident="live")
    integration_delete(integration=TwilioFactory(tenant=holder, ident="gone"), actor=actor_named())
    dead = TenantFactory(name="dead")
    TwilioFactory(tenant=dead, ident="orphan", account="AC-ORPHAN")
    tenant_delete(tenant=dead, actor=actor_named())

    live = admin.get(ADMIN_LIST, {"q": "twilio"})
    every = admin.get(ADMIN_LIST, {"q": "twilio", "status": "all"})
    deleted = admin.get(ADMIN_LIST, {"q": "twilio", "status": "deleted"})
    by_value = admin.get(ADMIN_LIST, {"q": "orphan", "status": "all"})
    by_dead_tenant = admin.get(ADMIN_LIST, {"q": "dead", "status": "all"})

    assert admin_rows(live) == ["dead/orphan", "holder/live"]
    assert admin_rows(every) == ["dead/orphan", "holder/gone", "holder/live"]
    assert admin_rows(deleted) == ["holder/gone"]
    assert admin_rows(by_value) == ["dead/orphan"]
    assert admin_rows(by_dead_tenant) == ["dead/orphan"]


@pytest.mark.django_db
def test_a_deleted_integration_value_neither_finds_nor_shows(support):
    tenant = TenantFactory(name="acme", display_name="acme")
    TwilioFactory(tenant=tenant, ident="live", account="AC-LIVE")
    integration_delete(
        integration=TwilioFactory(tenant=tenant, ident="gone", account="AC-LIVE-GONE"),
        actor=actor_named(),
    )

    by_gone = support.get("/", {"q": "AC-LIVE-GONE"})
    by_name = support.get("/", {"q": "AC-LIVE"})

    assert names(by_gone) == []
    assert names(by_name) == ["acme"]
    assert [h.ident for h in by_name.context["tenants"][0].hits] == ["live"]


# --- duplicates, counts, pagination ----------------------------------------------------------


@pytest.fixture
def many_duplicates(db):
    """30 tenants each matching "dup" by name, display name, integration id, two values of two
    integrations and a third provider's value: each must be listed once and counted once."""
    for n in range(30):
        tenant = TenantFactory(name=f"dup-{n:02}", display_name=f"Dup {n}")
        TwilioFactory(tenant=tenant, ident=f"dup-tw-{n}", account=f"AC-DUP-{n}")
        TwilioFactory(tenant=tenant, ident=f"dup-tw2-{n}", account=f"AC-DUP2-{n}")
        SendGridFactory(tenant=tenant, ident="sg", account=f"dup-user-{n}")
    TenantFactory(name="zzz-unrelated", display_name="zzz")


@pytest.mark.django_db
def test_a_tenant_matching_many_ways_is_listed_and_counted_once(support, many_duplicates):
    first = support.get("/", {"q": "dup"})
    second = support.get("/", {"q": "dup", "page": 2})
    last = support.get("/", {"q": "dup", "page": "last"})

    assert count(first) == 30
    assert names(first) == [f"dup-{n:02}" for n in range(25)]
    assert names(second) == [f"dup-{n:02}" for n in range(25, 30)]
    assert names(last) == names(second)
    assert "30 tenants matching" in first.content.decode()
    assert first.context["paginator"].num_pages == 2
    # Three integrations matched per tenant, each once.
    assert all(len(t.hits) == 3 for t in first.context["tenants"])
    assert len({h.ident for h in first.context["tenants"][0].hits}) == 3


@pytest.mark.django_db
def test_counts_agree_with_the_rows_for_queries_matching_by_integrations_only(
    support, many_duplicates
):
    for q in ["AC-DUP", "twilio", "sendgrid", "sg", "dup-user"]:
        response = support.get("/", {"q": q})
        every = list(tenant_search(query=q))

        assert count(response) == len(every) == len(set(every)) == 30, q
        assert tenant_search(query=q).count() == 30


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["3", "999", "0", "-1", "abc", "1.5", "", "2 ", "١"])  # noqa: RUF001
def test_a_page_beyond_or_beside_the_list_is_a_404_never_a_500(support, many_duplicates, page):
    response = support.get("/", {"q": "dup", "page": page})

    if page in ("", "2 ", "١"):  # noqa: RUF001 (int() takes "2 " and Arabic-Indic digits)
        assert response.status_code in (200, 404)
    else:
        assert response.status_code == 404


@pytest.mark.django_db
def test_an_empty_search_still_answers_page_one(support, many_duplicates):
    response = support.get("/", {"q": "no-such-thing", "page": 1})
    last = support.get("/", {"q": "no-such-thing", "page": "last"})

    assert names(response) == [] and count(response) == 0
    assert "No tenant matches" in response.content.decode()
    assert last.status_code == 200


@pytest.mark.django_db
def test_the_admin_counts_an_integration_matching_many_ways_once(admin, many_duplicates):
    response = admin.get(ADMIN_LIST, {"q": "dup"})

    cl = response.context["cl"]
    assert cl.result_count == 90
    assert len({row.pk for row in cl.result_list}) == len(cl.result_list) == 50
    second = admin.get(ADMIN_LIST, {"q": "dup", "p": 2})
    assert len(second.context["cl"].result_list) == 40


# --- filters combined ------------------------------------------------------------------------


@pytest.fixture
def mixed(db):
    """shop-0..5: even ones hold a failing Twilio, odd ones a passing one; each a SendGrid;
    shop-5's Twilio is deleted (and failing)."""
    for n in range(6):
        tenant = TenantFactory(name=f"shop-{n}", display_name=f"Shop {n}")
        twilio = TwilioFactory(tenant=tenant, ident="tw", account=f"AC-SHOP-{n}")
        SendGridFactory(tenant=tenant, ident="sg", account=f"sg-{n}")
        Integration.all_objects.filter(pk=twilio.pk).update(
            last_verification="rejected" if n % 2 == 0 or n == 5 else "ok"
        )
        if n == 5:
            integration_delete(integration=twilio, actor=actor_named())
    other = TenantFactory(name="other", display_name="other")
    failing = TwilioFactory(tenant=other, ident="tw", account="AC-OTHER")
    Integration.all_objects.filter(pk=failing.pk).update(last_verification="unreachable")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params,expected",
    [
        ({"q": "shop", "status": "failing"}, ["shop-0", "shop-2", "shop-4"]),
        ({"q": "AC-SHOP", "status": "failing"}, ["shop-0", "shop-2", "shop-4"]),
        ({"q": "AC-SHOP", "provider": "twilio"}, [f"shop-{n}" for n in range(5)]),
        ({"q": "sg-", "provider": "twilio"}, [f"shop-{n}" for n in range(5)]),
        ({"q": "sg-", "provider": "twilio", "status": "failing"}, ["shop-0", "shop-2", "shop-4"]),
        ({"q": "twilio", "provider": "sendgrid"}, [f"shop-{n}" for n in range(5)]),
        ({"q": "AC-SHOP-5"}, []),
        ({"q": "sg-5", "provider": "twilio"}, []),
        ({"q": "sg-5", "status": "failing"}, []),
        ({"q": "twilio", "status": "failing"}, ["other", "shop-0", "shop-2", "shop-4"]),
        ({"q": "AC-", "status": "failing", "provider": "sendgrid"}, ["shop-0", "shop-2", "shop-4"]),
    ],
)
def test_q_provider_and_failing_combine(support, mixed, params, expected):
    response = support.get("/", params)

    assert names(response) == expected
    assert count(response) == len(expected)


# --- secrets ---------------------------------------------------------------------------------


def _stored_secret_texts() -> list[str]:
    """The secret columns as stored (ciphertext): pieces of them must not find anything."""
    pieces = []
    for provider in all_providers():
        secret_columns = [provider._meta.get_field(n).column for n in provider.secret_field_names()]
        table = provider._meta.db_table
        with connection.cursor() as cursor:
            for column in secret_columns:
                cursor.execute(f'SELECT "{column}" FROM "{table}"')  # noqa: S608 (test-only)
                for (value,) in cursor.fetchall():
                    text = value if isinstance(value, str) else bytes(value).decode("latin-1")
                    pieces.append(text[5:35])
    return [p for p in pieces if p.strip()]


@pytest.mark.django_db
def test_neither_a_secret_nor_its_ciphertext_is_searchable(support, admin):
    tenant = TenantFactory(name="acme", display_name="acme")
    secrets = []
    for factory in (SalesforceFactory, TwilioFactory, SendGridFactory, DataSiftFactory):
        integration = factory(tenant=tenant)
        secrets += [getattr(integration, n).reveal() for n in integration.secret_field_names()]
    ciphertexts = _stored_secret_texts()
    assert ciphertexts

    for q in [*secrets, *ciphertexts]:
        staff = support.get("/", {"q": q})
        admin_page = admin.get(ADMIN_LIST, {"q": f'"{q}"', "status": "all"})

        assert names(staff) == [], q
        assert admin_rows(admin_page) == [], q
    for q in ["acme", "a", "-", *(p.provider_key for p in all_providers())]:
        html = support.get("/", {"q": q}).content.decode()
        assert not [s for s in [*secrets, *ciphertexts] if s in html], q


@pytest.mark.django_db
def test_search_hits_never_read_a_secret_column(support, count_sql):
    tenant = TenantFactory(name="acme")
    for factory in (SalesforceFactory, TwilioFactory, SendGridFactory, DataSiftFactory):
        factory(tenant=tenant)
    secret_columns = {
        provider._meta.get_field(n).column
        for provider in all_providers()
        for n in provider.secret_field_names()
    }

    with count_sql() as sql:
        search_hits(tenant_ids=[tenant.pk], query="a")
        list(tenant_search(query="a"))

    for statement in sql.statements:
        for column in secret_columns:
            assert f'."{column}"' not in statement, (column, statement)


# --- query counts ----------------------------------------------------------------------------


def _statements(client, params) -> int:
    client.get("/", params)
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/", params)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"q": "dup"},
        {"q": "twilio"},
        {"q": "AC-DUP", "page": 2},
        {"q": "dup", "provider": "twilio", "status": "failing"},
        {"q": "%"},
    ],
)
def test_the_search_costs_the_same_statements_at_any_size(support, params):
    def grow(start, stop):
        for n in range(start, stop):
            tenant = TenantFactory(name=f"dup-{n:03}", display_name=f"Dup {n}")
            for k in range(3):
                TwilioFactory(tenant=tenant, ident=f"dup-tw-{k}", account=f"AC-DUP-{n}-{k}")
            SendGridFactory(tenant=tenant, ident="sg", account=f"dup-%-{n}")

    grow(0, 30)
    Integration.all_objects.update(last_verification="rejected")
    small = _statements(support, params)
    grow(30, 90)
    Integration.all_objects.update(last_verification="rejected")
    large = _statements(support, params)

    assert small == large


# --- anything else: never a 500 --------------------------------------------------------------

NASTY = [
    "'; DROP TABLE tenants_tenant; --",
    "\\%",
    "\\_",
    "%\\",
    "ARRAY[1]",
    "}{",
    "{1,2}",
    "$1",
    "%s",
    "%(q)s",
    "?",
    "::text",
    "E'\\x'",
    "\u202e",
    "\ufeff",
    "a\u0301",
    "\U0001f600" * 100,
    "ǅ",
    "ﬁ",
    "twilio sendgrid",
    '"unclosed',
    "'it's'",
    '""',
    "''",
]


@pytest.mark.django_db
@pytest.mark.parametrize("q", NASTY)
def test_nothing_typed_is_a_500(support, admin, q):
    TwilioFactory(tenant=TenantFactory(name="acme", display_name="Acme"), account="AC0")
    SalesforceFactory(tenant=TenantFactory(name="globex"))

    for params in [{"q": q}, {"q": q, "provider": "twilio", "status": "failing", "page": "last"}]:
        assert support.get("/", params).status_code == 200
    for params in [{"q": q}, {"q": q, "status": "all", "provider": "twilio"}]:
        assert admin.get(ADMIN_LIST, params).status_code == 200


@pytest.mark.django_db
def test_repeated_searches_agree_with_prepared_statements(support):
    """PostgreSQL prepares a statement after 5 runs (prepare_threshold): the 6th and later
    runs of the same search (another query text each time) must find the same rows."""
    for n in range(3):
        TwilioFactory(tenant=TenantFactory(name=f"t{n}", display_name=f"T{n}"), account=f"ACX{n}")

    for round_ in range(8):
        for n in range(3):
            assert names(support.get("/", {"q": f"ACX{n}"})) == [f"t{n}"], round_
            assert names(support.get("/", {"q": "twilio"})) == ["t0", "t1", "t2"], round_


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_searches_with_an_array_and_finds_the_same(support, many_duplicates):
    queryset = tenant_search(query="AC-DUP")
    sql = str(queryset.query)

    assert "= ANY(ARRAY(" in sql
    assert queryset.count() == 30
    assert len(list(queryset)) == 30
    assert list(Tenant.objects.filter(pk__in=queryset.values("pk")).order_by("name")) == list(
        queryset
    )


# --- the admin's search: words, quotes, size -------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("q,expected", [("'", ["quo/twilio"]), ('"', ["quo/twilio"])])
def test_the_admin_searches_a_lone_quote_as_a_character(admin, odd_values, q, expected):
    """A lone quote is a word as typed (the admin's own comment: "an unclosed '"abc' is a word
    as typed"), not an empty phrase that lists every integration."""
    assert admin_rows(admin.get(ADMIN_LIST, {"q": q})) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("words", [2700])
def test_the_admin_survives_a_search_of_many_words_that_fits_a_request_line(admin, words):
    """gunicorn takes request lines up to 8190 bytes (config/gunicorn.conf.py): `a a a …` of
    2,700 words fits. Each word is a UNION subquery of six branches."""
    TwilioFactory(tenant=TenantFactory(name="acme"), account="AC-A")
    q = " ".join(["a"] * words)
    assert len(f"GET {ADMIN_LIST}?q={q.replace(' ', '+')} HTTP/1.1") < 8190

    response = admin.get(ADMIN_LIST, {"q": q})

    assert response.status_code == 200
    assert admin_rows(response) == ["acme/twilio"]


@pytest.mark.django_db
def test_the_admin_survives_one_long_word_that_fits_a_request_line(admin):
    TwilioFactory(tenant=TenantFactory(name="acme"), account="AC-A")

    for q in ["%" * 2700, "_" * 8000, "\\" * 2700]:
        response = admin.get(ADMIN_LIST, {"q": q})
        assert response.status_code == 200
        assert admin_rows(response) == []


@pytest.mark.django_db
@pytest.mark.parametrize("p", ["999", "0", "-1", "abc", "99999999999999999999999"])
def test_an_admin_page_beyond_the_list_is_never_a_500(admin, many_duplicates, p):
    response = admin.get(ADMIN_LIST, {"q": "dup", "p": p})

    assert response.status_code in (200, 302, 404)


@pytest.mark.django_db
def test_a_huge_page_number_is_a_404(support, many_duplicates):
    assert support.get("/", {"q": "dup", "page": "9" * 30}).status_code == 404
