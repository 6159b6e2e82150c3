"""The OpenAPI document's schemas, derived from the provider models (via their serializers).

Nothing here names a provider or one of its keys: every request and response schema is built
from `all_providers()` and the serializer that the API itself validates with, so the document
cannot drift from the code (tests/api/test_openapi.py checks that it does not).

drf-spectacular generates the paths from the views (their `extend_schema` decorators refer to
the component names below); `postprocess` adds these components to the document.
"""

import re
from typing import Any

from django.core.validators import RegexValidator
from django.utils.text import capfirst
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.fields import empty

from integrations.api.serializers import MASK, UNREADABLE_KEY, json_key, serializer_for
from integrations.models import Integration
from integrations.providers import all_providers
from integrations.verification import NEVER, VerificationStatus
from tenants.management.commands.seed_demo import DEMO_TENANT
from tenants.models import SECRET_CHANGED, AuditAction, Channel, Tenant

ERROR = "Error"
WRITTEN = "IntegrationWritten"
SECURITY_SCHEME = "bearerAuth"
MASKED_NOTE = (
    f'Secret: returned only to tokens holding the `secrets` scope; masked as "{MASK}" otherwise.'
)

# The error statuses, in the words of the API contract (DESIGN.md, "Errors").
ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON, not an object, or a field is wrong (see `fields`); "
    "or a query parameter is unknown or repeated.",
    401: "No token, or the token is invalid, expired or revoked.",
    403: "The token may not act on this tenant, or lacks the scope this method needs.",
    404: "No API route matches the path.",
    405: "The route does not allow this method.",
    406: "The `Accept` header admits no JSON: every answer of this API is `application/json`.",
    409: "Concurrent writes of this id kept overtaking this one; nothing was written. "
    "Retry after the `Retry-After` seconds.",
    412: "A precondition failed: `If-Match` names a tag other than the record's current "
    "`ETag` (or the record is missing), or `If-None-Match: *` met a live record; nothing "
    "was written.",
    411: "The body came with Transfer-Encoding (chunked) and no Content-Length, and this "
    "server cannot read it that way; send it with its Content-Length.",
    413: "The body is larger than 1 MiB.",
    415: "The body is not JSON (send `Content-Type: application/json`).",
    422: "The tenant or the integration does not exist or has been deleted, "
    "or the type is unknown.",
    429: "Too many requests with this token (its rate limit), or too many failed "
    "authentications from this address; retry after the `Retry-After` seconds.",
    500: "An unexpected error; the body holds no detail.",
    503: "The database is unreachable or timed out; retry after the `Retry-After` seconds.",
}
# Swagger UI shows a schema's title in place of its name: the three must differ.
TITLE_SUFFIXES = {"response": "", "request": " (create or replace)", "patch": " (change)"}
READ_ERRORS = (400, 401, 403, 404, 406, 422, 429, 500, 503)
WRITE_ERRORS = (400, 401, 403, 404, 406, 411, 413, 415, 422, 429, 500, 503)

# The document's own metadata (OpenAPI 3.0.3 §4.7.2-4.7.5): where it is served, who answers
# for it, under which terms, and what its one tag groups.
SERVERS = [{"url": "/", "description": "This server: the one that serves this document."}]
CONTACT = {"name": "Integration registry maintainers"}
LICENSE = {"name": "Proprietary"}
TAG = "integrations"
TAGS = [
    {
        "name": TAG,
        "description": "A tenant's third-party credentials (one record per id, of one "
        "provider), their audit history and kept versions.",
    }
]


# --- names and references -------------------------------------------------------------------


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def record_name(provider: type[Integration]) -> str:
    return provider.__name__


def request_name(provider: type[Integration]) -> str:
    return f"{provider.__name__}Request"


def patch_name(provider: type[Integration]) -> str:
    return f"{provider.__name__}Patch"


def record_schema_ref() -> dict[str, Any]:
    """Any provider's record; `type` tells which."""
    return {
        "oneOf": [ref(record_name(p)) for p in all_providers()],
        "discriminator": {
            "propertyName": "type",
            "mapping": {p.provider_key: ref(record_name(p))["$ref"] for p in all_providers()},
        },
    }


def written_schema_ref() -> dict[str, Any]:
    """What a write answers: the record, or (to a token without `read`) its id and type."""
    return {"oneOf": [record_schema_ref(), ref(WRITTEN)]}


def request_schema_ref(*, partial: bool) -> dict[str, Any]:
    """The body of a write: one provider's fields, never a mix (each branch is closed).

    A full body (POST) names its provider in `type`, so it is a oneOf with `type` as the
    discriminator (OpenAPI 3.0.3 §4.7.25: the property is required in every branch). A PATCH
    changes a stored record whose provider is known, so `type` is optional there and
    providers of the same shape (account + password) both fit: an anyOf of closed branches."""
    if partial:
        return {"anyOf": [ref(patch_name(p)) for p in all_providers()]}
    return {
        "oneOf": [ref(request_name(p)) for p in all_providers()],
        "discriminator": {
            "propertyName": "type",
            "mapping": {p.provider_key: ref(request_name(p))["$ref"] for p in all_providers()},
        },
    }


# --- examples: the API document's bodies, kept beside each provider ------------------------


def example_body(provider: type[Integration]) -> dict[str, str]:
    """`provider`'s example body as the API document writes it: "id" and "type" are the
    provider's key, the credential values are its module's `api_example`."""
    example: dict[str, str] = provider.api_example  # type: ignore[attr-defined]
    return {"id": provider.provider_key, "type": provider.provider_key, **example}


def request_examples(*, partial: bool) -> list[OpenApiExample]:
    """One example per provider, named after it; a PATCH example rotates its first secret."""
    examples = []
    for provider in all_providers():
        body = example_body(provider)
        if partial:
            first_secret = json_key(provider.secret_field_names()[0])
            body = {first_secret: body[first_secret]}
            summary = f"{provider.label}: a new {first_secret}"
        else:
            summary = f"{provider.label}: the API document's example"
        examples.append(
            OpenApiExample(provider.provider_key, summary=summary, value=body, request_only=True)
        )
    return examples


# --- components -----------------------------------------------------------------------------


def component_schemas() -> dict[str, dict[str, Any]]:
    components: dict[str, dict[str, Any]] = {ERROR: error_schema(), WRITTEN: written_schema()}
    for provider in all_providers():
        components[record_name(provider)] = provider_schema(provider, direction="response")
        components[request_name(provider)] = provider_schema(provider, direction="request")
        components[patch_name(provider)] = provider_schema(provider, direction="patch")
    return components


def error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Every error under /1.0/ has this shape.",
        "properties": {
            "error": {"type": "string", "description": "A sentence saying what went wrong."},
            "fields": {
                "type": "object",
                "description": "For invalid bodies: the messages of each offending JSON key.",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
        "required": ["error"],
        "additionalProperties": False,
    }


def written_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "Integration written (token without `read`)",
        "description": "What POST and PATCH answer to a token without the `read` scope: the "
        "id and type of the integration written, none of its fields.",
        "properties": {
            "id": ident_schema(),
            "type": {
                "type": "string",
                "enum": [p.provider_key for p in all_providers()],
                "description": "The provider.",
            },
        },
        "required": ["id", "type"],
        "additionalProperties": False,
    }


def provider_schema(provider: type[Integration], *, direction: str) -> dict[str, Any]:
    """`direction` is "response" (the record), "request" (POST: a full body) or "patch"."""
    secrets = {json_key(name) for name in provider.secret_field_names()}
    fields = serializer_for(provider)().fields
    properties: dict[str, Any] = {
        "id": ident_schema(),
        "type": {
            "type": "string",
            "enum": [provider.provider_key],
            "description": f"The provider: always `{provider.provider_key}` for {provider.label}.",
        },
    }
    required = ["id", "type"] if direction == "response" else []
    labels = {json_key(f.name): capfirst(f.verbose_name) for f in provider.credential_fields()}
    for key, field in fields.items():
        properties[key] = field_schema(field, secret=key in secrets, direction=direction)
        properties[key]["title"] = labels[key]
        if direction == "request" and field.required:
            required.append(key)
        if direction == "response":
            required.append(key)
    if direction == "response":
        properties.update(record_meta_schemas())
        required.extend(record_meta_schemas())
    if direction == "response" and secrets:
        properties[UNREADABLE_KEY] = unreadable_schema(sorted(secrets))
    if direction != "response":
        properties["id"]["description"] = (
            "Optional; when given it must equal the id in the URL (400 otherwise)."
        )
    if direction == "request":
        required.insert(0, "type")
        properties["type"]["description"] = (
            f"`{provider.provider_key}`: names the provider of this body. It cannot change once "
            "stored. (The server also takes a body without it when the id in the URL names the "
            "provider, as the API document's Twilio example does.)"
        )
    if direction == "patch":
        properties["type"]["description"] = (
            "Optional: the stored record's provider; when given it must be that provider."
        )
    schema: dict[str, Any] = {
        "type": "object",
        "title": f"{provider.label} integration{TITLE_SUFFIXES[direction]}",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def record_meta_schemas() -> dict[str, dict[str, Any]]:
    """What a record says about itself; bodies may carry these back, they are ignored."""
    return {
        "created-at": {"type": "string", "format": "date-time", "readOnly": True},
        "updated-at": {
            "type": "string",
            "format": "date-time",
            "readOnly": True,
            "description": "When its values last changed (a write that changes nothing keeps it).",
        },
        "version": {
            "type": "integer",
            "minimum": 0,
            "readOnly": True,
            "description": "Counts changes of its values; the ETag is built from it.",
        },
        # Issue 11: the last check with the provider, and the last read of the secrets.
        "last-verified-at": {
            "type": "string",
            "format": "date-time",
            "nullable": True,
            "readOnly": True,
            "description": "When the credentials were last checked with the provider "
            "(`POST .../verify`, the staff pages, the admin or `verify_integrations`); null "
            "if never.",
        },
        "last-verification": {
            "type": "string",
            "enum": [*VerificationStatus.values, NEVER],
            "readOnly": True,
            "description": "That check's outcome: `ok`, `rejected`, `unreachable`, or `never`.",
        },
        "last-verification-detail": {
            "type": "string",
            "readOnly": True,
            "description": "That check's sentence; empty if never checked.",
        },
        "last-used-at": {
            "type": "string",
            "format": "date-time",
            "nullable": True,
            "readOnly": True,
            "description": "When an API token last read its secrets, to the minute; null if never.",
        },
    }


def unreadable_schema(secret_keys: list[str]) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "enum": secret_keys},
        "title": "Unreadable secrets",
        "description": (
            "Present only when a stored secret does not decrypt with any configured key "
            "(a key was dropped before rotating): names those secrets, whose values read "
            "`null`. Replace or PATCH them with new values to repair the record."
        ),
    }


def field_schema(field: serializers.Field, *, secret: bool, direction: str) -> dict[str, Any]:
    """One serializer field's schema: string credentials, and string choices (an enum)."""
    if isinstance(field, serializers.ChoiceField):
        schema: dict[str, Any] = {"type": "string", "enum": [str(c) for c in field.choices]}
        default: object = field.default  # DRF's stubs leave out `empty`, its "no default"
        if default is not empty:
            schema["default"] = str(default)
        if field.help_text:
            schema["description"] = markdown(str(field.help_text))
        return schema
    if not isinstance(field, serializers.CharField):
        # Only string credentials exist so far; a new field type needs its mapping here (and
        # in the serializers), and test_openapi fails until it has one.
        raise TypeError(f"No OpenAPI mapping for {type(field).__name__}")
    schema = {"type": "string"}
    if field.max_length is not None:
        schema["maxLength"] = field.max_length
    if direction != "response" and not field.allow_blank:
        schema["minLength"] = 1
    if isinstance(field, serializers.EmailField):
        schema["format"] = "email"
    description = markdown(str(field.help_text or ""))
    if secret:
        schema["format"] = "password"
        description = f"{description}\n\n{MASKED_NOTE}".strip()
        if direction == "response":
            schema["nullable"] = True  # null when unreadable: see unreadable-secrets
    if description:
        schema["description"] = description
    return schema


def ident_schema() -> dict[str, Any]:
    field = Integration._meta.get_field("ident")
    return {
        "type": "string",
        "maxLength": field.max_length,
        "pattern": _pattern_of(field),
        "description": str(field.help_text),
    }


def tenant_schema() -> dict[str, Any]:
    field = Tenant._meta.get_field("name")
    return {"type": "string", "maxLength": field.max_length, "pattern": _pattern_of(field)}


def _pattern_of(field) -> str:
    """The field's RegexValidator pattern, in the ECMA dialect OpenAPI uses."""
    # re.compile gives back the validator's compiled regex (the stubs also allow a str).
    regex = next(re.compile(v.regex) for v in field.validators if isinstance(v, RegexValidator))
    pattern = regex.pattern
    return pattern.replace(r"\Z", "$")


_LINK = re.compile(r'<a\s[^>]*href="([^"]+)"[^>]*>(.*?)</a>', re.IGNORECASE | re.DOTALL)


def markdown(help_text: str) -> str:
    """The models' HTML help text (links) as Markdown, which OpenAPI descriptions use."""
    text = _LINK.sub(lambda m: f"[{m.group(2)}]({m.group(1).replace('&amp;', '&')})", help_text)
    return re.sub(r"<[^>]+>", "", text)


# --- operation pieces used by the views' extend_schema ---------------------------------------


def tenant_parameter() -> OpenApiParameter:
    """The `{tenant}` path parameter; its example is the tenant that `make run` seeds."""
    return OpenApiParameter(
        "tenant",
        tenant_schema(),
        OpenApiParameter.PATH,
        description="The tenant's name.",
        examples=[OpenApiExample(DEMO_TENANT, value=DEMO_TENANT)],
    )


def ident_parameter() -> OpenApiParameter:
    """The `{id}` path parameter; one example per provider, named as the body examples are,
    so that in "Try it out" the id and the body picked under one name agree."""
    return OpenApiParameter(
        "id",
        ident_schema(),
        OpenApiParameter.PATH,
        description="The integration's id. The examples are the API document's ids; pick "
        "the same one here as for the body.",
        examples=[
            OpenApiExample(p.provider_key, summary=p.label, value=p.provider_key)
            for p in all_providers()
        ],
    )


def type_parameter() -> OpenApiParameter:
    return OpenApiParameter(
        "type",
        str,
        OpenApiParameter.QUERY,
        enum=[p.provider_key for p in all_providers()],
        description="Only integrations of this provider; an unknown type answers 422.",
    )


def errors(statuses: tuple[int, ...]) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ref(ERROR), ERROR_DESCRIPTIONS[code]) for code in statuses}


def precondition_parameters(*, create_only: bool) -> list[OpenApiParameter]:
    """`If-Match` (and, on an upsert, `If-None-Match: *`) of a conditional write, as RFC 9110
    §13.1.1-13.1.2 define them and integrations.preconditions checks them."""
    parameters = [
        OpenApiParameter(
            "If-Match",
            str,
            OpenApiParameter.HEADER,
            description='The `ETag` last read (e.g. `"12-3"`), or `*`: the write happens only '
            "if the record is still in that state; 412 otherwise. Weak tags are a 400.",
        )
    ]
    if create_only:
        parameters.append(
            OpenApiParameter(
                "If-None-Match",
                str,
                OpenApiParameter.HEADER,
                enum=["*"],
                description="`*`: create only; 412 if the id is live. Any other value is a 400.",
            )
        )
    return parameters


def none_match_parameter() -> OpenApiParameter:
    """`If-None-Match` of a read (RFC 9110 §13.1.2): 304 when it lists the current tag."""
    return OpenApiParameter(
        "If-None-Match",
        str,
        OpenApiParameter.HEADER,
        description="ETags already held (or `*`): when one is the current one, the answer is "
        "304 with no body.",
    )


# The response headers of the operations that send them (RFC 9110 §8.8.3 ETag, §10.2.2
# Location; RFC 8288 Link), keyed by operation id and status.
HEADERS = {
    "ETag": "The record's strong entity tag, for `If-Match` and `If-None-Match`.",
    "Location": "The URL of the record created.",
    "Link": 'The next page, as `<URL>; rel="next"`; absent on the last page.',
    "Next-Cursor": "The `after` of the next page, its characters beyond printable ASCII and "
    "`%` percent-encoded as UTF-8 (a header carries ASCII only); absent on the last page.",
}
RESPONSE_HEADERS = {
    ("integration_list", "200"): ("Link", "Next-Cursor"),
    ("integration_get", "200"): ("ETag",),
    ("integration_get", "304"): ("ETag",),
    ("integration_upsert", "200"): ("ETag",),
    ("integration_upsert", "201"): ("ETag", "Location"),
    ("integration_upsert_short", "200"): ("ETag",),
    ("integration_upsert_short", "201"): ("ETag", "Location"),
    ("integration_update", "200"): ("ETag",),
    ("integration_version_restore", "200"): ("ETag",),
}


def _add_response_headers(result: dict[str, Any]) -> None:
    result["components"]["headers"] = {
        name: {"description": text, "schema": {"type": "string"}} for name, text in HEADERS.items()
    }
    for path_item in result["paths"].values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for code, response in operation.get("responses", {}).items():
                names = RESPONSE_HEADERS.get((operation.get("operationId", ""), code), ())
                if names:
                    response["headers"] = {
                        name: {"$ref": f"#/components/headers/{name}"} for name in names
                    }


# --- the document as a whole ----------------------------------------------------------------


def postprocess(result, generator, request, public):
    """drf-spectacular hook: add the derived components and the document's metadata (servers,
    contact, license, tags); request bodies are required; paths are written without the
    trailing slash that the routes accept but do not need."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(component_schemas())
    result["servers"] = SERVERS
    result["info"]["contact"] = CONTACT
    result["info"]["license"] = LICENSE
    result["tags"] = TAGS
    _add_response_headers(result)
    result["paths"] = {path.rstrip("/"): item for path, item in result.get("paths", {}).items()}
    for path_item in result["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return result


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.BearerTokenAuthentication"
    name = SECURITY_SCHEME

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`createapitoken`), with the scopes read, write, secrets.",
        }


# --- history and versions -------------------------------------------------------------------


def history_schema() -> dict[str, Any]:
    change = {
        "oneOf": [
            {"type": "string", "enum": [SECRET_CHANGED], "description": "A secret changed."},
            {
                "type": "object",
                "properties": {
                    "old": {"type": "string", "nullable": True},
                    "new": {"type": "string", "nullable": True},
                },
                "description": "A non-secret value, before and after.",
            },
            {"type": "array", "items": {"type": "string"}, "description": "Revealed secrets."},
        ]
    }
    event = {
        "type": "object",
        "title": "Audit event",
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "action": {"type": "string", "enum": list(AuditAction.values)},
            "actor": {
                "type": "string",
                "description": "A user name, or token:<label> (<prefix>…).",
            },
            "channel": {"type": "string", "enum": list(Channel.values)},
            "request-id": {"type": "string"},
            "client-address": {"type": "string", "nullable": True},
            "type": {"type": "string", "description": "The integration's provider."},
            "changes": {"type": "object", "additionalProperties": change},
        },
    }
    return {
        "type": "object",
        "properties": {
            "events": {"type": "array", "items": event},
            "next": {
                "type": "integer",
                "nullable": True,
                "description": "Pass as `before` for the next page; null on the last page.",
            },
        },
        "required": ["events", "next"],
    }


def versions_schema() -> dict[str, Any]:
    version = {
        "type": "object",
        "title": "Version",
        "properties": {
            "version": {"type": "integer"},
            "created-at": {"type": "string", "format": "date-time"},
            "actor": {"type": "string"},
            "changed": {"type": "array", "items": {"type": "string"}},
        },
    }
    return {
        "type": "object",
        "properties": {
            "current": {"type": "integer", "description": "The current version's number."},
            "versions": {"type": "array", "items": version},
        },
        "required": ["current", "versions"],
    }
