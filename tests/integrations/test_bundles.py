"""`export_integrations` writes an encrypted bundle, `import_integrations` reads it into another
registry through the services: secrets never in clear in the file, a wrong passphrase or a
changed byte is an error that writes nothing, every record is checked with the API's rules.

The round trips run for real between two databases with different FIELD_ENCRYPTION_KEYS:
`manage.py` in subprocesses, each with its own SQLite file (as test_dumpdata_round_trip does).
"Nothing written" is checked on every row of the registry's tables, read straight from the file.
"""

import base64
import json
import sqlite3
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from integrations import bundles
from integrations.models import Integration, IntegrationVersion
from integrations.providers import all_providers
from tenants.models import AuditEvent, Tenant
from tests.integrations.support import fresh_database, manage

PASSPHRASE = "correct horse battery staple"
OTHER_KEY = Fernet.generate_key().decode()  # the target registry's key: not the source's
SECRETS = [
    "twilio-PLAIN-secret",
    "sf-PLAIN-consumer",
    "sf-PLAIN-password",
    "sf-PLAIN-token",
    "sendgrid-PLAIN-password",
    "deleted-PLAIN-secret",
    "gone-PLAIN-secret",
]

SEED = """
from django.utils import timezone
from tests.factories import *
acme = TenantFactory(name="acme", display_name="Acme Corp")
globex = TenantFactory(name="globex", display_name="Globex")
TwilioFactory(tenant=acme, password="twilio-PLAIN-secret")
SalesforceFactory(tenant=acme, ident="salesforce-emea", consumer_secret="sf-PLAIN-consumer",
                  password="sf-PLAIN-password", secret_token="sf-PLAIN-token")
TwilioFactory(tenant=acme, ident="old-sms", password="deleted-PLAIN-secret",
              deleted_at=timezone.now())
SendGridFactory(tenant=globex, password="sendgrid-PLAIN-password")
gone = TenantFactory(name="gone")
TwilioFactory(tenant=gone, password="gone-PLAIN-secret")
gone.deleted_at = timezone.now()
gone.save()
"""

READ_BACK = """
import json
from integrations.models import Integration
from tenants.models import AuditEvent, Tenant
print(json.dumps({
    "tenants": sorted([t.name, t.display_name] for t in Tenant.objects.all()),
    "integrations": sorted(
        [i.tenant.name, i.ident, i.provider_key, {
            f.name: (getattr(i, f.name).reveal() if f.name in i.secret_field_names()
                     else getattr(i, f.name))
            for f in i.credential_fields()
        }]
        for i in Integration.objects.all()
    ),
    "events": sorted(
        [e.actor, e.channel, e.action, e.tenant.name, e.integration_ident]
        for e in AuditEvent.objects.all()
    ),
}))
"""

EXPECTED_INTEGRATIONS = [
    [
        "acme",
        "salesforce-emea",
        "salesforce",
        {
            "consumer_key": "consumerkey",
            "consumer_secret": "sf-PLAIN-consumer",
            "username": "dev@userevents.com",
            "password": "sf-PLAIN-password",
            "secret_token": "sf-PLAIN-token",
            "login_host": "login.salesforce.com",
        },
    ],
    ["acme", "twilio", "twilio", {"account": "AC0123456789", "password": "twilio-PLAIN-secret"}],
    [
        "globex",
        "sendgrid",
        "sendgrid",
        {"account": "sendgrid-user", "password": "sendgrid-PLAIN-password"},
    ],
]
IMPORTER = "manage.py import_integrations"


def with_passphrase(passphrase: str = PASSPHRASE, **env: str) -> dict[str, str]:
    return {bundles.PASSPHRASE_ENV: passphrase, **env}


def export(database: Path, output: Path, *args: str, passphrase: str = PASSPHRASE):
    return manage(
        database,
        "export_integrations",
        *args,
        "--output",
        str(output),
        env=with_passphrase(passphrase),
    )


def import_(database: Path, bundle: Path, *args: str, passphrase: str = PASSPHRASE, **env: str):
    return manage(
        database,
        "import_integrations",
        str(bundle),
        *args,
        keys=OTHER_KEY,
        env=with_passphrase(passphrase, **env),
    )


def read_back(database: Path, keys: str = OTHER_KEY) -> dict:
    result = manage(database, "shell", stdin=READ_BACK, keys=keys)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])  # after the shell's own greeting


def every_row(database: Path) -> dict[str, list]:
    """Every row of the registry's tables, as stored: any write shows as a difference."""
    models = [Tenant, AuditEvent, Integration, IntegrationVersion, *all_providers()]
    with sqlite3.connect(database) as connection:
        return {
            model._meta.db_table: connection.execute(
                f'SELECT * FROM "{model._meta.db_table}" ORDER BY 1'  # noqa: S608
            ).fetchall()
            for model in models
        }


@pytest.fixture(scope="module")
def empty(tmp_path_factory) -> Path:
    """A migrated, empty database to copy (migrating once per module)."""
    return fresh_database(tmp_path_factory.mktemp("empty") / "db.sqlite3")


@pytest.fixture(scope="module")
def source(tmp_path_factory, empty) -> Path:
    database = fresh_database(tmp_path_factory.mktemp("source") / "db.sqlite3", like=empty)
    result = manage(database, "shell", stdin=SEED)
    assert result.returncode == 0, result.stderr
    return database


@pytest.fixture(scope="module")
def exported(tmp_path_factory, source):
    output = tmp_path_factory.mktemp("bundle") / "registry.bundle"
    result = export(source, output)
    assert result.returncode == 0, result.stderr
    return output, result


@pytest.fixture
def bundle(exported) -> Path:
    return exported[0]


@pytest.fixture
def target(tmp_path, empty) -> Path:
    return fresh_database(tmp_path / "target.sqlite3", like=empty)


# --- round trip ------------------------------------------------------------------------------


def test_a_bundle_carries_live_tenants_and_integrations_to_a_registry_with_other_keys(
    bundle, target
):
    imported = import_(target, bundle)

    assert imported.returncode == 0, imported.stderr
    state = read_back(target)  # decrypts with OTHER_KEY only: the secrets were re-encrypted
    assert state["tenants"] == [["acme", "Acme Corp"], ["globex", "Globex"]]
    assert state["integrations"] == EXPECTED_INTEGRATIONS  # no deleted record, no deleted tenant
    assert state["events"] == sorted(
        [
            [IMPORTER, "command", "create", "acme", ""],
            [IMPORTER, "command", "create", "globex", ""],
            [IMPORTER, "command", "create", "acme", "salesforce-emea"],
            [IMPORTER, "command", "create", "acme", "twilio"],
            [IMPORTER, "command", "create", "globex", "sendgrid"],
        ]
    )
    assert "Imported: created 2 tenant(s), created 3 and replaced 0 integration(s)" in (
        imported.stdout
    )
    assert "checked: 3/3 records" in imported.stdout  # no terminal: plain progress lines


def test_an_export_is_audited_as_a_reveal_of_each_integration(source, tmp_path):
    registry = fresh_database(tmp_path / "copy.sqlite3", like=source)
    before = len(every_row(registry)[AuditEvent._meta.db_table])

    result = export(registry, tmp_path / "audited.bundle")

    assert result.returncode == 0, result.stderr
    with sqlite3.connect(registry) as connection:
        new = connection.execute(
            f'SELECT actor, channel, action, integration_ident FROM "{AuditEvent._meta.db_table}"'  # noqa: S608
            " WHERE id > ? ORDER BY integration_ident",
            [before],
        ).fetchall()
    exporter = "manage.py export_integrations"
    assert new == [
        (exporter, "command", "reveal", "salesforce-emea"),
        (exporter, "command", "reveal", "sendgrid"),
        (exporter, "command", "reveal", "twilio"),
    ]
    assert "Exported 2 tenant(s) and 3 integration(s)" in result.stdout


def test_the_bundle_holds_no_secret_in_clear_and_only_its_owner_reads_it(bundle):
    data = bundle.read_bytes()

    for secret in [*SECRETS, "AC0123456789", "Acme Corp", "salesforce-emea", PASSPHRASE]:
        assert secret.encode() not in data
        assert base64.b64encode(secret.encode())[:12] not in data
    header_line, token, end = data.split(b"\n")
    header = json.loads(header_line)
    assert (header["format"], header["version"], header["cipher"]) == (
        "integration-registry-bundle",
        1,
        "fernet",
    )
    kdf = header["kdf"]
    assert (kdf["name"], kdf["r"], kdf["p"], kdf["length"]) == ("scrypt", 8, 1, 32)
    assert kdf["n"] >= 2**15 and len(base64.b64decode(kdf["salt"])) == 16
    assert token.startswith(b"gAAAAA") and end == b""  # a Fernet token, then a final newline
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600


def test_importing_the_same_bundle_again_changes_nothing(bundle, target):
    assert import_(target, bundle).returncode == 0
    before = every_row(target)

    again = import_(target, bundle)

    assert again.returncode == 0, again.stderr
    assert every_row(target) == before  # no event, no version, no timestamp moved
    assert "acme/twilio (twilio): unchanged" in again.stdout
    assert "created 0 tenant(s), created 0 and replaced 0 integration(s), 3 unchanged" in (
        again.stdout
    )


# --- --dry-run and --tenant --------------------------------------------------------------------

DRIFT = """
from integrations.models import Integration
from integrations.services import integration_delete, integration_update
from tests.factories import actor_named
twilio = Integration.objects.get(tenant__name="acme", ident="twilio")
integration_update(integration=twilio, data={"password": "changed-here"}, actor=actor_named())
integration_delete(
    integration=Integration.objects.get(tenant__name="globex", ident="sendgrid"),
    actor=actor_named(),
)
"""


def test_a_dry_run_reports_each_record_and_writes_nothing(bundle, target):
    assert import_(target, bundle).returncode == 0
    assert manage(target, "shell", stdin=DRIFT, keys=OTHER_KEY).returncode == 0
    before = every_row(target)

    dry = import_(target, bundle, "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert every_row(target) == before
    lines = dry.stdout.splitlines()
    assert "tenant acme: exists" in lines
    assert "acme/salesforce-emea (salesforce): unchanged" in lines
    assert "acme/twilio (twilio): replace" in lines
    assert "globex/sendgrid (sendgrid): create" in lines
    assert "Dry run, nothing written: would create 0 tenant(s), create 1 and replace 1" in (
        dry.stdout
    )

    real = import_(target, bundle)

    assert real.returncode == 0, real.stderr
    state = read_back(target)
    assert state["integrations"] == EXPECTED_INTEGRATIONS
    new_events = [e for e in state["events"] if e[0] == IMPORTER and e[2] != "create"]
    assert new_events == [[IMPORTER, "command", "replace", "acme", "twilio"]]


def test_a_dry_run_into_an_empty_registry_would_create_everything(bundle, target):
    before = every_row(target)

    dry = import_(target, bundle, "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert every_row(target) == before
    assert "tenant globex: create" in dry.stdout
    assert "would create 2 tenant(s), create 3 and replace 0 integration(s), 0 unchanged" in (
        dry.stdout
    )


def test_tenant_selects_what_is_exported(source, target, tmp_path):
    output = tmp_path / "globex.bundle"
    assert export(source, output, "--tenant", "globex").returncode == 0

    assert import_(target, output).returncode == 0

    state = read_back(target)
    assert state["tenants"] == [["globex", "Globex"]]
    assert [i[:2] for i in state["integrations"]] == [["globex", "sendgrid"]]


@pytest.mark.parametrize("name", ["nobody", "gone"], ids=["unknown", "deleted"])
def test_exporting_a_tenant_that_is_not_live_is_an_error(source, tmp_path, name):
    output = tmp_path / "none.bundle"

    result = export(source, output, "--tenant", "acme", "--tenant", name)

    assert result.returncode != 0
    assert f"Tenant '{name}' does not exist or has been deleted." in result.stderr
    assert not output.exists()


# --- wrong passphrase, changed or cut files ----------------------------------------------------


def _changed(data: bytes, position: int) -> bytes:
    """`data` with the base64 or JSON character at `position` replaced by another of its kind."""
    old = data[position : position + 1]
    new = b"B" if old != b"B" else b"C"
    return data[:position] + new + data[position + 1 :]


def _salt_byte(data: bytes) -> int:
    return data.index(b'"salt":"') + len(b'"salt":"') + 3


def _token_middle(data: bytes) -> int:
    start = data.index(b"\n") + 1
    return start + (len(data) - start) // 2


BROKEN = {
    "salt changed": lambda data: _changed(data, _salt_byte(data)),
    "token byte changed": lambda data: _changed(data, _token_middle(data)),
    "last token byte changed": lambda data: _changed(data, len(data) - 2),
    "cut in half": lambda data: data[: len(data) // 2],
    "last bytes cut": lambda data: data[:-9],
}


@pytest.mark.parametrize("damage", BROKEN.values(), ids=BROKEN.keys())
def test_a_changed_or_cut_bundle_is_an_error_that_writes_nothing(bundle, target, damage):
    broken = target.parent / "broken.bundle"
    broken.write_bytes(damage(bundle.read_bytes()))
    before = every_row(target)

    result = import_(target, broken)

    assert result.returncode != 0
    assert "Cannot decrypt the bundle: wrong passphrase, or the file was changed" in result.stderr
    assert "Nothing was written." in result.stderr
    assert "Traceback" not in result.stderr
    assert every_row(target) == before


def test_a_wrong_passphrase_is_an_error_that_writes_nothing(bundle, target):
    wrong = "correct horse battery stapler"
    before = every_row(target)

    result = import_(target, bundle, passphrase=wrong)

    assert result.returncode != 0
    assert "wrong passphrase" in result.stderr and "Nothing was written." in result.stderr
    assert wrong not in result.stdout + result.stderr
    assert every_row(target) == before


def test_a_file_that_is_no_bundle_says_so(target, tmp_path):
    other = tmp_path / "dump.json"
    other.write_text('[{"model": "tenants.tenant"}]\n')

    result = import_(target, other)

    assert result.returncode != 0
    assert "Not a registry bundle" in result.stderr


# --- validation --------------------------------------------------------------------------------


def test_an_invalid_record_is_named_and_nothing_is_written(target, tmp_path):
    twilio = {"id": "twilio", "account": "AC1", "password": "fine-PLAIN-secret"}
    payload = {
        "tenants": [
            {
                "name": "acme",
                "display-name": "Acme Corp",
                "integrations": [
                    twilio,
                    {
                        "id": "salesforce",
                        "consumer-key": "key",
                        "consumer-secret": "INVALID-PLAIN-consumer",
                        "username": "not an email",
                        "password": "INVALID-PLAIN-password",
                        "secret-token": "INVALID-PLAIN-token",
                    },
                ],
            },
            {
                "name": "globex",
                "integrations": [
                    {"id": "sendgrid", "account": "user"},
                    {"id": "zendesk", "token": "INVALID-PLAIN-zendesk"},
                    {"id": "sms", "type": "twilio", "account": "AC2", "password": "********"},
                ],
            },
            {"name": "Not A Slug", "integrations": []},
        ]
    }
    crafted = tmp_path / "invalid.bundle"
    crafted.write_bytes(bundles.seal(payload, PASSPHRASE, n=2**15))
    before = every_row(target)

    result = import_(target, crafted)

    assert result.returncode != 0
    assert every_row(target) == before  # acme's valid twilio record is not written either
    errors = result.stderr
    assert "5 invalid record(s) in the bundle; nothing was written" in errors
    assert "Tenant 'acme', integration 'salesforce': username: Enter a valid email" in errors
    assert "Tenant 'globex', integration 'sendgrid': password: This field is required." in errors
    assert "Tenant 'globex', integration 'zendesk': type: required" in errors
    assert "Tenant 'globex', integration 'sms': password: holds the mask" in errors
    assert "Tenant 'Not A Slug': name:" in errors
    assert "PLAIN" not in result.stdout + errors


def test_a_record_of_another_type_than_the_stored_one_is_refused(target, tmp_path):
    first = {"name": "acme", "integrations": [{"id": "sms", "type": "twilio", "account": "A"}]}
    first["integrations"][0]["password"] = "PLAIN-twilio"
    crafted = tmp_path / "first.bundle"
    crafted.write_bytes(bundles.seal({"tenants": [first]}, PASSPHRASE, n=2**15))
    assert import_(target, crafted).returncode == 0
    first["integrations"][0]["type"] = "sendgrid"
    crafted.write_bytes(bundles.seal({"tenants": [first]}, PASSPHRASE, n=2**15))
    before = every_row(target)

    result = import_(target, crafted)

    assert result.returncode != 0
    assert "Tenant 'acme', integration 'sms': is a twilio integration here" in result.stderr
    assert every_row(target) == before


# --- the passphrase ----------------------------------------------------------------------------


def test_the_passphrase_never_shows_in_output_or_logs(source, target, tmp_path):
    output = tmp_path / "logged.bundle"
    debug = {"LOG_LEVEL": "DEBUG"}

    runs = [
        manage(
            source,
            "export_integrations",
            "--output",
            str(output),
            env=with_passphrase(**debug),
        ),
        import_(target, output, "--dry-run", **debug),
        import_(target, output, **debug),
    ]

    for run in runs:
        assert run.returncode == 0, run.stderr
        assert PASSPHRASE not in run.stdout + run.stderr
        assert all(secret not in run.stdout + run.stderr for secret in SECRETS)
    assert PASSPHRASE.encode() not in output.read_bytes()


def test_without_the_variable_or_a_terminal_it_asks_for_the_variable(source, tmp_path):
    output = tmp_path / "none.bundle"

    result = manage(source, "export_integrations", "--output", str(output), stdin="")

    assert result.returncode != 0
    assert f"set the environment variable {bundles.PASSPHRASE_ENV}" in result.stderr
    assert not output.exists()


def test_a_short_passphrase_is_refused(source, tmp_path):
    output = tmp_path / "weak.bundle"

    result = export(source, output, passphrase="eleven-char")

    assert result.returncode != 0
    assert "at least 12 characters" in result.stderr
    assert not output.exists()


# --- the format, in process --------------------------------------------------------------------

FAST = 2**15  # the lowest n a bundle may have: these tests derive many keys


def test_a_bundle_opens_with_its_passphrase_only():
    payload = {"tenants": [], "note": "ünïcode ✓"}
    data = bundles.seal(payload, PASSPHRASE, n=FAST)

    assert bundles.open_bundle(data, PASSPHRASE) == payload
    with pytest.raises(bundles.BundleError, match="wrong passphrase"):
        bundles.open_bundle(data, PASSPHRASE + "!")


def test_two_bundles_of_the_same_payload_differ_in_salt_and_ciphertext():
    first = bundles.seal({"tenants": []}, PASSPHRASE, n=FAST)
    second = bundles.seal({"tenants": []}, PASSPHRASE, n=FAST)

    assert first.split(b"\n")[0] != second.split(b"\n")[0]
    assert first.split(b"\n")[1] != second.split(b"\n")[1]


def test_a_header_changed_without_changing_the_key_is_refused():
    data = bundles.seal({"tenants": []}, PASSPHRASE, n=FAST)
    header_line, rest = data.split(b"\n", 1)
    respaced = json.dumps(json.loads(header_line), indent=None).encode()  # ", " and ": "

    with pytest.raises(bundles.BundleError, match="header was changed"):
        bundles.open_bundle(respaced + b"\n" + rest, PASSPHRASE)


def test_every_sampled_byte_change_is_refused():
    data = bundles.seal({"tenants": [{"name": "acme"}]}, PASSPHRASE, n=FAST)
    token_start = data.index(b"\n") + 1
    positions = [token_start, token_start + 9, len(data) // 2, len(data) - 3, len(data) - 2]

    for position in positions:
        with pytest.raises(bundles.BundleError):
            bundles.open_bundle(_changed(data, position), PASSPHRASE)


@pytest.mark.parametrize(
    "kdf_change",
    [{"n": 2**26}, {"n": 2**14}, {"n": 100_000}, {"r": 64}, {"p": 99}, {"name": "md5"}],
    ids=["n too large", "n too small", "n not a power of 2", "r", "p", "other kdf"],
)
def test_a_header_asking_for_unbounded_work_is_refused_before_deriving(kdf_change):
    data = bundles.seal({"tenants": []}, PASSPHRASE, n=FAST)
    header_line, rest = data.split(b"\n", 1)
    header = json.loads(header_line)
    header["kdf"].update(kdf_change)

    with pytest.raises(bundles.BundleError):
        bundles.read_header(json.dumps(header).encode() + b"\n" + rest)


def test_a_newer_format_version_is_named():
    data = bundles.seal({"tenants": []}, PASSPHRASE, n=FAST)
    header_line, rest = data.split(b"\n", 1)
    header = {**json.loads(header_line), "version": 2}

    with pytest.raises(bundles.BundleError, match="format version 2 is not supported"):
        bundles.open_bundle(json.dumps(header).encode() + b"\n" + rest, PASSPHRASE)
