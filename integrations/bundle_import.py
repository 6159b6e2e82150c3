"""What `import_integrations` does with a decrypted bundle payload: check every record with the
API's own rules, say what would change, then change it through the services.

Two steps, both meant to run inside one transaction (the command's):

- `import_plan` validates every tenant and integration record (the API's serializers, the
  services' id rules, the tenant model's rules) and compares each with what is stored:
  create, replace or unchanged. Every problem is collected and named by tenant and id (never
  by a value); any problem means ImportInvalid and nothing to write.
- `import_apply` creates the missing tenants (tenant_create) and upserts what changes
  (integration_upsert), so each change is audited like any other; unchanged records are not
  touched at all.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from integrations.api.serializers import json_key, serializer_for
from integrations.bundle_export import live_integrations
from integrations.exceptions import UnknownProvider
from integrations.history import changes_of
from integrations.models import Integration
from integrations.providers import provider_for
from integrations.sealed import MASK
from integrations.services import integration_check_ident, integration_upsert
from tenants.actors import Actor
from tenants.exceptions import RegistryError
from tenants.models import Tenant
from tenants.services import tenant_create

CREATE, REPLACE, UNCHANGED = "create", "replace", "unchanged"
TENANT_KEYS = {"name", "display-name", "integrations"}
# Problems listed in one error at most; the count of the others follows.
PROBLEMS_SHOWN = 50


class ImportInvalid(RegistryError):
    """The bundle's records do not all pass the rules: nothing was written. `problems` holds one
    sentence per problem, naming the tenant and integration id, never a value."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        lines = [*shown, *([f"... and {more} more."] if more else [])]
        super().__init__(
            f"{len(problems)} invalid record(s) in the bundle; nothing was written:\n"
            + "\n".join(f"  {line}" for line in lines)
        )


@dataclass
class TenantStep:
    """A tenant of the bundle: created (CREATE) or found live here (UNCHANGED, `tenant` set;
    `note` says when its display name differs, which an import does not change)."""

    name: str
    display_name: str
    action: str  # CREATE or UNCHANGED
    tenant: Tenant | None = None
    note: str = ""


@dataclass
class RecordStep:
    """An integration record of the bundle, validated: what an import does with it."""

    tenant_name: str
    ident: str
    provider: type[Integration]
    action: str  # CREATE, REPLACE or UNCHANGED
    data: dict[str, Any] = field(repr=False)  # validated values, secrets in clear

    @property
    def label(self) -> str:
        """`tenant/id (type)`, as the command prints it."""
        return f"{self.tenant_name}/{self.ident} ({self.provider.provider_key})"


@dataclass
class ImportPlan:
    """Every tenant and integration step of a bundle, in the bundle's order."""

    tenants: list[TenantStep] = field(default_factory=list)
    records: list[RecordStep] = field(default_factory=list)

    def count(self, action: str, *, of_tenants: bool = False) -> int:
        """How many tenant (of_tenants) or integration steps have `action`."""
        steps = self.tenants if of_tenants else self.records
        return sum(1 for step in steps if step.action == action)

    @property
    def changes(self) -> int:
        """How many integration records import_apply writes."""
        return len(self.records) - self.count(UNCHANGED)


def count_records(payload: dict[str, Any]) -> int:
    """How many integration records `payload` holds (for a progress bar); 0 for any part
    that is malformed (import_plan names it)."""
    tenants = payload.get("tenants")
    if not isinstance(tenants, list):
        return 0
    return sum(
        len(entry["integrations"])
        for entry in tenants
        if isinstance(entry, dict) and isinstance(entry.get("integrations"), list)
    )


@sensitive_variables("payload", "entry")
def import_plan(
    *, payload: dict[str, Any], progress: Callable[[int], None] = lambda done: None
) -> ImportPlan:
    """What importing `payload` (a decrypted bundle) would do, every record checked with the
    API's rules. `progress(1)` is called after each integration record. Reads only.

    Raises ImportInvalid naming every record that fails (unknown type, id rule, a field the
    serializer refuses, the mask in place of a secret, a type change, a duplicate, a tenant
    name that is invalid or belongs to a deleted tenant).
    """
    tenants = payload.get("tenants")
    if not isinstance(tenants, list):
        raise ImportInvalid(["The bundle holds no list of tenants."])
    plan, problems, seen = ImportPlan(), [], set[str]()
    for position, entry in enumerate(tenants, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            problems.append(f"Tenant #{position}: not an object with a string 'name'.")
            continue
        name = entry["name"]
        where = f"Tenant '{_shown(name)}'"
        step = _tenant_step(entry, where, problems, seen)
        integrations = entry.get("integrations", [])
        if not isinstance(integrations, list):
            problems.append(f"{where}: 'integrations' is not a list.")
            continue
        if step is not None:
            plan.tenants.append(step)
        stored = {} if step is None or step.tenant is None else _stored(step.tenant)
        idents: set[str] = set()
        for number, record in enumerate(integrations, 1):
            found = _record_step(name, where, number, record, stored, idents)
            if isinstance(found, RecordStep):
                plan.records.append(found)
            else:
                problems.append(found)
            progress(1)
    if problems:
        raise ImportInvalid(problems)
    return plan


def import_apply(
    *, plan: ImportPlan, actor: Actor, progress: Callable[[int], None] = lambda done: None
) -> None:
    """Write `plan` (from import_plan, in the same transaction) through the services: create
    its new tenants, upsert its created and replaced records (each audited as `actor`), leave
    unchanged ones alone. All or nothing: raises ImportInvalid naming the record when a
    service refuses one (a race since the plan was made), and then nothing is kept.
    `progress(1)` is called after each record written.
    """
    with transaction.atomic():
        tenants: dict[str, Tenant] = {}
        for step in plan.tenants:
            if step.action == CREATE:
                try:
                    step.tenant = tenant_create(
                        name=step.name, display_name=step.display_name, actor=actor
                    )
                except ValidationError as error:
                    raise ImportInvalid([f"Tenant '{step.name}': {_messages(error)}"]) from None
            if step.tenant is None:  # not reached: an UNCHANGED step holds its live tenant
                raise ImportInvalid([f"Tenant '{step.name}': not found."])
            tenants[step.name] = step.tenant
        for record in plan.records:
            if record.action == UNCHANGED:
                continue
            try:
                integration_upsert(
                    tenant=tenants[record.tenant_name],
                    ident=record.ident,
                    provider=record.provider,
                    data=record.data,
                    actor=actor,
                )
            except ValidationError as error:
                raise ImportInvalid([f"{_where(record)}: {_messages(error)}"]) from None
            except RegistryError as error:
                raise ImportInvalid([f"{_where(record)}: {error}"]) from None
            progress(1)


def _tenant_step(
    entry: dict[str, Any], where: str, problems: list[str], seen: set[str]
) -> TenantStep | None:
    name, display_name = entry["name"], entry.get("display-name", "")
    unknown = sorted(set(entry) - TENANT_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(map(_shown, unknown))}.")
        return None
    if not isinstance(display_name, str):
        problems.append(f"{where}: 'display-name' is not a string.")
        return None
    if name in seen:
        problems.append(f"{where}: appears twice in the bundle.")
        return None
    seen.add(name)
    tenant = None
    if name and len(name) <= 64 and "\x00" not in name:  # else it cannot be stored: no lookup
        tenant = Tenant.all_objects.filter(name=name).first()
    if tenant is None:
        try:
            Tenant(name=name, display_name=display_name).full_clean()
        except ValidationError as error:
            problems.append(f"{where}: {_messages(error)}")
            return None
        return TenantStep(name=name, display_name=display_name, action=CREATE)
    if tenant.is_deleted:
        problems.append(f"{where}: has been deleted here; an admin can restore it first.")
        return None
    note = "" if tenant.display_name == display_name else "its display name here is kept"
    return TenantStep(
        name=name, display_name=display_name, action=UNCHANGED, tenant=tenant, note=note
    )


def _stored(tenant: Tenant) -> dict[str, Integration]:
    return {integration.ident: integration for integration in live_integrations(tenant=tenant)}


@sensitive_variables("record", "data")
def _record_step(
    tenant_name: str,
    where: str,
    number: int,
    record: Any,
    stored: dict[str, Integration],
    idents: set[str],
) -> RecordStep | str:
    """The step for one integration record, or the sentence saying what is wrong with it."""
    if not isinstance(record, dict):
        return f"{where}, integration #{number}: not a JSON object."
    ident = record.get("id")
    if not isinstance(ident, str) or not ident:
        return f"{where}, integration #{number}: id: must be a non-empty string."
    here = f"{where}, integration '{_shown(ident)}'"
    if ident in idents:
        return f"{here}: appears twice in the bundle."
    idents.add(ident)
    provider = _provider_of(record, ident)
    if isinstance(provider, str):
        return f"{here}: {provider}"
    try:
        integration_check_ident(ident=ident, provider=provider)
    except ValidationError as error:
        return f"{here}: {_messages(error)}"
    serializer = serializer_for(provider)(data=record)
    if not serializer.is_valid():
        return f"{here}: {_scrubbed(_drf_messages(serializer.errors), record, provider)}"
    data = dict(serializer.validated_data)
    masked = [json_key(n) for n in provider.secret_field_names() if data.get(n) == MASK]
    if masked:
        return (
            f"{here}: {', '.join(masked)}: holds the mask '{MASK}' in place of the secret; a "
            "bundle must carry the secret itself."
        )
    existing = stored.get(ident)
    if existing is None:
        action = CREATE
    elif type(existing) is not provider:
        return (
            f"{here}: is a {existing.provider_key} integration here; its type cannot change "
            f"to {provider.provider_key}."
        )
    else:
        action = REPLACE if changes_of(existing, data) else UNCHANGED
    return RecordStep(
        tenant_name=tenant_name, ident=ident, provider=provider, action=action, data=data
    )


def _provider_of(record: dict[str, Any], ident: str) -> type[Integration] | str:
    """The record's provider, by the API's rule (`type`, else the id when it names one), or
    the sentence saying why there is none."""
    if "type" not in record:
        provider = provider_for(ident)
        return provider or "type: required when the id does not name a provider."
    key = record["type"]
    if not isinstance(key, str) or not key:
        return "type: must be a non-empty string."
    return provider_for(key) or str(UnknownProvider(_shown(key)))


def _where(record: RecordStep) -> str:
    return f"Tenant '{record.tenant_name}', integration '{record.ident}'"


def _messages(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{json_key(name)}: {' '.join(messages)}"
            for name, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


def _drf_messages(errors: dict[str, Any]) -> str:
    def flat(value) -> str:
        if isinstance(value, dict):
            return "; ".join(f"{key}: {flat(inner)}" for key, inner in value.items())
        if isinstance(value, list):
            return " ".join(flat(inner) for inner in value)
        return str(value)

    return flat(errors)


@sensitive_variables("record")
def _scrubbed(message: str, record: dict[str, Any], provider: type[Integration]) -> str:
    """`message` with any secret value of `record` masked. The serializers' messages name
    fields, not values; this keeps it so whatever a future field's message says."""
    for name in provider.secret_field_names():
        value = record.get(json_key(name))
        if isinstance(value, str) and len(value) >= 4:
            message = message.replace(value, MASK)
    return message


def _shown(value: str) -> str:
    """A name from the bundle as an error message shows it: printable, at most 64 characters."""
    shown = value.encode("unicode_escape").decode("ascii").replace("'", "\\'")
    return shown if len(shown) <= 64 else shown[:61] + "..."
