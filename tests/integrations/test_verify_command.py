"""`manage.py verify_integrations` against the local fake providers: what it verifies, its
summary table, its exit status, and a concurrent run of the real command line."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from integrations.models import Integration
from integrations.providers.salesforce import LoginHost
from integrations.services import integration_delete
from tenants.models import AuditAction, AuditEvent
from tests import fake_providers as fakes
from tests.factories import (
    DataSiftFactory,
    SalesforceFactory,
    SendGridFactory,
    TenantFactory,
    TwilioFactory,
    actor_named,
)
from tests.integrations.support import fresh_database, manage

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, int]:
    """The command's output and exit status (0, or a CommandError's returncode)."""
    out = StringIO()
    try:
        call_command("verify_integrations", *args, stdout=out, stderr=StringIO())
    except CommandError as error:
        return out.getvalue() + f"\nCommandError: {error}", error.returncode
    return out.getvalue(), 0


@pytest.fixture
def mixed(fake_providers, tenant, other_tenant):
    """acme: Twilio and DataSift that work, SendGrid refused; globex: Salesforce that works."""
    TwilioFactory(tenant=tenant, **fakes.ACCEPTED["twilio"])
    DataSiftFactory(tenant=tenant, **fakes.ACCEPTED["datasift"])
    SendGridFactory(tenant=tenant, **fakes.REFUSED["sendgrid"])
    SalesforceFactory(tenant=other_tenant, **fakes.ACCEPTED["salesforce"])


def row(output: str, name: str) -> list[str]:
    (line,) = [line for line in output.splitlines() if line.split()[:1] == [name]]
    return line.split()[1:]


def test_it_verifies_every_live_integration_and_prints_a_table(mixed):
    output, status = run("--concurrency", "1")

    assert status == 1  # one rejected
    assert row(output, "provider") == ["ok", "rejected", "unreachable", "skipped", "total"]
    assert row(output, "twilio") == ["1", "0", "0", "0", "1"]
    assert row(output, "sendgrid") == ["0", "1", "0", "0", "1"]
    assert row(output, "total") == ["3", "1", "0", "0", "4"]
    assert re.search(
        r"Verified 4 integration\(s\) in \d+\.\d s \(\d+\.\d/s, concurrency 1\)", output
    )
    assert "CommandError: 1 rejected, 0 unreachable" in output
    assert AuditEvent.objects.filter(action=AuditAction.VERIFY).count() == 4
    assert set(
        AuditEvent.objects.filter(action=AuditAction.VERIFY).values_list("actor", flat=True)
    ) == {"manage.py verify_integrations"}


def test_all_ok_exits_zero(fake_providers, tenant):
    TwilioFactory(tenant=tenant, **fakes.ACCEPTED["twilio"])

    output, status = run("--concurrency", "1")

    assert status == 0
    assert row(output, "total") == ["1", "0", "0", "0", "1"]


def test_tenant_narrows_the_run(mixed):
    output, _ = run("--tenant", "globex", "--concurrency", "1")

    assert row(output, "total") == ["1", "0", "0", "0", "1"]
    assert row(output, "salesforce") == ["1", "0", "0", "0", "1"]
    assert Integration.objects.filter(last_verification="").count() == 3


def test_status_reverifies_only_those_that_ended_so(mixed, fake_providers):
    run("--concurrency", "1")
    fake_providers.seen.clear()

    output, _ = run("--status", "rejected", "--concurrency", "1")

    assert row(output, "total") == ["0", "1", "0", "0", "1"]
    assert fake_providers.paths() == ["/v3/scopes"]


def test_a_down_provider_is_counted_unreachable(mixed, fake_providers):
    fake_providers.mode = fakes.ERROR

    output, status = run("--concurrency", "1")

    assert status == 1
    assert row(output, "total") == ["0", "0", "4", "0", "4"]


def test_deleted_integrations_and_tenants_are_left_out(fake_providers, tenant):
    gone = TwilioFactory(tenant=tenant, ident="gone", **fakes.ACCEPTED["twilio"])
    integration_delete(integration=gone, actor=actor_named())
    TwilioFactory(tenant=TenantFactory(name="closed", deleted_at="2026-01-01T00:00:00Z"))

    output, status = run()

    assert (output.strip(), status) == ("No integration to verify.", 0)


def test_an_unknown_tenant_or_a_bad_concurrency_is_a_usage_error(mixed):
    for args in (["--tenant", "nobody"], ["--concurrency", "0"], ["--concurrency", "65"]):
        _, status = run(*args)
        assert status == 2, args


def test_a_sandbox_login_host_goes_to_the_test_login_url(fake_providers, tenant):
    SalesforceFactory(tenant=tenant, login_host=LoginHost.SANDBOX, **fakes.ACCEPTED["salesforce"])

    run("--concurrency", "1")

    assert fake_providers.paths() == ["/sandbox/services/oauth2/token"]


# In-process runs use --concurrency 1: the test database (SQLite in memory, shared cache) is
# no place for concurrent writers; the real command line below runs concurrently on a file.

# --- the real command line, concurrently, on a database file of its own ----------------------

SEED = """
from tests.factories import TenantFactory, TwilioFactory, SendGridFactory
from tests.fake_providers import ACCEPTED, REFUSED
tenant = TenantFactory(name="acme")
for n in range(12):
    TwilioFactory(tenant=tenant, ident=f"twilio-{n}", **ACCEPTED["twilio"])
for n in range(4):
    SendGridFactory(tenant=tenant, ident=f"sendgrid-{n}", **REFUSED["sendgrid"])
"""
COUNT = """
from integrations.models import Integration
from tenants.models import AuditEvent
print(sorted(Integration.objects.values_list("last_verification", flat=True)))
print(AuditEvent.objects.filter(action="verify").count())
"""


def test_the_command_line_runs_concurrently_with_a_progress_and_a_summary(fake_providers, tmp_path):
    database = fresh_database(tmp_path / "db.sqlite3")
    assert manage(database, "shell", "--no-imports", "-c", SEED).returncode == 0
    urls = {name: value for name, value in fake_providers.settings().items()}

    result = manage(database, "verify_integrations", "--concurrency", "4", env=urls)

    assert result.returncode == 1, result.stderr
    assert "Verifying: 16/16 integrations" in result.stdout  # no terminal: plain lines
    assert row(result.stdout, "twilio") == ["12", "0", "0", "0", "12"]
    assert row(result.stdout, "sendgrid") == ["0", "4", "0", "0", "4"]
    assert "concurrency 4" in result.stdout
    assert "4 rejected, 0 unreachable" in result.stderr
    counted = manage(database, "shell", "--no-imports", "-c", COUNT).stdout.split("\n")
    assert counted[0] == str(["ok"] * 12 + ["rejected"] * 4)
    assert counted[1] == "16"
    for secret in ("twilio-token-GOOD", "SG.sendgrid-key-WRONG", fakes.BODY_MARK):
        assert secret not in result.stdout + result.stderr


# --- in process, concurrently, on PostgreSQL -------------------------------------------------


def connections_to_this_database() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_record_every_outcome_and_close_their_connections(fake_providers):
    tenant = TenantFactory(name="acme")
    for n in range(20):
        TwilioFactory(tenant=tenant, ident=f"twilio-{n}", **fakes.ACCEPTED["twilio"])
    before = connections_to_this_database()

    output, status = run("--concurrency", "4")

    assert status == 0, output
    assert row(output, "twilio") == ["20", "0", "0", "0", "20"]
    assert set(Integration.objects.values_list("last_verification", flat=True)) == {"ok"}
    assert AuditEvent.objects.filter(action=AuditAction.VERIFY).count() == 20
    assert connections_to_this_database() == before
