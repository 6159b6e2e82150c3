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
from integrations.fields import SecretField
from integrations.providers import all_providers, provider_for
from tests.api.support import EXAMPLES
from tests.factories import PROVIDER_FACTORIES

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


def validator_for(document, name: str) -> jsonschema.Draft4Validator:
    """A validator of one component, resolving $refs within the document."""
    return jsonschema.Draft4Validator(
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
        api_views = ("integrations.api.views", "integrations.api.history_views")
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
    writes = [(p, m, op) for p, m, op in operations(document) if m in {"post", "patch"}]

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
        ("/1.0/tenants/{tenant}/integrations/{id}", "get"): {200},
        ("/1.0/tenants/{tenant}/integrations/{id}", "post"): {200, 201},
        ("/1.0/tenants/{tenant}/integrations/{id}", "patch"): {200},
        ("/1.0/tenants/{tenant}/integrations/{id}", "delete"): {204},
        ("/1.0/tenants/{tenant}/integrations/{id}/history", "get"): {200},
        ("/1.0/tenants/{tenant}/integrations/{id}/versions", "get"): {200},
        ("/1.0/tenants/{tenant}/integrations/{id}/versions/{number}/restore", "post"): {200},
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
        about_itself = {"unreadable-secrets", "created-at", "updated-at", "version"}
        extra = about_itself if name == openapi.record_name(provider) else set()
        assert set(schema["properties"]) == {"id", "type"} | keys | extra, name
        assert schema["properties"]["type"]["enum"] == [provider.provider_key]


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.provider_key)
def test_required_keys_follow_the_model(document, provider):
    required_fields = [
        json_key(f) for f in provider.credential_fields() if not f.blank and not f.has_default()
    ]
    all_fields = [json_key(f) for f in provider.credential_fields()]

    assert schemas(document)[openapi.request_name(provider)]["required"] == required_fields
    assert schemas(document)[openapi.record_name(provider)]["required"] == [
        "id",
        "type",
        *all_fields,
        "created-at",
        "updated-at",
        "version",
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
    assert all(p["required"] for p in parameters.values())


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
    validator = jsonschema.Draft4Validator({**schema, "components": document["components"]})

    patched = client.patch(
        path, {first_field: getattr(integration, first_field.replace("-", "_"))}, format="json"
    )

    assert patched.status_code == 200, patched.content
    validator.validate(patched.json())
    if "read" not in scopes:
        validator_for(document, openapi.WRITTEN).validate(patched.json())


def test_the_seed_bodies_fit_the_request_schemas(document):
    bodies = {f"{provider_for(key).__name__}Request": json.loads(body) for key, body in EXAMPLES}
    for name, body in bodies.items():
        validator_for(document, name).validate(body)
        assert not validator_for(document, name).is_valid({**body, "extra": "x"})


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
