"""A dump of the registry loads back as it was: secrets stay ciphertext in the file, come
back readable (never encrypted twice), and soft-deleted rows travel with what points at them.

The round trip runs between two databases for real: `manage.py` in subprocesses, each with
its own SQLite file, sharing FIELD_ENCRYPTION_KEYS as a restore on another machine would.
"""

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.integrations.support import KEY, fresh_database, manage

SEED = """
from django.utils import timezone
from tenants.services import api_token_create
from tests.factories import TenantFactory, TwilioFactory, SalesforceFactory, actor_named
live = TenantFactory(name="live")
gone = TenantFactory(name="gone")
TwilioFactory(tenant=live, password="twilio-plain-secret")
SalesforceFactory(tenant=live, password="sf-plain-password", deleted_at=timezone.now())
TwilioFactory(tenant=gone, password="gone-plain-secret")
api_token_create(actor=actor_named("tests"), label="of a deleted tenant", tenant=gone)
gone.deleted_at = timezone.now()
gone.save()
"""

READ_BACK = """
import json
from integrations.models import Integration
from tenants.models import ApiToken, Tenant
from tests.factories import actor_named
print(json.dumps({
    "tenants": sorted((t.name, t.deleted_at is not None) for t in Tenant.all_objects.all()),
    "tokens": sorted(t.label for t in ApiToken.objects.all()),
    "secrets": sorted(
        (i.tenant.name, i.ident, i.password.reveal(), i.deleted_at is not None)
        for i in Integration.all_objects.all()
    ),
}))
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    database = fresh_database(tmp_path_factory.mktemp("source") / "db.sqlite3")
    result = manage(database, "shell", stdin=SEED)
    assert result.returncode == 0, result.stderr
    return database


def read_back(database: Path) -> dict:
    result = manage(database, "shell", stdin=READ_BACK)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])  # after the shell's own greeting


@pytest.mark.parametrize("dump_args", [[], ["--all"]], ids=["dumpdata", "dumpdata --all"])
def test_a_dump_loads_into_another_database_exactly_as_it_was(source, tmp_path, dump_args):
    fixture = tmp_path / "registry.json"
    dumped = manage(source, "dumpdata", "tenants", "integrations", *dump_args, "-o", fixture)
    assert dumped.returncode == 0, dumped.stderr
    text = fixture.read_text()
    assert "plain-secret" not in text and "plain-password" not in text  # ciphertext only
    target = fresh_database(tmp_path / "target.sqlite3")

    loaded = manage(target, "loaddata", str(fixture))

    assert loaded.returncode == 0, loaded.stderr
    assert read_back(target) == read_back(source)
    assert read_back(target)["secrets"] == [
        ["gone", "twilio", "gone-plain-secret", False],
        ["live", "salesforce", "sf-plain-password", True],
        ["live", "twilio", "twilio-plain-secret", False],
    ]
    assert read_back(target)["tokens"] == ["of a deleted tenant"]


def _dump(source: Path, tmp_path: Path) -> list[dict]:
    fixture = tmp_path / "dump.json"
    assert manage(source, "dumpdata", "tenants", "integrations", "-o", fixture).returncode == 0
    return json.loads(fixture.read_text())


def _load(records: list[dict], tmp_path: Path, keys: str = KEY):
    fixture = tmp_path / "edited.json"
    fixture.write_text(json.dumps(records))
    target = fresh_database(tmp_path / "target.sqlite3")
    return target, manage(target, "loaddata", str(fixture), keys=keys)


def test_loaddata_refuses_a_plaintext_secret_and_writes_nothing(source, tmp_path):
    records = _dump(source, tmp_path)
    twilio = next(r for r in records if r["model"] == "integrations.twiliointegration")
    twilio["fields"]["password"] = "typed-into-a-fixture"

    target, loaded = _load(records, tmp_path)

    assert loaded.returncode != 0
    assert "must be sealed" in loaded.stderr
    assert "typed-into-a-fixture" not in loaded.stderr
    assert read_back(target)["tenants"] == []


def test_loaddata_refuses_secrets_sealed_under_a_key_it_does_not_have(source, tmp_path):
    records = _dump(source, tmp_path)
    other_keys = Fernet.generate_key().decode()

    target, loaded = _load(records, tmp_path, keys=other_keys)

    assert loaded.returncode != 0
    assert "not in FIELD_ENCRYPTION_KEYS" in loaded.stderr
    assert read_back(target)["tenants"] == []
