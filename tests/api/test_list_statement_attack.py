"""An outsider's attack on 6d0b3ab: `GET /1.0/tenants/{tenant}/integrations` with a token
holding the `secrets` scope reads the page, writes the `reveal` events of the rows it answers
and their last-used-at in ONE PostgreSQL statement (integrations.reveal_reads.
integration_list_revealed, compiled_write.read_rows_with_writes), where the two steps (the
page, then services.integration_reveals_record) took two.

What must hold: the one statement answers, pages and audits exactly as the two steps do; only
the answered rows are audited and marked used (never the row read to tell of a next page);
every answer that carries secrets in clear has one `reveal` event per record; no answer
without secrets, and no error, writes one; a failing part keeps nothing and answers no secret.
A test that fails here shows a hole.
"""

import logging
import random
import threading
import time
import urllib.parse
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import connection
from django.urls import resolve
from django.utils import timezone

from config import compiled_write
from integrations.models import Integration
from integrations.providers import ctype_of
from integrations.providers.sendgrid import SendGridIntegration
from integrations.providers.twilio import TwilioIntegration
from integrations.sealed import MASK
from tenants.models import ApiToken, AuditAction, AuditEvent, Tenant
from tenants.services import api_token_revoke
from tests.api.support import EVENT_FIELDS, client_for, token_for
from tests.concurrency import from_another_session, run_together
from tests.db_faults import (
    allow_inserts,
    allow_writes,
    divide_by_zero_on_writes,
    refuse_writes,
)
from tests.factories import (
    FACTORY_FOR_PROVIDER,
    DataSiftFactory,
    SalesforceFactory,
    SendGridFactory,
    TenantFactory,
    TwilioFactory,
    actor_named,
)

LIST = "/1.0/tenants/acme/integrations"
PROVIDERS = ["datasift", "salesforce", "sendgrid", "twilio"]
STATUSES = ["ok", "rejected", "unreachable", "never"]
SECRET_MARK = "atk-secret-"


def reveals() -> list[dict]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.REVEAL)
        .order_by("integration_ident", "integration_pk", "pk")
        .values(*EVENT_FIELDS)
    )


def used_at() -> dict[int, object]:
    return dict(Integration.all_objects.values_list("pk", "last_used_at"))


def _two_steps(monkeypatch) -> None:
    monkeypatch.setattr(compiled_write, "can_guard", lambda alias: False)


def _get(client, path: str, **extra):
    caches["default"].clear()  # many requests per token: stay under the rate limit
    return client.get(path, **extra)


def _query(**params) -> str:
    given = {k: v for k, v in params.items() if v is not None}
    return "?" + urllib.parse.urlencode(given, quote_via=urllib.parse.quote) if given else ""


@pytest.fixture
def acme():
    return TenantFactory(name="acme")


def _observe(response, before: dict[int, object]) -> dict:
    """What a list answered and wrote, comparable between two runs from the same state."""
    body = response.json() if response.content else None
    records = None
    renewed = None
    if response.status_code == 200:
        records = [{k: v for k, v in r.items() if k != "last-used-at"} for r in body]
        renewed = [r["last-used-at"] for r in body]
    after = used_at()
    written = sorted(pk for pk, stamp in after.items() if stamp != before.get(pk))
    return {
        "status": response.status_code,
        "body": body if response.status_code != 200 else None,
        "records": records,
        # Whether each answered record shows a last use other than the one stored before.
        "renewed": None
        if renewed is None
        else [
            stamp != _shown(before[_pk_of(record["id"])])
            for record, stamp in zip(records, renewed, strict=True)
        ],
        "link": response.get("Link"),
        "cursor": response.get("Next-Cursor"),
        "events": reveals(),
        "written": written,
    }


def _shown(stamp) -> str | None:
    return None if stamp is None else stamp.isoformat().replace("+00:00", "Z")


def _pk_of(ident: str) -> int:
    """The key of acme's live integration `ident`."""
    return Integration.objects.non_polymorphic().get(tenant__name="acme", ident=ident).pk


def _both_ways(monkeypatch, client, path: str) -> tuple[dict, dict]:
    """The list `path` answered by the one statement, then by the two steps, each from the
    same database state (what the first wrote is undone before the second, and after)."""
    before = used_at()
    observed = []
    for two_steps in (False, True):
        with monkeypatch.context() as patched:
            if two_steps:
                _two_steps(patched)
            observed.append(_observe(_get(client, path), before))
        AuditEvent.objects.filter(action=AuditAction.REVEAL).delete()
        for pk, stamp in used_at().items():
            if stamp != before[pk]:
                Integration.all_objects.filter(pk=pk).update(last_used_at=before[pk])
    return observed[0], observed[1]


def _check_own_answer(observed: dict, limit: int) -> None:
    """The one statement's answer audits exactly its records, never the next page's first."""
    if observed["status"] != 200:
        assert observed["events"] == [] and observed["written"] == [], observed
        return
    answered = [r["id"] for r in observed["records"]]
    assert len(answered) <= limit
    assert [e["integration_ident"] for e in observed["events"]] == sorted(answered), observed
    assert set(observed["written"]) <= {_pk_of(i) for i in answered}, observed


# --- 1. equivalence on generated datasets ---------------------------------------------------

ALPHABET = "abcxyz019-_.ABZéßΩ中😀"


def _ident(rng: random.Random) -> str:
    length = rng.choice([1, 2, 3, 5, 8, 64, 64])
    return "".join(rng.choice(ALPHABET) for _ in range(length))


def _dataset(seed: int, tenant: Tenant) -> list[Integration]:
    """Live rows of several providers with odd ids, deleted twins, another tenant's rows of the
    same ids, verification outcomes and last uses of every kind."""
    rng = random.Random(seed)  # noqa: S311 (reproducible data, not secrets)
    other = TenantFactory(name="other")
    now = timezone.now()
    idents: set[str] = set()
    target = rng.choice([1, 2, 3, 6, 11])
    while len(idents) < target:
        idents.add(_ident(rng))
    idents.add("-" if seed % 2 else "z" * 64)
    live = []
    for ident in sorted(idents):
        provider = rng.choice(PROVIDERS)
        kwargs = {
            "ident": ident,
            "last_verification": rng.choice(["", "ok", "rejected", "unreachable"]),
            "last_used_at": rng.choice(
                [None, now - timedelta(seconds=10), now - timedelta(hours=2)]
            ),
        }
        live.append(FACTORY_FOR_PROVIDER[provider](tenant=tenant, **kwargs))
        if rng.random() < 0.3:  # a deleted twin of the id, of another provider maybe
            FACTORY_FOR_PROVIDER[rng.choice(PROVIDERS)](
                tenant=tenant, ident=ident, deleted_at=now - timedelta(days=1)
            )
        if rng.random() < 0.3:
            FACTORY_FOR_PROVIDER[rng.choice(PROVIDERS)](tenant=other, ident=ident)
    return live


def _afters(rng: random.Random, idents: list[str]) -> list[str | None]:
    ordered = sorted(idents)
    picks: list[str | None] = [None, "", ordered[0], ordered[-1], "\U0010ffff", "é", "-"]
    picks.append(ordered[len(ordered) // 2])
    picks.append(ordered[len(ordered) // 2] + "\x01")  # between two ids
    picks.append(ordered[0][:-1] if len(ordered[0]) > 1 else "0")
    return picks


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_generated_pages_answer_and_audit_as_the_two_steps(monkeypatch, acme, seed, scoped):
    live = _dataset(seed, acme)
    rng = random.Random(1000 + seed)  # noqa: S311
    client = client_for(token_for(acme if scoped else None), HTTP_X_REQUEST_ID=f"rq-{seed}")
    count = len(live)
    limits = sorted({n for n in (1, 2, count - 1, count, count + 1, 1000) if n >= 1})
    cases = [(limit, None, None, None) for limit in limits]
    for after in _afters(rng, [row.ident for row in live]):
        cases.append((rng.choice(limits), after, None, None))
    for _ in range(6):
        cases.append(
            (
                rng.choice(limits),
                rng.choice([None, *[row.ident for row in live]]),
                rng.choice([None, *PROVIDERS]),
                rng.choice([None, *STATUSES]),
            )
        )
    for limit, after, type_key, status in cases:
        path = LIST + _query(limit=limit, after=after, type=type_key, status=status)
        one, two = _both_ways(monkeypatch, client, path)
        assert one == two, path
        assert one["status"] == 200, (path, one)
        _check_own_answer(one, limit)


def _walk(client, limit: int, follow: str, bound: int) -> list[str]:
    """The ids of every page, from the first, following each answer's `Link` (its URL) or its
    `Next-Cursor` (passed as `after`), as a client does; at most `bound` pages."""
    seen: list[str] = []
    path = LIST + _query(limit=limit)
    for _ in range(bound):
        response = _get(client, path)
        assert response.status_code == 200, response.content
        seen.extend(record["id"] for record in response.json())
        if "Next-Cursor" not in response:
            assert "Link" not in response
            break
        if follow == "link":
            link = response["Link"]
            assert link.startswith("<") and link.endswith('>; rel="next"'), link
            parts = urllib.parse.urlsplit(link[1 : -len('>; rel="next"')])
            path = f"{parts.path}?{parts.query}"
        else:
            path = LIST + _query(limit=limit, after=urllib.parse.unquote(response["Next-Cursor"]))
    return seen


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_walking_every_page_by_link_answers_each_row_once_and_audits_it_once(acme, seed, limit):
    live = _dataset(seed, acme)
    seen = _walk(client_for(token_for()), limit, "link", len(live) + 2)

    # By code point, as Python sorts: the order the statement's COLLATE "C" gives.
    assert seen == sorted(row.ident for row in live)
    assert sorted(e["integration_ident"] for e in reveals()) == sorted(seen)
    assert {e["integration_pk"] for e in reveals()} == {row.pk for row in live}
    assert all(Integration.objects.filter(tenant=acme).values_list("last_used_at", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize("ident", ["b-é", "b-ß", "b-Ω", "b-中", "b-😀", "b\nx", "b\rx"])
def test_following_next_cursor_past_an_odd_id_answers_each_row_once(acme, ident):
    """`Next-Cursor` is documented as the `after` of the next page, and is the raw id. For an
    id beyond Latin-1 Django sends the header MIME-encoded (=?utf-8?b?…?=): passed back as
    `after`, it sorts before every id that starts above '=' and after those below, so a
    client skips rows and, when the id sorts after '=', reads the same page forever. For an id
    holding CR or LF the header cannot be set: 500, after the page's reveal events were
    written for an answer that never went out. (Ids the current rule refuses: stored before
    it, or by hand; the `Link` header, percent-encoded, is right.)"""
    for name in ("a-1", ident, "c-1", "d-1"):
        TwilioFactory(tenant=acme, ident=name)
    seen = _walk(client_for(token_for()), 1, "cursor", 8)

    assert seen == ["a-1", ident, "c-1", "d-1"]
    assert sorted(e["integration_ident"] for e in reveals()) == sorted(seen)


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5])
def test_the_next_pages_first_row_is_never_audited_nor_used(acme, scoped, limit):
    rows = [
        SalesforceFactory(tenant=acme, ident="a"),
        TwilioFactory(tenant=acme, ident="b"),
        SendGridFactory(tenant=acme, ident="c"),
        DataSiftFactory(tenant=acme, ident="d"),
        TwilioFactory(tenant=acme, ident="e"),
    ]
    response = _get(client_for(token_for(acme if scoped else None)), LIST + _query(limit=limit))

    assert response.status_code == 200
    answered = [record["id"] for record in response.json()]
    assert answered == [row.ident for row in rows[:limit]]
    assert sorted(e["integration_ident"] for e in reveals()) == answered
    assert {
        ident for ident, stamp in Integration.objects.values_list("ident", "last_used_at") if stamp
    } == set(answered)


# --- 2. odd input ---------------------------------------------------------------------------


ODD_QUERIES = [
    "after=%ED%A0%80",
    "after=a%0A",
    "after=%0A",
    "after=" + "z" * 20000,
    "after=" + "%F0%9F%98%80" * 500,
    "after=%27%20OR%201%3D1--",
    "after=%22%29%3B%20DELETE%20FROM%20tenants_auditevent%3B--",
    "after=%5C",
    "after=%25s",
    "after=%25%28x%29s",
    "after=%FF%FE",
    "after=%C0%80",
    "type=twilio%0A",
    "type=%ED%A0%80",
    "type=" + "x" * 5000,
    "type=%27",
    "type=TWILIO",
    "status=ok%0A",
    "status=OK",
    "status=%27",
    "status=",
    "limit=0",
    "limit=1001",
    "limit=-1",
    "limit=1.0",
    "limit=%EF%BC%91",  # a full-width digit one
    "limit=%D9%A3",  # an Arabic-Indic digit three
    "limit=1%0A",
    "limit=%201",
    "limit=",
    "limit=" + "0" * 4400 + "1",
    "limit=" + "9" * 5000,
    "limit=1&limit=2",
    "after=a&after=b",
    "format=json",
    "x=%00",
]


@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
@pytest.mark.parametrize("query", ODD_QUERIES)
def test_odd_query_input_is_a_4xx_or_a_correct_page_never_a_500(acme, scoped, query):
    TwilioFactory(tenant=acme, ident="twilio", password=SECRET_MARK + "twilio")
    response = _get(client_for(token_for(acme if scoped else None)), LIST + "?" + query)

    assert response.status_code in (200, 400, 422), (response.status_code, response.content)
    if response.status_code != 200:
        assert SECRET_MARK not in response.content.decode()
        assert reveals() == []
        assert Integration.objects.get(ident="twilio").last_used_at is None
        return
    answered = [record["id"] for record in response.json()]
    assert [e["integration_ident"] for e in reveals()] == answered
    assert (Integration.objects.get(ident="twilio").last_used_at is not None) == bool(answered)


ODD_TENANTS = [
    "acme%0A",
    "acme%ED%A0%80",
    "ac%27me",
    "acme%22%3B--",
    "a" * 65,
    "a" * 5000,
    "ACME",
    "acme%20",
    "%C3%A9",
    "%F0%9F%98%80",
    "acme%5C",
    "%25s",
]


@pytest.mark.django_db
@pytest.mark.parametrize("tenant", ODD_TENANTS)
def test_odd_tenant_names_answer_4xx_and_write_nothing(acme, tenant):
    TwilioFactory(tenant=acme, ident="twilio", password=SECRET_MARK + "twilio")
    response = _get(client_for(token_for()), f"/1.0/tenants/{tenant}/integrations")

    assert response.status_code in (400, 404, 422), (response.status_code, response.content)
    assert SECRET_MARK not in response.content.decode()
    assert reveals() == []
    assert Integration.objects.get(ident="twilio").last_used_at is None


@pytest.mark.django_db
def test_a_tenant_token_on_an_odd_tenant_name_is_403_and_writes_nothing(acme):
    TwilioFactory(tenant=acme, ident="twilio")
    client = client_for(token_for(acme))
    for tenant in ODD_TENANTS:
        response = _get(client, f"/1.0/tenants/{tenant}/integrations")
        assert response.status_code in (400, 403, 404), (tenant, response.content)
    assert reveals() == []


# --- 5. scopes, methods, tokens ---------------------------------------------------------------


@pytest.fixture
def twilio(acme):
    return TwilioFactory(tenant=acme, ident="twilio", password=SECRET_MARK + "twilio")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "scopes",
    [
        "read",
        "write",
        "secrets",
        "read,write",
        "read,secrets",
        "write,secrets",
        "read,write,secrets",
    ],
)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_only_read_with_secrets_reveals_and_audits(acme, twilio, scopes, scoped):
    response = _get(client_for(token_for(acme if scoped else None, scopes=scopes)), LIST)

    granted = set(scopes.split(","))
    if "read" not in granted:
        assert response.status_code == 403, response.content
        assert SECRET_MARK not in response.content.decode()
        assert reveals() == []
    elif "secrets" in granted:
        assert response.status_code == 200
        assert response.json()[0]["password"] == SECRET_MARK + "twilio"
        assert [e["integration_ident"] for e in reveals()] == ["twilio"]
    else:
        assert response.status_code == 200
        assert response.json()[0]["password"] == MASK
        assert reveals() == []
    stamp = Integration.objects.get(pk=twilio.pk).last_used_at
    assert (stamp is not None) == ({"read", "secrets"} <= granted)


@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_head_reveals_nothing_and_writes_nothing(acme, twilio, scoped):
    client = client_for(token_for(acme if scoped else None))
    response = client.head(LIST + "?limit=1")

    assert response.status_code == 200
    assert response.content == b""
    assert reveals() == []
    assert Integration.objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
def test_options_reveals_nothing(acme, twilio):
    response = client_for(token_for()).options(LIST)

    assert response.status_code in (200, 405)
    assert SECRET_MARK not in response.content.decode()
    assert reveals() == []
    assert Integration.objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
def test_another_tenants_token_is_403_and_writes_nothing(acme, twilio):
    other = TenantFactory(name="other")
    response = _get(client_for(token_for(other)), LIST)

    assert response.status_code == 403
    assert SECRET_MARK not in response.content.decode()
    assert reveals() == []
    assert Integration.objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["expired", "revoked"])
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_an_expired_or_revoked_token_is_401_and_writes_nothing(acme, twilio, how, scoped):
    token = token_for(acme if scoped else None)
    stored = ApiToken.objects.get(prefix=token[: len(ApiToken.objects.first().prefix)])
    if how == "expired":
        ApiToken.objects.filter(pk=stored.pk).update(expires_at=timezone.now() - timedelta(1))
    else:
        api_token_revoke(api_token=stored, actor=actor_named())
    response = _get(client_for(token), LIST)

    assert response.status_code == 401
    assert SECRET_MARK not in response.content.decode()
    assert reveals() == []
    assert Integration.objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["application/xml", "text/html", "text/csv"])
def test_an_unacceptable_answer_type_is_406_and_writes_nothing(acme, twilio, accept):
    response = _get(client_for(token_for()), LIST, HTTP_ACCEPT=accept)

    assert response.status_code == 406, response.content
    assert SECRET_MARK not in response.content.decode()
    assert reveals() == []
    assert Integration.objects.get(pk=twilio.pk).last_used_at is None


# --- 6. the row's provider, as the two steps and the answer see it ---------------------------


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("ctype", ["none", "another-provider"])
@pytest.mark.parametrize("query", ["", "?type=twilio"])
def test_every_record_answered_in_clear_has_its_reveal_event(monkeypatch, acme, ctype, query):
    """The page reads each row's provider from its provider table (the JOIN), and the answer
    carries that provider's secrets; the two steps audit it as that provider. The one
    statement picks the event (or none) by the base row's content type: a row whose content
    type is missing or another provider's is answered in clear without its event, or with the
    wrong provider and secret names."""
    twilio = TwilioFactory(tenant=acme, ident="twilio", password=SECRET_MARK + "twilio")
    SendGridFactory(tenant=acme, ident="zz-sendgrid")
    Integration.all_objects.filter(pk=twilio.pk).update(
        polymorphic_ctype=None if ctype == "none" else ctype_of(SendGridIntegration)
    )
    client = client_for(token_for(), HTTP_X_REQUEST_ID="rq-ctype")

    one, two = _both_ways(monkeypatch, client, LIST + query)

    assert one["status"] == two["status"] == 200
    answered = [record["id"] for record in one["records"]]
    assert "twilio" in answered
    twilio_record = next(r for r in one["records"] if r["id"] == "twilio")
    assert twilio_record["password"] == SECRET_MARK + "twilio"
    assert one["events"] == two["events"]
    assert [e["integration_ident"] for e in one["events"]] == sorted(answered)
    event = next(e for e in one["events"] if e["integration_ident"] == "twilio")
    assert (event["integration_type"], event["changes"]) == ("twilio", {"revealed": ["password"]})


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("without", ["twilio", "every-provider"])
def test_a_provider_without_secrets_on_the_page_writes_no_event_but_notes_its_use(
    monkeypatch, acme, without
):
    TwilioFactory(tenant=acme, ident="a-twilio")
    SendGridFactory(tenant=acme, ident="b-sendgrid")
    resolve(LIST)  # the URLs (and their API document) loaded before the providers change
    for provider in (TwilioIntegration, SendGridIntegration, *_others(without)):
        if without == "every-provider" or provider is TwilioIntegration:
            monkeypatch.setattr(provider, "secret_field_names", classmethod(lambda cls: []))
    client = client_for(token_for(), HTTP_X_REQUEST_ID="rq-no-secrets")

    for query in ("", "?type=twilio", "?type=sendgrid", "?limit=1"):
        one, two = _both_ways(monkeypatch, client, LIST + query)
        assert one == two, query
        assert one["status"] == 200
        if without == "every-provider":
            assert one["events"] == []
        assert all(e["integration_type"] == "sendgrid" for e in one["events"])
        assert one["written"] == sorted(_pk_of(r["id"]) for r in one["records"])


def _others(without: str) -> list:
    from integrations.providers.datasift import DataSiftIntegration
    from integrations.providers.salesforce import SalesforceIntegration

    return [DataSiftIntegration, SalesforceIntegration] if without == "every-provider" else []


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_base_row_without_its_provider_row_is_neither_answered_nor_audited(
    monkeypatch, acme, scoped
):
    orphan = TwilioFactory(tenant=acme, ident="a-orphan")
    SendGridFactory(tenant=acme, ident="b-sendgrid")
    DataSiftFactory(tenant=acme, ident="c-datasift")
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM integrations_twiliointegration WHERE integration_ptr_id = %s", [orphan.pk]
        )
    client = client_for(token_for(acme if scoped else None), HTTP_X_REQUEST_ID="rq-orphan")

    for query in ("?limit=1", "?limit=2", "?type=twilio", "?status=never&limit=1"):
        one, two = _both_ways(monkeypatch, client, LIST + query)
        assert one == two, query
        assert one["status"] == 200
        assert "a-orphan" not in [r["id"] for r in one["records"]]
        assert "a-orphan" not in [e["integration_ident"] for e in one["events"]]
        assert orphan.pk not in one["written"]
    full = _get(client, LIST + "?limit=2")
    assert [r["id"] for r in full.json()] == ["b-sendgrid", "c-datasift"]
    assert "Next-Cursor" not in full


@pytest.mark.postgres
@pytest.mark.django_db
def test_many_limits_and_filters_keep_answering_and_auditing_right(acme):
    """Past the page queries kept (selectors.PAGE_QUERIES_KEPT) and the plans cached, every
    limit still pages and audits right."""
    for index in range(5):
        FACTORY_FOR_PROVIDER[PROVIDERS[index % 4]](tenant=acme, ident=f"i{index}")
    client = client_for(token_for())
    expected = 0
    for limit in range(1, 90):
        for status in (None, "never"):
            response = _get(client, LIST + _query(limit=limit, status=status))
            assert response.status_code == 200
            assert len(response.json()) == min(limit, 5)
            assert ("Next-Cursor" in response) == (limit < 5)
            expected += min(limit, 5)
    assert len(reveals()) == expected


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_page_of_a_thousand_rows_answers_and_audits_each(acme):
    tenant_rows = [
        FACTORY_FOR_PROVIDER[PROVIDERS[n % 4]].build(tenant=acme, ident=f"r{n:04d}")
        for n in range(1001)
    ]
    for row in tenant_rows:
        row.save()
    response = _get(client_for(token_for()), LIST + "?limit=1000")

    assert response.status_code == 200
    assert len(response.json()) == 1000
    assert response["Next-Cursor"] == "r0999"
    events = reveals()
    assert len(events) == 1000
    assert "r1000" not in {e["integration_ident"] for e in events}
    assert Integration.objects.get(ident="r1000").last_used_at is None


# --- 3. races on PostgreSQL -------------------------------------------------------------------


def _list_job(token: str, path: str = LIST):
    def job():
        response = client_for(token).get(path)
        body = response.json() if response.content else None
        return response.status_code, body, response.get("Next-Cursor")

    return job


def _session_job(sql: str, params: list):
    def job():
        return from_another_session(sql, params, lock_timeout="10s")

    return job


def _warm_tokens(*tokens: str) -> None:
    """Each token's own last-used write done; no event nor last-used-at left by it."""
    for token in tokens:
        assert client_for(token).get(LIST + "?type=twilio&after=zzzz").status_code in (200, 422)
    AuditEvent.objects.all().delete()
    Integration.all_objects.update(last_used_at=None)


def _answered_rows_are_audited_exactly(lists: list, pages: set[tuple[str, ...]]) -> None:
    """Each 200 is one of the `pages` a consistent snapshot could answer; the reveal events are
    exactly one per answered record, of that record's row."""
    answered: list[str] = []
    for status, body, _ in lists:
        assert status in (200, 422), lists
        if status == 200:
            page = tuple(record["id"] for record in body)
            assert page in pages, (page, pages)
            assert all(SECRET_MARK in str(record) for record in body)
            answered.extend(page)
        else:
            assert SECRET_MARK not in str(body)
    assert sorted(e["integration_ident"] for e in reveals()) == sorted(answered), lists


def _secret_rows(tenant: Tenant, idents: list[str]) -> list[Integration]:
    return [
        FACTORY_FOR_PROVIDER[PROVIDERS[n % 4]](
            tenant=tenant,
            ident=ident,
            **({"api_key": SECRET_MARK + ident} if PROVIDERS[n % 4] == "datasift" else {}),
            **({"password": SECRET_MARK + ident} if PROVIDERS[n % 4] != "datasift" else {}),
        )
        for n, ident in enumerate(idents)
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
@pytest.mark.parametrize("change", ["delete", "restore"])
def test_lists_racing_the_tenants_delete_or_restore_answer_whole_pages_audited(
    acme, scoped, change
):
    _secret_rows(acme, ["a", "b", "c", "d"])
    token = token_for(acme if scoped else None)
    _warm_tokens(token)
    if change == "restore":
        Tenant.all_objects.filter(pk=acme.pk).update(deleted_at=timezone.now())
    sql = (
        "UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s"
        if change == "delete"
        else "UPDATE tenants_tenant SET deleted_at = NULL WHERE id = %s"
    )
    for _ in range(3):
        jobs = [_list_job(token, LIST + "?limit=3") for _ in range(4)]
        jobs.insert(2, _session_job(sql, [acme.pk]))
        results = run_together(jobs)
        assert results[2] == "done", results
        lists = results[:2] + results[3:]
        _answered_rows_are_audited_exactly(lists, {("a", "b", "c")})
        for status, _, cursor in lists:
            assert status != 200 or cursor == "c"
        # Again, from the state before.
        AuditEvent.objects.filter(action=AuditAction.REVEAL).delete()
        Integration.all_objects.update(last_used_at=None)
        Tenant.all_objects.filter(pk=acme.pk).update(
            deleted_at=None if change == "delete" else timezone.now()
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
@pytest.mark.parametrize("write", ["delete-b", "create-a0", "delete-c", "create-bb"])
def test_lists_racing_an_integrations_delete_or_create_audit_exactly_their_answers(
    acme, scoped, write
):
    rows = _secret_rows(acme, ["a", "b", "c", "d"])
    token = token_for(acme if scoped else None)
    _warm_tokens(token)
    by_ident = {row.ident: row for row in rows}
    kind, ident = write.split("-")
    if kind == "delete":
        sql = "UPDATE integrations_integration SET deleted_at = now() WHERE id = %s"
        params: list = [by_ident[ident].pk]
        after = [i for i in ("a", "b", "c", "d") if i != ident]
    else:
        sql = None
        after = sorted(["a", "b", "c", "d", ident])
    before = ["a", "b", "c", "d"]
    pages = {tuple(before[:2]), tuple(after[:2])}

    def create():
        response = client_for(token).post(
            f"{LIST}/{ident}",
            {"type": "twilio", "account": "AC1", "password": SECRET_MARK + ident},
            format="json",
        )
        return response.status_code

    for _ in range(3):
        jobs = [_list_job(token, LIST + "?limit=2") for _ in range(4)]
        jobs.insert(2, _session_job(sql, params) if sql else create)
        results = run_together(jobs)
        assert results[2] in ("done", 201), results
        lists = results[:2] + results[3:]
        assert all(status == 200 for status, _, _ in lists), lists
        assert all(tuple(r["id"] for r in body) in pages for _, body, _ in lists), lists
        answered = [r["id"] for _, body, _ in lists for r in body]
        # A create's own answer carries its secrets: one reveal of its own.
        own = [ident] if kind == "create" else []
        assert sorted(e["integration_ident"] for e in reveals()) == sorted(answered + own), (
            lists,
            reveals(),
        )
        # Again, from the state before.
        AuditEvent.objects.filter(action=AuditAction.REVEAL).delete()
        Integration.all_objects.update(last_used_at=None)
        if kind == "delete":
            Integration.all_objects.filter(pk=params[0]).update(deleted_at=None)
        else:
            Integration.all_objects.filter(ident=ident).update(deleted_at=timezone.now())


def _count_used_writes() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS atk_used_writes (row_id bigint)")
        cursor.execute("DELETE FROM atk_used_writes")
        cursor.execute(
            "CREATE OR REPLACE FUNCTION atk_used_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO atk_used_writes VALUES (NEW.id); RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER atk_used_write AFTER UPDATE OF last_used_at "
            "ON integrations_integration FOR EACH ROW EXECUTE FUNCTION atk_used_write()"
        )


def _used_writes() -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_id, count(*) FROM atk_used_writes GROUP BY row_id")
        counts = dict(cursor.fetchall())
        cursor.execute("DROP TRIGGER IF EXISTS atk_used_write ON integrations_integration")
        cursor.execute("DROP TABLE IF EXISTS atk_used_writes")
    return counts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_racing_lists_of_a_page_write_each_last_use_once_and_one_event_per_answer(acme, scoped):
    rows = _secret_rows(acme, ["a", "b", "c", "d"])
    token = token_for(acme if scoped else None)
    _warm_tokens(token)
    _count_used_writes()
    try:
        results = run_together([_list_job(token, LIST + "?limit=3") for _ in range(6)])
    finally:
        writes = _used_writes()

    assert [status for status, _, _ in results] == [200] * 6, results
    _answered_rows_are_audited_exactly(results, {("a", "b", "c")})
    assert writes == {row.pk: 1 for row in rows[:3]}
    assert Integration.objects.get(ident="d").last_used_at is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_racing_lists_show_only_last_uses_that_are_stored(acme, scoped):
    """Three lists read the page while a writer holds its rows; one of them writes the last
    use, the others' UPDATE finds it fresh and writes nothing. The writer's answer shows what
    it stored; the others show the last use they read (none), never their own `now`, a time
    never stored (as the GET of one shows only what it wrote)."""
    import psycopg

    _secret_rows(acme, ["a", "b"])
    token = token_for(acme if scoped else None)
    _warm_tokens(token)
    results: list = []
    with psycopg.connect(**connection.get_connection_params()) as holder:
        holder.execute("SELECT id FROM integrations_integration FOR UPDATE")
        runner = threading.Thread(
            target=lambda: results.extend(run_together([_list_job(token) for _ in range(3)]))
        )
        runner.start()
        time.sleep(1.5)  # the three have read the page and wait on the rows
        holder.commit()
        runner.join(timeout=60)

    assert [status for status, _, _ in results] == [200] * 3, results
    assert len(reveals()) == 3 * 2
    stored = {row.ident: _shown(row.last_used_at) for row in Integration.objects.all()}
    assert all(stored.values())
    shown = [{record["id"]: record["last-used-at"] for record in body} for _, body, _ in results]
    # The writer shows what it stored; a reader that lost the race shows what it read.
    assert stored in shown, (shown, stored)
    assert all(one in (stored, {"a": None, "b": None}) for one in shown), (shown, stored)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["one-statement", "two-steps"])
def test_lists_of_overlapping_pages_in_any_order_never_fail(monkeypatch, acme, path):
    """Lists of different pages race to note the same rows' last use: none may fail. In one
    statement each page's UPDATE takes its rows' locks in the order of its plan: a scan of the
    table (by position) for a large page, a nested loop over a HashAggregate of the page's
    keys (hash order) for a small one. Two lists can each hold a row the other waits for: a
    deadlock, answered 503 "Database unavailable". The two steps' UPDATE (keys as
    parameters) does not. The table is analyzed and holds other tenants' rows, as in use."""
    idents = [f"r{999 - n:03d}" for n in range(120)]
    _secret_rows(acme, idents)
    other = TenantFactory(name="other")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO integrations_integration (polymorphic_ctype_id, tenant_id, ident, "
            "created_at, updated_at, updated_by, version, last_verification, "
            "last_verification_detail) SELECT NULL, %s, 'x' || n, now(), now(), 'bulk', 0, '', "
            "'' FROM generate_series(1, 5000) AS n",
            [other.pk],
        )
        cursor.execute("ANALYZE")
    token = token_for()
    _warm_tokens(token)
    if path == "two-steps":
        _two_steps(monkeypatch)
    paths = [
        LIST + "?limit=1000",
        LIST + "?limit=60",
        LIST + "?limit=120&status=never",
        LIST + "?limit=1000&after=r900",
        LIST + "?limit=90",
        LIST + "?type=twilio",
    ]
    for _ in range(10):
        results = run_together([_list_job(token, path) for path in paths])
        assert [status for status, _, _ in results] == [200] * len(paths), results
        answered = sum(len(body) for _, body, _ in results)
        assert len(reveals()) == answered
        AuditEvent.objects.filter(action=AuditAction.REVEAL).delete()
        Integration.all_objects.update(last_used_at=None)


# --- 4. faults --------------------------------------------------------------------------------


def _no_secret_anywhere(response, caplog) -> None:
    assert SECRET_MARK not in response.content.decode()
    assert SECRET_MARK not in caplog.text


def _drop_inserts_of(table: str, condition: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION skip_row() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN IF {condition} THEN RETURN NULL; END IF; RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER skip_row BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION skip_row()"
        )


def _drop_updates_of(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION skip_update() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RETURN NULL; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER skip_update BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION skip_update()"
        )


def _allow_updates_of(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS skip_update ON {table}")


@pytest.fixture
def four(acme):
    return _secret_rows(acme, ["a", "b", "c", "d"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
@pytest.mark.parametrize("query", ["", "?limit=2", "?type=twilio", "?limit=1&after=b"])
@pytest.mark.parametrize("dropped", ["all", "twilio", "last-on-page"])
def test_dropped_reveal_events_answer_500_and_keep_nothing(
    acme, four, caplog, scoped, query, dropped
):
    token = token_for(acme if scoped else None)
    _warm_tokens(token)
    condition = {
        "all": "TRUE",
        "twilio": "NEW.integration_type = 'twilio'",
        "last-on-page": "NEW.integration_ident IN ('b', 'd')",
    }[dropped]
    _drop_inserts_of("tenants_auditevent", condition)
    try:
        with caplog.at_level(logging.DEBUG):
            response = client_for(token).get(LIST + query)
    finally:
        allow_inserts("tenants_auditevent")

    # a: datasift, b: salesforce, c: sendgrid, d: twilio (_secret_rows).
    page = {"": "abcd", "?limit=2": "ab", "?type=twilio": "d", "?limit=1&after=b": "c"}[query]
    dropped_on_page = {"all": page, "twilio": "d", "last-on-page": "bd"}[dropped]
    if set(page) & set(dropped_on_page):
        assert response.status_code == 500, response.content
        _no_secret_anywhere(response, caplog)
        assert reveals() == []
        assert not any(Integration.all_objects.values_list("last_used_at", flat=True))
    else:  # no event of the page's is dropped
        assert response.status_code == 200
        assert [e["integration_ident"] for e in reveals()] == list(page)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
@pytest.mark.parametrize("table", ["tenants_auditevent", "integrations_integration"])
@pytest.mark.parametrize("fault", ["refuse", "divide"])
@pytest.mark.parametrize("query", ["?limit=1", "?type=salesforce&status=never"])
def test_a_refused_write_answers_500_and_keeps_nothing(
    acme, four, caplog, scoped, table, fault, query
):
    token = token_for(acme if scoped else None)
    _warm_tokens(token)
    if fault == "refuse":
        refuse_writes(table, "refused by the attack " + SECRET_MARK)
    else:
        divide_by_zero_on_writes(table)
    try:
        with caplog.at_level(logging.DEBUG):
            response = client_for(token).get(LIST + query)
    finally:
        allow_writes(table)

    assert response.status_code == 500, response.content
    assert SECRET_MARK not in response.content.decode()
    assert reveals() == []
    assert not any(Integration.all_objects.values_list("last_used_at", flat=True))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_dropped_last_use_write_keeps_the_events_and_shows_the_last_use_stored(
    acme, four, caplog, scoped
):
    """The last-use UPDATE is bookkeeping, not audit (reveal_reads.integration_list_revealed):
    a trigger that drops it leaves the page answered and its reveal events kept; the answer
    then shows the last use as read, which is what is stored, never a time not stored."""
    token = token_for(acme if scoped else None)
    _warm_tokens(token)
    _drop_updates_of("integrations_integration")
    try:
        with caplog.at_level(logging.DEBUG):
            response = client_for(token).get(LIST + "?limit=2")
    finally:
        _allow_updates_of("integrations_integration")

    assert response.status_code == 200, response.content
    assert [record["last-used-at"] for record in response.json()] == [None, None]
    assert len(reveals()) == 2
    assert not any(Integration.all_objects.values_list("last_used_at", flat=True))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_fault_on_the_row_after_the_page_does_not_fail_the_page(acme, four):
    """A trigger refusing events of the next page's first row only: that row is never
    audited, so the page must answer."""
    token = token_for()
    _warm_tokens(token)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.integration_ident = 'c' THEN RAISE EXCEPTION 'no c'; END IF; "
            "RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_write BEFORE INSERT OR UPDATE OR DELETE ON tenants_auditevent "
            "FOR EACH ROW EXECUTE FUNCTION refuse_write()"
        )
    try:
        response = client_for(token).get(LIST + "?limit=2")
    finally:
        allow_writes("tenants_auditevent")

    assert response.status_code == 200, response.content
    assert [record["id"] for record in response.json()] == ["a", "b"]
    assert [e["integration_ident"] for e in reveals()] == ["a", "b"]
