"""The status a generated request must get, worked out from the API's contract alone.

tests/api/test_fuzz.py asks this for every case, the negative ones above all: a request that
breaks the document must get the one status the contract gives its first broken rule, not
"some 4xx". The rules, in the order the server applies them:

1. the route: a path that reaches no route is a 404, a route without the method a 405;
2. the token: a tenant's token on another tenant is a 403 (the permission class);
3. the query: a parameter the operation does not document is a 400;
4. the tenant: one that is not live is a 422 (the API document's rule);
5. per operation, what its view checks, in its order: a `type` filter naming no provider 422,
   other query values out of their documented range 400; the integration missing 422; a body
   that is not JSON 415, not an object or breaking its schema 400, an unknown type 422; a
   malformed If-Match / If-None-Match 400 (RFC 9110 §13.1: strong tags, `*` only on writes).

`expected_status` returns None when the rules leave the answer to the stored state (412, a
replace or create, a record of another type): the fuzz test then checks only the documented
shapes. Query parameters, their ranges and the body schemas are read from the document itself,
so a new parameter or provider needs no change here.
"""

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import jsonschema
from django.urls import resolve
from schemathesis.core import NotSet

from integrations.api.errors import json_not_found
from integrations.api.serializers import ENVELOPE_KEYS, RECORD_META_KEYS
from integrations.providers import provider_for

IDENT = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
IDENT_MAX = 64
TENANT = re.compile(r"[-a-zA-Z0-9_]{1,64}")
STRONG_TAG = re.compile(r'"[^"]*"')
JSON_TYPES = ("application/json", "application/merge-patch+json")
# Operations by what their view checks after the tenant (integrations/api/*views.py).
RECORD_READS = {"integration_get", "integration_versions", "integration_verify"}
UPSERTS = {"integration_upsert", "integration_upsert_short"}


def expected_status(
    case,
    document: dict[str, Any],
    *,
    own_tenant: str | None,
    live_tenants: set[str],
    stored_type: Callable[[str, str], str | None],
) -> int | None:
    """The status `case` must get, or None when the stored state decides it.

    `own_tenant` is the tenant of a tenant-scoped token (None for an all-tenants token),
    `live_tenants` the tenants that exist, `stored_type(tenant, id)` the provider key of the
    live integration (None when there is none). Reads the case's actual path, query, headers
    and body, not how they were generated: a "negative" value may have been replaced by a
    configured one."""
    operation = case.operation.definition.raw
    method = case.method.lower()
    params = {k: unquote(str(v)) for k, v in (case.path_parameters or {}).items()}
    path = case.operation.path
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    match = resolve(path)
    expected_view = resolve(_placeholder_path(case.operation.path)).url_name
    if match.func is json_not_found:
        return 404
    view = match.func.view_class  # type: ignore[attr-defined]
    if method.upper() not in view().allowed_methods:
        return 405
    if method not in ("get", "post", "patch", "delete"):
        return None  # OPTIONS and HEAD: undocumented, DRF's own answers
    if match.url_name != expected_view:
        return None  # another route of the API took it (an id like "x/history"): its rules
    tenant, ident = params.get("tenant", ""), params.get("id", "")
    if own_tenant is not None and tenant != own_tenant:
        return 403
    # A parameter whose value is an empty list is not sent at all (requests drops it).
    given = {k: v for k, v in (case.query or {}).items() if v != []}
    documented = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    if set(given) - set(documented):
        return 400
    if any(isinstance(v, list) and len(v) > 1 for v in given.values()):
        return 400  # a parameter given more than once
    query = {k: str(v[0] if isinstance(v, list) else v) for k, v in given.items() if v != []}
    if not TENANT.fullmatch(tenant) or tenant not in live_tenants:
        return 422
    headers = {k.lower(): str(v) for k, v in (case.headers or {}).items()}
    op_id = operation["operationId"]

    if op_id in ("integration_list", "integration_history"):
        if "type" in query and provider_for(query["type"]) is None:
            return 422
        for name, value in query.items():
            if not _fits_query(documented[name]["schema"], value):
                return 400
        if op_id == "integration_history" and not _possible_ident(ident):
            return 422
        return None
    stored = stored_type(tenant, ident) if _possible_ident(ident) else None
    if op_id in RECORD_READS:
        return None if stored else 422
    if op_id in ("integration_delete", "integration_version_restore"):
        return _preconditions(headers) if stored else 422
    if op_id in UPSERTS:
        return _upsert(case, document, ident, headers)
    if op_id == "integration_update":
        return _patch(case, document, ident, stored, headers) if stored else 422
    return None


def _placeholder_path(path: str) -> str:
    return path.replace("{tenant}", "acme").replace("{id}", "crm").replace("{number}", "3")


def _possible_ident(ident: str) -> bool:
    return len(ident) <= IDENT_MAX and IDENT.fullmatch(ident) is not None


def _fits_query(schema: dict, value: str) -> bool:
    if schema.get("type") == "integer":
        if not (value.isascii() and value.isdigit()):
            return False
        low, high = schema.get("minimum", 0), schema.get("maximum", float("inf"))
        return low <= int(value) <= high
    return "enum" not in schema or value in schema["enum"]


def _preconditions(headers: dict[str, str]) -> int | None:
    """400 for a malformed If-Match, or an If-None-Match other than `*` on a write."""
    if_match = headers.get("if-match")
    if if_match is not None and if_match.strip() != "*":
        parts = [part.strip() for part in if_match.split(",")]
        if not all(STRONG_TAG.fullmatch(part) for part in parts):
            return 400
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        return 400
    return None


def _body(case, headers: dict[str, str]) -> tuple[int | None, Any]:
    """(415 or 400, None) for a body the JSON parser refuses, else (None, the parsed body)."""
    body = case.body
    if isinstance(body, NotSet):
        return None, {}  # no body: DRF reads an empty object, whatever the Content-Type
    content_type = headers.get("content-type", case.media_type or "application/json")
    if content_type.split(";")[0].strip().lower() not in JSON_TYPES:
        return 415, None
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return 400, None
    return None, body


def _fits(document: dict, name: str, body: dict) -> bool:
    """Whether `body`, less the record's own keys (read-only, ignored), fits component `name`."""
    body = {key: value for key, value in body.items() if key not in RECORD_META_KEYS}
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft4Validator(schema).is_valid(body)


def _upsert(case, document: dict, ident: str, headers: dict[str, str]) -> int | None:
    refused, body = _body(case, headers)
    if refused:
        return refused
    if not isinstance(body, dict):
        return 400
    if body.get("id", ident) != ident:
        return 400
    type_key = body.get("type", ident if "type" not in body else None)
    if "type" not in body and provider_for(ident) is None:
        return 400 if not _possible_ident(ident) else 422
    if not isinstance(type_key, str) or not type_key:
        return 400
    provider = provider_for(type_key)
    if provider is None:
        return 422
    if not _fits(document, f"{provider.__name__}Request", {**body, "type": type_key}):
        return 400
    refused = _preconditions(headers)
    if refused:
        return refused
    named = provider_for(ident)
    if not _possible_ident(ident) or (named is not None and named is not provider):
        return 400
    return None


def _patch(case, document: dict, ident: str, stored: str, headers: dict[str, str]) -> int | None:
    refused, body = _body(case, headers)
    if refused:
        return refused
    if not isinstance(body, dict):
        return 400
    if body.get("id", ident) != ident or body.get("type", stored) != stored:
        return 400  # neither can change
    if not set(body) - set(ENVELOPE_KEYS) - set(RECORD_META_KEYS):
        return 400  # nothing to change
    provider = provider_for(stored)
    assert provider is not None
    if not _fits(document, f"{provider.__name__}Patch", body):
        return 400
    return _preconditions(headers)
