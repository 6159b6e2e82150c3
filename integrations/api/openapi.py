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
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from integrations.api.serializers import MASK, UNREADABLE_KEY, json_key, serializer_for
from integrations.models import Integration
from integrations.providers import all_providers
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
    409: "Concurrent writes of this id kept overtaking this one; nothing was written. "
    "Retry after the `Retry-After` seconds.",
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
READ_ERRORS = (400, 401, 403, 404, 422, 429, 500, 503)
WRITE_ERRORS = (400, 401, 403, 404, 411, 413, 415, 422, 429, 500, 503)


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
    # anyOf, not oneOf: providers may share a shape (account + password), and `type` may be
    # left out when the id names the provider, so a body can fit several at once.
    name = patch_name if partial else request_name
    return {"anyOf": [ref(name(p)) for p in all_providers()]}


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
        properties["id"]["description"] = "Optional; when given it must equal the id in the URL."
        properties["type"]["description"] = (
            "Optional when the id names the provider; it cannot change once stored."
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
    if not isinstance(field, serializers.CharField):
        # Only string credentials exist so far; a new field type needs its mapping here (and
        # in the serializers), and test_openapi fails until it has one.
        raise TypeError(f"No OpenAPI mapping for {type(field).__name__}")
    schema: dict[str, Any] = {"type": "string"}
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
    pattern = next(v.regex.pattern for v in field.validators if isinstance(v, RegexValidator))
    return pattern.replace(r"\Z", "$")


_LINK = re.compile(r'<a\s[^>]*href="([^"]+)"[^>]*>(.*?)</a>', re.IGNORECASE | re.DOTALL)


def markdown(help_text: str) -> str:
    """The models' HTML help text (links) as Markdown, which OpenAPI descriptions use."""
    text = _LINK.sub(lambda m: f"[{m.group(2)}]({m.group(1).replace('&amp;', '&')})", help_text)
    return re.sub(r"<[^>]+>", "", text)


# --- operation pieces used by the views' extend_schema ---------------------------------------


def tenant_parameter() -> OpenApiParameter:
    return OpenApiParameter(
        "tenant", tenant_schema(), OpenApiParameter.PATH, description="The tenant's name."
    )


def ident_parameter() -> OpenApiParameter:
    return OpenApiParameter(
        "id", ident_schema(), OpenApiParameter.PATH, description="The integration's id."
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


# --- the document as a whole ----------------------------------------------------------------


def postprocess(result, generator, request, public):
    """drf-spectacular hook: add the derived components; request bodies are required; paths
    are written without the trailing slash that the routes accept but do not need."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(component_schemas())
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
                "properties": {"old": {"nullable": True}, "new": {"nullable": True}},
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
