"""/1.0/openapi.json and /1.0/docs: public, valid, and in agreement with the code.

The document is generated from the provider models; these tests hold it against the models,
the serializers and the URL routes, so a field, a route or a status that the code has and the
document lacks (or the other way round) fails here.
"""

import json
import re

import jsonschema
import pytest
from django.contrib.staticfiles import finders
from django.db import models
from django.urls import resolve
from django.utils.text import capfirst
from drf_spectacular.validation import validate_schema
from rest_framework import serializers

from integrations.api import openapi
from integrations.api import urls as api_urls
from integrations.api.serializers import RECORD_META_KEYS
from integrations.fields import SecretField
from integrations.providers import all_providers, provider_for
from tests.api.support import EXAMPLES
from tests.factories import PROVIDER_FACTORIES, TenantFactory

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/1.0/openapi.json"
PROVIDERS = all_providers()
METHODS = {"get", "post", "patch", "put", "delete"}


@pytest.fixture
def document(client):
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200, response.content
    return response.json()


def schemas(document) -> dict:
    return document["components"]["schemas"]


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def json_key(field: models.Field) -> str:
    return field.name.replace("_", "-")


def _type_or_nullable(validator, types, instance, schema):
    # OpenAPI 3.0's `nullable: true` (which JSON Schema draft 4 does not know): null fits.
    if instance is None and schema.get("nullable"):
        return
    yield from jsonschema.Draft4Validator.VALIDATORS["type"](validator, types, instance, schema)


OpenApi30Validator = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"type": _type_or_nullable}
)


def validator_for(document, name: str) -> jsonschema.Draft4Validator:
    """A validator of one component, resolving $refs within the document (and reading
    `nullable` as OpenAPI 3.0 does)."""
    return OpenApi30Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    )


# --- served publicly, and valid --------------------------------------------------------------


def test_the_document_is_json_and_needs_no_token(client):
    response = client.get(SCHEMA_URL)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert response.json()["openapi"].startswith("3.0")


def test_the_document_is_served_even_with_a_bad_token(client):
    response = client.get(SCHEMA_URL, HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 200


def test_the_document_is_valid_openapi_3(document):
    validate_schema(document)


def test_the_document_holds_no_data(document, tenant):
    PROVIDER_FACTORIES[0](tenant=tenant)

    text = json.dumps(document)

    assert "acme" not in text


# --- routes ----------------------------------------------------------------------------------


def test_every_documented_operation_is_a_route_of_the_api_with_that_method(document):
    for path, method, _ in operations(document):
        concrete = path.replace("{tenant}", "acme").replace("{id}", "crm").replace("{number}", "3")
        view_class = resolve(concrete).func.cls

        assert method.upper() in view_class().allowed_methods, (path, method)


def test_every_method_of_every_api_route_is_documented(document):
    documented = {(path, method) for path, method, _ in operations(document)}
    for pattern in api_urls.urlpatterns:
        view_class = getattr(pattern.callback, "cls", None)
        api_views = (
            "integrations.api.views",
            "integrations.api.history_views",
            "integrations.api.verification_views",
        )
        if view_class is None or view_class.__module__ not in api_views:
            continue
        path = "/1.0/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", str(pattern.pattern))
        path = path.replace("^", "").replace("/?$", "").replace('"', "")
        for method in view_class().allowed_methods:
            if method.lower() in METHODS:
                assert (path, method.lower()) in documented, (path, method)


def test_the_routes_are_the_list_the_record_its_past_and_the_short_form(document):
    assert {(p, m) for p, m, _ in operations(document)} == {
        ("/1.0/tenants/{tenant}/integrations", "get"),
        ("/1.0/tenants/{tenant}/integrations/{id}", "get"),
        ("/1.0/tenants/{tenant}/integrations/{id}", "post"),
        ("/1.0/tenants/{tenant}/integrations/{id}", "patch"),
        ("/1.0/tenants/{tenant}/integrations/{id}", "delete"),
        ("/1.0/tenants/{tenant}/integrations/{id}/history", "get"),
        ("/1.0/tenants/{tenant}/integrations/{id}/versions", "get"),
        ("/1.0/tenants/{tenant}/integrations/{id}/versions/{number}/restore", "post"),
        ("/1.0/tenants/{tenant}/integrations/{id}/verify", "post"),
        ("/1.0/tenants/{tenant}/{id}", "post"),
    }


def test_the_type_filter_lists_every_provider(document):
    operation = document["paths"]["/1.0/tenants/{tenant}/integrations"]["get"]
    (type_parameter,) = [p for p in operation["parameters"] if p["name"] == "type"]

    assert type_parameter["in"] == "query"
    assert type_parameter["schema"]["enum"] == [p.provider_key for p in PROVIDERS]


# --- security and errors ---------------------------------------------------------------------


def test_every_operation_needs_the_bearer_token(document):
    assert document["components"]["securitySchemes"][openapi.SECURITY_SCHEME] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`createapitoken`), with the scopes read, write, secrets.",
    }
    for path, method, operation in operations(document):
        assert operation["security"] == [{openapi.SECURITY_SCHEME: []}], (path, method)


def test_the_error_schema_is_the_one_error_shape(document):
    error = schemas(document)["Error"]

    assert error["required"] == ["error"]
    assert error["additionalProperties"] is False
    assert set(error["properties"]) == {"error", "fields"}
    validator = validator_for(document, "Error")
    validator.validate({"error": "Bad."})
    validator.validate({"error": "Bad.", "fields": {"password": ["Must be a string."]}})
    assert not validator.is_valid({"detail": "Bad."})
    assert not validator.is_valid({"error": "Bad.", "fields": {"password": "not a list"}})


def test_every_error_status_of_every_operation_has_the_error_schema(document):
    for path, method, operation in operations(document):
        statuses = {int(code) for code in operation["responses"]}
        assert {401, 403, 404, 422, 500} <= statuses, (path, method)
        if "requestBody" in operation:
            assert {400, 413, 415} <= statuses, (path, method)
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, code)
                assert response["description"], (path, method, code)


def test_every_write_operation_says_a_token_without_read_gets_only_the_id_and_type(document):
    # Verifying answers an outcome, not the record: it writes no value.
    writes = [
        (p, m, op)
        for p, m, op in operations(document)
        if m in {"post", "patch"} and op["operationId"] != "integration_verify"
    ]

    assert len(writes) == 4  # upsert, short upsert, patch, restore of a version
    for path, method, operation in writes:
        assert (
            "A token without the `read` scope gets only the id and type back"
            in (operation["description"])
        ), (path, method)
        for code in ("200", "201"):
            if code in operation["responses"]:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert {"$ref": "#/components/schemas/IntegrationWritten"} in schema["oneOf"]


def test_success_statuses_are_those_the_views_answer(document):
    expected = {
        ("/1.0/tenants/{tenant}/integrations", "get"): {200},
        ("/1.0/tenants/{tenant}/integrations/{id}", "get"): {200, 304},
        ("/1.0/tenants/{tenant}/integrations/{id}", "post"): {200, 201},
        ("/1.0/tenants/{tenant}/integrations/{id}", "patch"): {200},
        ("/1.0/tenants/{tenant}/integrations/{id}", "delete"): {204},
        ("/1.0/tenants/{tenant}/integrations/{id}/history", "get"): {200},
        ("/1.0/tenants/{tenant}/integrations/{id}/versions", "get"): {200},
        ("/1.0/tenants/{tenant}/integrations/{id}/versions/{number}/restore", "post"): {200},
        ("/1.0/tenants/{tenant}/integrations/{id}/verify", "post"): {200},
        ("/1.0/tenants/{tenant}/{id}", "post"): {200, 201},
    }
    for path, method, operation in operations(document):
        success = {int(code) for code in operation["responses"] if int(code) < 400}
        assert success == expected[(path, method)], (path, method)


# --- the provider schemas, field by field ----------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.provider_key)
def test_each_provider_has_a_record_a_request_and_a_patch_schema_of_its_fields(document, provider):
    keys = {json_key(field) for field in provider.credential_fields()}
    for name in (
        openapi.record_name(provider),
        openapi.request_name(provider),
        openapi.patch_name(provider),
    ):
        schema = schemas(document)[name]

        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        about_itself = {
            "unreadable-secrets",
            "created-at",
            "updated-at",
            "version",
            *RECORD_META_KEYS,
        }
        extra = about_itself if name == openapi.record_name(provider) else set()
        assert set(schema["properties"]) == {"id", "type"} | keys | extra, name
        assert schema["properties"]["type"]["enum"] == [provider.provider_key]


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.provider_key)
def test_required_keys_follow_the_model(document, provider):
    required_fields = [
        json_key(f) for f in provider.credential_fields() if not f.blank and not f.has_default()
    ]
    all_fields = [json_key(f) for f in provider.credential_fields()]

    assert schemas(document)[openapi.request_name(provider)]["required"] == [
        "type",
        *required_fields,
    ]
    assert schemas(document)[openapi.record_name(provider)]["required"] == [
        "id",
        "type",
        *all_fields,
        *RECORD_META_KEYS,
    ]
    assert "required" not in schemas(document)[openapi.patch_name(provider)]


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.provider_key)
def test_each_field_has_its_max_length_label_and_secrecy(document, provider):
    for field in provider.credential_fields():
        key = json_key(field)
        secret = isinstance(field, SecretField)
        for name in (openapi.request_name(provider), openapi.patch_name(provider)):
            schema = schemas(document)[name]["properties"][key]

            assert schema["type"] == "string"
            if field.choices:
                assert schema["enum"] == [value for value, _ in field.choices], (name, key)
                continue
            assert schema["maxLength"] == field.max_length, (name, key)
            assert schema["minLength"] == 1, (name, key)
            assert schema["title"] == capfirst(field.verbose_name)
            if secret:
                assert schema["format"] == "password", (name, key)
                assert "masked" in schema["description"]
            else:
                assert schema.get("format") != "password", (name, key)
            if isinstance(field, models.EmailField):
                assert schema["format"] == "email"
        record = schemas(document)[openapi.record_name(provider)]["properties"][key]
        assert (record.get("format") == "password") is secret
        if secret:
            assert '"********"' in record["description"]


def test_help_text_links_become_markdown_links(document):
    descriptions = json.dumps(schemas(document))

    assert "[Get Salesforce secret token](https://help.salesforce.com/" in descriptions
    assert "[Twilio Token](https://www.twilio.com/" in descriptions
    assert "<a " not in descriptions


def test_the_id_and_tenant_path_parameters_carry_the_models_patterns(document):
    operation = document["paths"]["/1.0/tenants/{tenant}/integrations/{id}"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}

    assert parameters["id"]["schema"]["pattern"] == r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"
    assert parameters["id"]["schema"]["maxLength"] == 64
    assert parameters["tenant"]["schema"]["pattern"] == "^[-a-zA-Z0-9_]+$"
    assert parameters["id"]["required"] and parameters["tenant"]["required"]


def test_a_field_type_without_a_mapping_is_refused_rather_than_guessed():
    with pytest.raises(TypeError, match="No OpenAPI mapping for IntegerField"):
        openapi.field_schema(serializers.IntegerField(), secret=False, direction="request")


# --- the API's real answers fit the document -------------------------------------------------


@pytest.mark.parametrize("factory", PROVIDER_FACTORIES)
@pytest.mark.parametrize("scopes", ["read,write,secrets", "read,write"])
def test_the_records_the_api_returns_fit_their_schema(
    document, token_client, tenant, factory, scopes
):
    integration = factory(tenant=tenant, ident="main")
    client = token_client(tenant, scopes)
    name = openapi.record_name(type(integration))

    validator_for(document, name).validate(client.get("/1.0/tenants/acme/integrations/main").json())
    for record in client.get("/1.0/tenants/acme/integrations").json():
        validator_for(document, name).validate(record)
    first_field = json_key(type(integration).credential_fields()[0])
    patched = client.patch(
        "/1.0/tenants/acme/integrations/main",
        {first_field: getattr(integration, first_field.replace("-", "_"))},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    validator_for(document, name).validate(patched.json())


@pytest.mark.parametrize("factory", PROVIDER_FACTORIES)
@pytest.mark.parametrize("scopes", ["write", "write,secrets", "read,write"])
def test_what_a_write_answers_fits_the_written_schema_of_the_operation(
    document, token_client, tenant, factory, scopes
):
    integration = factory(tenant=tenant, ident="main")
    client = token_client(tenant, scopes)
    path = "/1.0/tenants/acme/integrations/main"
    first_field = json_key(type(integration).credential_fields()[0])
    operation = document["paths"]["/1.0/tenants/{tenant}/integrations/{id}"]["patch"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    validator = OpenApi30Validator({**schema, "components": document["components"]})

    patched = client.patch(
        path, {first_field: getattr(integration, first_field.replace("-", "_"))}, format="json"
    )

    assert patched.status_code == 200, patched.content
    validator.validate(patched.json())
    if "read" not in scopes:
        validator_for(document, openapi.WRITTEN).validate(patched.json())


def test_the_seed_bodies_fit_the_request_schemas_once_their_type_is_given(document):
    # The API document's Twilio, SendGrid and DataSift bodies leave `type` out (the server
    # takes it from the id); the document asks for it, so that a body names one provider.
    for key, text in EXAMPLES:
        body = json.loads(text)
        validator = validator_for(document, f"{provider_for(key).__name__}Request")
        validator.validate({**body, "type": key})
        assert not validator.is_valid({**body, "type": key, "extra": "x"})


def test_the_errors_the_api_returns_fit_the_error_schema(document, tenant_client, tenant):
    validator = validator_for(document, "Error")
    answers = [
        tenant_client.get("/1.0/tenants/acme/integrations/missing"),
        tenant_client.get("/1.0/tenants/acme/integrations", {"type": "nope"}),
        tenant_client.post(
            "/1.0/tenants/acme/integrations/twilio", "{}", content_type="application/json"
        ),
        tenant_client.post("/1.0/tenants/acme/integrations"),
        tenant_client.get("/1.0/no/such/route"),
    ]
    assert [a.status_code for a in answers] == [422, 422, 400, 405, 404]
    for answer in answers:
        validator.validate(answer.json())


# --- the docs page ---------------------------------------------------------------------------


def test_the_docs_page_is_swagger_ui_from_local_static_files_and_needs_no_token(client):
    response = client.get("/1.0/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assert "SwaggerUIBundle" in html
    assert "/1.0/openapi.json" in html
    assert "cdn." not in html and "unpkg" not in html
    assets = re.findall(r'(?:src|href)="/static/([^"?]+)', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for asset in assets:
        assert finders.find(asset), f"{asset} is not a local static file"


def test_the_docs_page_loads_no_script_from_another_site(client):
    html = client.get("/1.0/docs").content.decode()

    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not url.startswith(("http:", "https:", "//")), url


# --- what the document says about itself ----------------------------------------------------


def test_the_document_names_its_server_contact_license_and_described_tags(document):
    assert document["servers"] == [
        {"url": "/", "description": "This server: the one that serves this document."}
    ]
    assert document["info"]["contact"]["name"]
    assert document["info"]["license"]["name"]
    tags = {tag["name"]: tag for tag in document["tags"]}
    for path, method, operation in operations(document):
        for tag in operation["tags"]:
            assert tags[tag]["description"], (path, method, tag)


# --- one provider per body, and the examples of the API document -----------------------------


UPSERTS = ("/1.0/tenants/{tenant}/integrations/{id}", "/1.0/tenants/{tenant}/{id}")


def body_schema(document, path: str, method: str) -> dict:
    operation = document["paths"][path][method]
    return operation["requestBody"]["content"]["application/json"]


def body_validator(document, path: str, method: str) -> jsonschema.Draft4Validator:
    schema = body_schema(document, path, method)["schema"]
    return jsonschema.Draft4Validator({**schema, "components": document["components"]})


@pytest.mark.parametrize("path", UPSERTS)
def test_a_full_body_is_one_provider_told_apart_by_its_type(document, path):
    schema = body_schema(document, path, "post")["schema"]

    assert schema["oneOf"] == [
        {"$ref": f"#/components/schemas/{openapi.request_name(p)}"} for p in PROVIDERS
    ]
    assert schema["discriminator"] == {
        "propertyName": "type",
        "mapping": {
            p.provider_key: f"#/components/schemas/{openapi.request_name(p)}" for p in PROVIDERS
        },
    }
    validator = body_validator(document, path, "post")
    twilio, sendgrid = (
        openapi.example_body(provider_for("twilio")),
        openapi.example_body(provider_for("sendgrid")),
    )
    assert validator.is_valid(twilio) and validator.is_valid(sendgrid)
    assert not validator.is_valid({**twilio, "type": "zendesk"})
    salesforce = openapi.example_body(provider_for("salesforce"))
    assert not validator.is_valid({**twilio, "consumer-key": salesforce["consumer-key"]})


def test_a_patch_body_is_the_fields_of_one_provider_with_no_type_needed(document):
    path = "/1.0/tenants/{tenant}/integrations/{id}"
    validator = body_validator(document, path, "patch")

    assert validator.is_valid({"password": "new"})
    assert validator.is_valid({"type": "twilio", "account": "AC1"})
    assert not validator.is_valid({"account": "AC1", "api-key": "k"})  # Twilio's and DataSift's
    description = document["paths"][path]["patch"]["description"]
    assert "No body, or a body with no field to change" in description
    assert "400" in document["paths"][path]["patch"]["responses"]


@pytest.mark.parametrize("path", UPSERTS)
def test_the_id_in_the_body_is_documented_as_the_urls(document, path):
    for provider in PROVIDERS:
        schema = schemas(document)[openapi.request_name(provider)]
        assert "must equal the id in the URL" in schema["properties"]["id"]["description"]
    assert (
        "differs from the URL's is a 400"
        in document["paths"]["/1.0/tenants/{tenant}/integrations/{id}"]["post"]["description"]
    )


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.provider_key)
def test_each_provider_keeps_the_api_documents_example_beside_it(provider):
    body = openapi.example_body(provider)

    assert body["id"] == body["type"] == provider.provider_key
    assert set(body) - {"id", "type"} <= {json_key(f) for f in provider.credential_fields()}


def test_the_examples_are_the_api_documents_bodies(document):
    for key, text in EXAMPLES:
        documented = json.loads(text)
        assert openapi.example_body(provider_for(key)) == {"type": key, **documented}


@pytest.mark.parametrize("path", UPSERTS)
@pytest.mark.parametrize("method", ["post", "patch"])
def test_every_body_example_fits_the_body_schema(document, path, method):
    if method not in document["paths"][path]:
        return
    examples = body_schema(document, path, method)["examples"]
    assert len(examples) == len(PROVIDERS)
    validator = body_validator(document, path, method)
    for name, example in examples.items():
        assert validator.is_valid(example["value"]), name


def test_the_path_parameters_carry_examples_the_server_accepts(document):
    for path, method, operation in operations(document):
        for parameter in operation["parameters"]:
            if parameter["in"] != "path":
                continue
            examples = parameter["examples"]
            assert examples, (path, method, parameter["name"])
            for example in examples.values():
                value = str(example["value"])
                assert jsonschema.Draft4Validator(parameter["schema"]).is_valid(example["value"]), (
                    path,
                    parameter["name"],
                    value,
                )


@pytest.mark.parametrize("path", UPSERTS)
def test_try_it_out_as_filled_in_creates_each_example(document, token_client, path):
    """What Swagger UI sends when an example is picked for the id and for the body alike:
    the seeded tenant, the example's id, its body. Every one is created (201)."""
    tenant = TenantFactory(name=_example(document, path, "tenant"))
    client = token_client(tenant, "read,write,secrets")
    ids = _parameter(document, path, "id")["examples"]
    bodies = body_schema(document, path, "post")["examples"]
    assert set(ids) == set(bodies)

    for name, body in bodies.items():
        concrete = path.replace("{tenant}", tenant.name).replace("{id}", ids[name]["value"])
        response = client.post(concrete, body["value"], format="json")

        assert response.status_code == 201, (name, response.content)
        assert response.json()["id"] == ids[name]["value"]


def _parameter(document, path: str, name: str) -> dict:
    operation = document["paths"][path]["post"]
    return next(p for p in operation["parameters"] if p["name"] == name)


def _example(document, path: str, name: str) -> str:
    (example,) = _parameter(document, path, name)["examples"].values()
    return example["value"]


# --- statuses and headers the server sends ---------------------------------------------------


def test_406_is_declared_everywhere_and_is_what_a_client_refusing_json_gets(
    document, tenant_client, tenant
):
    for path, method, operation in operations(document):
        assert "406" in operation["responses"], (path, method)

    response = tenant_client.get("/1.0/tenants/acme/integrations", HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    validator_for(document, "Error").validate(json.loads(response.content))


def test_conditional_writes_declare_if_match_and_412(document):
    conditional = {
        "integration_upsert",
        "integration_upsert_short",
        "integration_update",
        "integration_delete",
        "integration_version_restore",
    }
    found = set()
    for path, method, operation in operations(document):
        if operation["operationId"] in conditional:
            found.add(operation["operationId"])
            names = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
            assert "If-Match" in names, (path, method)
            assert "412" in operation["responses"], (path, method)
    assert found == conditional
    for path in UPSERTS:
        post = document["paths"][path]["post"]
        (none_match,) = [p for p in post["parameters"] if p["name"] == "If-None-Match"]
        assert none_match["schema"]["enum"] == ["*"]


def test_the_response_headers_are_declared(document):
    record = document["paths"]["/1.0/tenants/{tenant}/integrations/{id}"]
    listing = document["paths"]["/1.0/tenants/{tenant}/integrations"]["get"]

    assert set(record["get"]["responses"]["200"]["headers"]) == {"ETag"}
    assert set(record["post"]["responses"]["201"]["headers"]) == {"ETag", "Location"}
    assert set(record["patch"]["responses"]["200"]["headers"]) == {"ETag"}
    assert set(listing["responses"]["200"]["headers"]) == {"Link", "Next-Cursor"}
    assert set(document["components"]["headers"]) == {"ETag", "Location", "Link", "Next-Cursor"}
