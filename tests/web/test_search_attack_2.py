"""Second attack on the searches: the admin's BoundedSearch (tenants.admin_helpers: at most
MAX_SEARCH_WORDS words of the first MAX_SEARCH_LENGTH characters), the integration admin's own
word search, SQLite's replaced like() (config.sqlite) and the staff search (`/?q=`).

What a user expects: every row an admin search lists holds every word typed (or the page says
which words it searched), as Django's admin search does; a search finds the same rows on SQLite
and on PostgreSQL (whose `UPPER(column) LIKE UPPER(pattern)` is the reference for case);
config.sqlite's like() answers as SQLite's own wherever case is not involved. Not repeated here:
what tests/web/test_search_attack.py, tests/web/test_admin_search_limits.py and
tests/config/test_sqlite_like.py already cover."""

import html
import re
import sqlite3

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.admin_helpers import MAX_SEARCH_LENGTH, MAX_SEARCH_WORDS
from tests.config.test_sqlite_like import new_connection
from tests.factories import TenantFactory, TwilioFactory
from tests.web.test_admin_search_limits import SEARCHING_ADMINS, _changelist

TENANT_LIST = "/admin/tenants/tenant/"
INTEGRATION_LIST = "/admin/integrations/integration/"


def admin_rows(response) -> list[str]:
    """The rows of an admin list: a tenant by its name, an integration as tenant/ident."""
    assert response.status_code == 200, response.status_code
    rows = response.context["cl"].result_list
    return sorted(
        f"{row.tenant.name}/{row.ident}" if hasattr(row, "ident") else row.name for row in rows
    )


def staff_names(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    return [tenant.name for tenant in response.context["tenants"]]


def search_box(response) -> str:
    """The value of the admin's search box, as the page shows it."""
    found = re.search(r'<input[^>]*name="q"[^>]*value="([^"]*)"', response.content.decode())
    assert found, "no search box on the page"
    return html.unescape(found.group(1))


def told_what_was_searched(response, typed: str) -> bool:
    """Whether the page tells the user that not all of `typed` was searched: the box shows
    something else than what was typed, or a message is shown."""
    return search_box(response) != typed or bool(list(response.context["messages"]))


# The two lists the attack targets: the tenant list (Django's search through BoundedSearch) and
# the integration list (its own search_words_results over bounded_search's words). The
# integration list searches the tenant's name and display name too, so the same tenants serve
# both.
LISTS = {
    "tenants": (TENANT_LIST, lambda name: name),
    "integrations": (INTEGRATION_LIST, lambda name: f"{name}/twilio"),
}


def _two_tenants(display_name: str) -> None:
    """acme-corp and acme-inc, both with `display_name` and one Twilio each."""
    for name in ("acme-corp", "acme-inc"):
        TwilioFactory(tenant=TenantFactory(name=name, display_name=display_name))


# --- HOLES: what the admin search drops widens the list -------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("which", LISTS)
def test_a_word_beyond_the_tenth_is_not_silently_dropped(admin, which):
    """Eleven words: the eleventh ("corp") tells acme-corp from acme-inc. Dropping it lists
    acme-inc, which does not hold what was typed, while the box still shows all eleven words
    as if they had been searched."""
    path, row = LISTS[which]
    words = [f"w{n}" for n in range(MAX_SEARCH_WORDS)]
    _two_tenants(" ".join(words))
    typed = " ".join([*words, "corp"])

    response = admin.get(path, {"q": typed})

    rows = admin_rows(response)
    assert rows == [row("acme-corp")] or told_what_was_searched(response, typed), rows


@pytest.mark.django_db
@pytest.mark.parametrize("which", LISTS)
def test_a_word_cut_by_the_length_limit_is_not_searched_as_its_prefix(admin, which):
    """205 characters: the limit cuts the second word "acme-corp" to "acme", which acme-inc
    holds too: a row listed for a word the user never typed."""
    path, row = LISTS[which]
    long_word = "p" * 195
    _two_tenants(long_word)
    typed = f"{long_word} acme-corp"
    assert len(typed) > MAX_SEARCH_LENGTH

    response = admin.get(path, {"q": typed})

    rows = admin_rows(response)
    assert rows == [row("acme-corp")] or told_what_was_searched(response, typed), rows


@pytest.mark.django_db
@pytest.mark.parametrize("which", LISTS)
@pytest.mark.parametrize("blank", [" ", "\u3000"])
def test_leading_whitespace_does_not_use_up_the_length_limit(admin, which, blank):
    """Django's admin does not strip the search (its form field has strip=False) and
    bounded_search cut before it split: 201 blanks then a word searched nothing, and every row
    was listed. The staff search strips first (test_the_search_cuts_at_the_limit_after_
    stripping in tests/web/test_search_attack.py)."""
    path, row = LISTS[which]
    _two_tenants("Acme")
    TwilioFactory(tenant=TenantFactory(name="globex", display_name="Globex"))
    typed = blank * (MAX_SEARCH_LENGTH + 1) + "acme-corp"

    response = admin.get(path, {"q": typed})

    assert admin_rows(response) == [row("acme-corp")]


@pytest.mark.django_db
@pytest.mark.parametrize("which", LISTS)
@pytest.mark.parametrize("typed", ['" acme"', "' '"])
def test_a_quoted_phrase_keeps_its_spaces(admin, which, typed):
    """Django's admin searches a quoted phrase as typed, spaces included: `" acme"` is the word
    acme after a space (in "Big acme", not in "Bigacme"). bounded_search stripped each word, so the
    phrase's spaces were lost (and `' '` searched nothing: every row listed)."""
    path, row = LISTS[which]
    TwilioFactory(tenant=TenantFactory(name="spaced", display_name="Big acme"))
    TwilioFactory(tenant=TenantFactory(name="joined", display_name="Bigacme"))

    assert admin_rows(admin.get(path, {"q": typed})) == [row("spaced")]


# --- HOLES: SQLite's like() and PostgreSQL's ILIKE disagree ----------------------------------


@pytest.fixture
def sqlite_like():
    """A connection of config.sqlite (the replaced like()), and one of plain SQLite."""
    replaced = new_connection()
    plain = sqlite3.connect(":memory:")
    yield replaced, plain
    replaced.close()
    plain.close()


# value, LIKE pattern, PostgreSQL's `UPPER(value) LIKE UPPER(pattern)` (a C.UTF-8 or other
# glibc UTF-8 database; Django's icontains there). Checked against PostgreSQL below.
CASE_PAIRS = [
    ("İstanbul", "%istanbul%", False),
    ("5 \u212a", "%5 k%", False),  # KELVIN SIGN
    ("\u2126", "ω", False),  # OHM SIGN
    ("\u212b", "å", False),  # ANGSTROM SIGN
    ("\u03f4", "θ", False),  # GREEK CAPITAL THETA SYMBOL
    ("Straẞe", "%straß%", False),  # CAPITAL SHARP S
    # Where both agree (kept, so that a fix does not break them):
    ("ISTANBUL", "%ıstanbul%", True),  # noqa: RUF001 (dotless i upper-cases to I)
    ("ΣΟΦΟΣ", "%σοφος%", True),  # final sigma
    ("ſ", "S", True),  # noqa: RUF001 (long s)
    ("STRASSE", "%straße%", False),  # no full case mapping: ß is not SS
    ("ﬁle", "FILE", False),
    ("e\u0301", "é", False),  # no normalisation
]


@pytest.mark.parametrize("value,pattern,postgresql", CASE_PAIRS)
def test_sqlite_like_folds_case_as_postgresql_does(sqlite_like, value, pattern, postgresql):
    """config.sqlite's like() uses Python's re.IGNORECASE, which also pairs İ with i, the
    Kelvin sign with k, the Ohm sign with ω, the Angstrom sign with å, ϴ with θ and ẞ with ß:
    PostgreSQL's UPPER() does not, so the same search lists more rows on SQLite."""
    replaced, _ = sqlite_like

    matched = replaced.execute("SELECT ? LIKE ?", (value, pattern)).fetchone()[0]

    assert bool(matched) is postgresql


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_case_reference_is_postgresqls():
    with connection.cursor() as cursor:
        for value, pattern, expected in CASE_PAIRS:
            cursor.execute("SELECT UPPER(%s) LIKE UPPER(%s)", [value, pattern])
            assert cursor.fetchone()[0] is expected, (value, pattern)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "stored,q",
    [("İstanbul Kebap", "istanbul"), ("Straẞe 1", "STRAß"), ("Lab at 4 \u212a", "4 k")],
)
def test_the_staff_search_finds_the_same_rows_on_both_databases(support, stored, q):
    """On PostgreSQL these find nothing (UPPER('İ') is 'İ', not 'I'); on SQLite they found the
    tenant."""
    TenantFactory(name="kebap", display_name=stored)
    TenantFactory(name="other", display_name="other")

    assert staff_names(support.get("/", {"q": q})) == []


# SQL, run on config.sqlite and on plain SQLite: no letter whose case matters, so both must
# answer alike ("It keeps SQLite's rules").
SQLITE_RULES = [
    "SELECT 'a' LIKE 'a' ESCAPE NULL",  # NULL in, NULL out
    "SELECT 'ab\\' LIKE 'ab\\' ESCAPE '\\'",  # an escape at the pattern's end matches nothing
    "SELECT '%' LIKE '%' ESCAPE '%'",
    "SELECT 1e20 LIKE '1.0e+20'",  # a REAL as SQLite writes it
    "SELECT -0.0 LIKE '0.0'",
    # Where both agree (kept):
    "SELECT NULL LIKE 'a' ESCAPE '\\'",
    "SELECT 'a%' LIKE 'a%%' ESCAPE '%'",
    "SELECT 'a_' LIKE 'a__' ESCAPE '_'",
    "SELECT 'a' || char(10) || 'b' LIKE 'a_b'",
    "SELECT 1.5 LIKE '1.5'",
]


@pytest.mark.parametrize("sql", SQLITE_RULES)
def test_sqlite_like_keeps_sqlites_own_rules(sqlite_like, sql):
    replaced, plain = sqlite_like

    assert replaced.execute(sql).fetchone()[0] == plain.execute(sql).fetchone()[0]


# --- what held -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "q,expected",
    [("%", ["pct"]), ("_", ["und"]), ("\\", ["bsl"]), ("\\\\", []), ('"\\"', ["bsl"])],
)
def test_the_tenant_admin_takes_like_metacharacters_literally(admin, q, expected):
    """Through BoundedSearch's re-quoting (each word a double-quoted phrase, backslashes
    doubled) and Django's LIKE escaping, on either database."""
    TenantFactory(name="pct", display_name="100% sure")
    TenantFactory(name="und", display_name="a_b")
    TenantFactory(name="bsl", display_name="back\\slash")
    TenantFactory(name="plain", display_name="plain")

    assert admin_rows(admin.get(TENANT_LIST, {"q": q})) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("label", SEARCHING_ADMINS)
def test_every_admin_search_answers_odd_input_for_view_only_staff(view_only_staff, label):
    path = _changelist(label)

    nul = view_only_staff.generic("GET", path, QUERY_STRING="q=a%00b")
    surrogate = view_only_staff.generic("GET", path, QUERY_STRING="q=%ED%A0%80")
    quote = view_only_staff.get(path, {"q": "'"})
    long_word = view_only_staff.get(path, {"q": "\U0001f600" * 5000})

    assert nul.status_code == 400
    for response in (surrogate, quote, long_word):
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0


def _statements(client, path: str, q: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, {"q": q})
    assert response.status_code == 200
    return len(captured)


@pytest.mark.django_db
@pytest.mark.parametrize("which", LISTS)
def test_an_admin_search_costs_the_same_statements_for_one_word_or_ten(admin, which):
    path, row = LISTS[which]
    words = [f"w{n}" for n in range(MAX_SEARCH_WORDS)]
    _two_tenants(" ".join(words))
    admin.get(path, {"q": "w0"})  # the session, the permissions: read once

    one = _statements(admin, path, "w0")
    ten = _statements(admin, path, " ".join(words))

    assert one == ten
    assert admin_rows(admin.get(path, {"q": " ".join(words)})) == [
        row("acme-corp"),
        row("acme-inc"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["nope", "TWILIO"])
def test_an_unknown_provider_is_ignored_and_the_page_says_so(support, provider):
    """The search still applies; the page neither claims a provider filter nor selects one."""
    TwilioFactory(tenant=TenantFactory(name="acme-corp", display_name="Acme"))
    TenantFactory(name="acme-inc", display_name="Acme")
    TenantFactory(name="globex", display_name="Globex")

    response = support.get("/", {"q": "acme", "provider": provider})

    assert staff_names(response) == ["acme-corp", "acme-inc"]
    page = response.content.decode()
    assert "2 tenants matching “acme”</p>" in page
    assert " selected>" not in page.split('id="provider"')[1].split("</select>")[0]
