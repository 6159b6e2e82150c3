"""integrations/api/negotiation.py answers exactly as DRF's DefaultContentNegotiation would."""

import pytest
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import (
    BrowsableAPIRenderer,
    JSONRenderer,
    StaticHTMLRenderer,
    TemplateHTMLRenderer,
)
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from integrations.api.negotiation import JsonFirstContentNegotiation

ACCEPT_HEADERS = [
    None,
    "",
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/json;indent=4",
    "Application/JSON",
    "application/*",
    "text/html",
    "text/html, */*;q=0.1",
    "application/json, text/html",
    "*/* ",
    " */*",
    "*/*;q=0.5",
    "application/json\n",
    "text/plain",
    "*/*, application/json",
    "image/png",
]
RENDERER_LISTS = [
    [JSONRenderer()],
    [JSONRenderer(), BrowsableAPIRenderer()],
    [TemplateHTMLRenderer(), JSONRenderer()],
    [StaticHTMLRenderer()],
    [],
]
QUERIES = ["", "?format=json", "?format=api", "?format=xml", "?other=1"]


def outcome(negotiation, renderers, accept, query, format_suffix=None):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/1.0/x" + query, **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, format_suffix)
    except Exception as error:  # its type is the outcome compared
        return type(error).__name__
    return renderers.index(renderer), media_type


@pytest.mark.parametrize("renderers", RENDERER_LISTS, ids=lambda r: "+".join(map(repr, r)))
@pytest.mark.parametrize("accept", ACCEPT_HEADERS, ids=repr)
@pytest.mark.parametrize("query", QUERIES)
def test_the_same_answer_as_drfs_negotiation(renderers, accept, query):
    ours = outcome(JsonFirstContentNegotiation(), renderers, accept, query)
    drfs = outcome(DefaultContentNegotiation(), renderers, accept, query)
    assert ours == drfs


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_a_format_suffix_is_drfs_to_apply(accept):
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]
    for suffix in ("api", "json", "xml"):
        ours = outcome(JsonFirstContentNegotiation(), renderers, accept, "", suffix)
        assert ours == outcome(DefaultContentNegotiation(), renderers, accept, "", suffix)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
    ],
)
def test_the_usual_headers_get_json_without_drfs_parsing(accept, expected, monkeypatch):
    def parsing(*args, **kwargs):
        raise AssertionError("DRF's negotiation ran")

    monkeypatch.setattr(DefaultContentNegotiation, "select_renderer", parsing)
    renderer = JSONRenderer()
    assert outcome(JsonFirstContentNegotiation(), [renderer], accept, "") == (0, expected)


@pytest.mark.parametrize("accept", ["text/html", "image/png, text/plain;q=0.5"])
def test_an_api_client_refusing_json_gets_406_in_the_error_shape(tenant_client, tenant, accept):
    response = tenant_client.get("/1.0/tenants/acme/integrations", HTTP_ACCEPT=accept)
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json; indent=2"])
def test_an_api_client_accepting_json_gets_it(tenant_client, tenant, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = tenant_client.get("/1.0/tenants/acme/integrations", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == []


def test_not_acceptable_is_drfs_exception():
    with pytest.raises(NotAcceptable):
        JsonFirstContentNegotiation().select_renderer(
            Request(APIRequestFactory().get("/1.0/x", HTTP_ACCEPT="text/html")), [JSONRenderer()]
        )
