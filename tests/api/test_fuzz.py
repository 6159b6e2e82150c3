"""Schemathesis fuzzes every documented operation in-process, over WSGI, with real tokens.

The schema is the app's own /1.0/openapi.json. Each operation gets positive data (fits the
schema) and negative data (breaks it), against a real tenant holding one integration of each
provider, so reads, patches and deletes meet existing records as well as missing ones. Every
answer must: not be a 5xx, fit the documented status codes, content type and schema, be
`{"error": ...}` when it is an error, and never echo a secret sent in the body. Beyond the
documented shapes, what the answer holds is checked too: never a value of another tenant's
record (globex holds one with unmistakable values), and, for the tenant's token (which lacks
the `secrets` scope), every secret of every record masked.

Two runs: a token of the tenant on its own tenant (the everyday caller), and an all-tenants
token with generated tenant names too, so that odd names reach the database (a NUL character
in a path made PostgreSQL fail with a 500 before the selectors refused impossible names).
The number of cases is written at the end of the run; the seed makes it repeatable.
"""

from collections import Counter
from urllib.parse import unquote

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from integrations.models import Integration
from integrations.providers import all_providers
from tenants.services import api_token_create
from tests.api.fuzz_oracle import expected_status
from tests.factories import PROVIDER_FACTORIES, TenantFactory, actor_named

TENANT = "fuzz"
# Real ids the path parameter is drawn from half of the time; the rest are generated.
# "integrations" makes the short POST route meet the list route (405).
IDENTS = [p.provider_key for p in all_providers()] + ["crm-eu", "integrations"]
SECRET_KEYS = {key.replace("_", "-") for p in all_providers() for key in p.secret_field_names()}
SECRET_KEYS_OF = {
    p.provider_key: {key.replace("_", "-") for key in p.secret_field_names()}
    for p in all_providers()
}
FIELD_KEYS = {f.name.replace("_", "-") for p in all_providers() for f in p.credential_fields()}
MASK = "********"
# globex's record: none of these may appear in an answer about another tenant.
GLOBEX_VALUES = {"account": "AC-GLOBEX-ONLY", "password": "globex-only-secret-value"}


def config(*, max_examples: int, tenant_probability: float | None) -> schemathesis.Config:
    tenant = (
        TENANT
        if tenant_probability is None
        else {"dictionary": "tenants", "probability": tenant_probability}
    )
    return schemathesis.Config.from_dict(
        {
            "seed": 20261128,
            "generation": {
                "mode": "all",
                "max-examples": max_examples,
                "database": "none",
                # The test sends the real token itself; the fuzzer leaves Authorization
                # alone (its ignored_auth check still tries every operation without it).
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                # Data that fits the schema may still break a rule the schema cannot state
                # (a body id must equal the path's; an id naming a provider is of that
                # provider), and a missing record is 422 by the API's contract, not 404; a
                # conditional write (If-Match, If-None-Match: *) that meets another state is a
                # 412, a read whose If-None-Match holds the current tag a 304. Which of these a
                # case must get, the contract says: see check().
                "positive_data_acceptance": {
                    "expected-statuses": [
                        "2xx",
                        "304",
                        "400",
                        "401",
                        "403",
                        "404",
                        "405",
                        "412",
                        "422",
                    ]
                },
            },
            "parameters": {
                "path.tenant": tenant,
                "path.id": {"dictionary": "idents", "probability": 0.5},
            },
            "dictionaries": {
                "idents": {"values": IDENTS},
                "tenants": {"values": [TENANT, "globex"]},
            },
        }
    )


def load(cfg: schemathesis.Config):
    return schemathesis.openapi.from_wsgi("/1.0/openapi.json", get_wsgi_application(), config=cfg)


own_tenant = load(config(max_examples=100, tenant_probability=None))
any_tenant = load(config(max_examples=30, tenant_probability=0.6))

CASES: Counter = Counter()
# Cases whose status the contract fixes (tests/api/fuzz_oracle.py), and the negative ones.
PINNED: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_case_count(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not CASES:
        return
    detail = ", ".join(f"{label}: {n}" for label, n in sorted(CASES.items()))
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"\nschemathesis ran {sum(CASES.values())} cases ({detail})")
        reporter.write_line(
            f"{PINNED['pinned']} answered exactly the status the contract gives them, "
            f"{PINNED['negative pinned']} of the {PINNED['negative']} negative ones; the others "
            "depend on stored state (412, create or replace) and get the documented-shape checks"
        )


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    """Every example of an operation comes from one address, and the fuzzer's auth checks send
    bad tokens: the failed-authentication limit would answer 429 where a 401 is checked for.
    The limits have their own tests (tests/api/test_rate_limits.py)."""
    settings.API_AUTH_FAILURE_RATE = ""
    settings.API_TOKEN_RATE = ""


@pytest.fixture
def _same_connection_as_the_test():
    """Like Django's test client: a WSGI request must not close the test's DB connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_tenant(db, _same_connection_as_the_test):
    tenant = TenantFactory(name=TENANT)
    for factory in PROVIDER_FACTORIES:
        factory(tenant=tenant)
    PROVIDER_FACTORIES[0](tenant=tenant, ident="crm-eu")
    PROVIDER_FACTORIES[1](tenant=TenantFactory(name="globex"), **GLOBEX_VALUES)
    return tenant


@pytest.fixture
def tenant_token(fuzz_tenant) -> str:
    # Without `secrets`: every secret it is answered must be masked.
    return api_token_create(
        actor=actor_named("tests"), label="fuzzer", tenant=fuzz_tenant, scopes="read,write"
    )[1]


@pytest.fixture
def global_token(fuzz_tenant) -> str:
    return api_token_create(actor=actor_named("tests"), label="fuzzer", tenant=None)[1]


def stored_type(tenant: str, ident: str) -> str | None:
    """The provider key of the live integration `ident` of `tenant`, or None."""
    found = Integration.objects.filter(tenant__name=tenant, ident=ident).first()
    return None if found is None else found.provider_key


def check(case, token: str, run: str, *, masked: bool, own_tenant: str | None) -> None:
    CASES[run] += 1
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    expected = expected_status(
        case,
        case.operation.schema.raw_schema,
        own_tenant=own_tenant,
        live_tenants={TENANT, "globex"},
        stored_type=stored_type,
    )
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

    # Not "any 4xx": the one status the contract gives the first rule the request breaks.
    if expected is not None:
        assert response.status_code == expected, (
            f"expected {expected} by the contract, got {response.status_code}: {response.text}"
            f" ({case.method} {case.formatted_path} query={case.query} headers={case.headers}"
            f" body={case.body!r})"
        )
        PINNED["pinned"] += 1
        PINNED["negative pinned"] += negative
    PINNED["negative"] += negative

    if response.status_code >= 400:
        assert "error" in response.json(), response.text
        for secret in secrets_sent(case):
            assert secret not in response.text, f"an error body echoes {secret!r}: {response.text}"
    if (case.path_parameters or {}).get("tenant") != "globex":
        for value in GLOBEX_VALUES.values():
            assert value not in response.text, "an answer holds another tenant's record"
    if masked and 200 <= response.status_code < 300 and response.content:
        for record in records_in(response.json()):
            for key in SECRET_KEYS_OF[record["type"]] & set(record):
                assert record[key] in (MASK, None), f"{key} unmasked without the secrets scope"


def records_in(body) -> list[dict]:
    """Every integration record (a dict with an id and a known type) anywhere in `body`."""
    if isinstance(body, list):
        return [record for item in body for record in records_in(item)]
    if not isinstance(body, dict):
        return []
    found = [body] if "id" in body and body.get("type") in SECRET_KEYS_OF else []
    return found + [record for value in body.values() for record in records_in(value)]


def secrets_sent(case) -> list[str]:
    """The secret values of the body worth looking for in an answer: long enough to be
    unmistakable, not a field's own name (the API document's examples send
    "password": "password", and an error may name the field), and not part of the URL's
    tenant or id, which an error names ("Integration '0000000:' does not exist" for a
    generated id that the generator also sent as the secret)."""
    body = case.body if isinstance(case.body, dict) else {}
    named_in_url = {str(value) for value in (case.path_parameters or {}).values()}
    named_in_url |= {unquote(value) for value in named_in_url}
    return [
        value
        for key, value in body.items()
        if key in SECRET_KEYS
        and isinstance(value, str)
        and len(value) >= 8
        and value not in FIELD_KEYS
        and not any(value in named for named in named_in_url)
    ]


# One tenant and token per operation, shared by its examples: state builds up as it would.
@own_tenant.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_tenants_token_survives_generated_requests_on_its_tenant(case, tenant_token):
    check(
        case, tenant_token, f"tenant token {case.operation.label}", masked=True, own_tenant=TENANT
    )


@any_tenant.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_an_all_tenants_token_survives_generated_requests_on_any_tenant(case, global_token):
    check(
        case,
        global_token,
        f"all-tenants token {case.operation.label}",
        masked=False,
        own_tenant=None,
    )
