"""config.csp.CSPMiddleware answers exactly the headers django-csp's own middleware does, with
the settings' policy built once: compared response by response with django-csp's."""

import pytest
from csp import middleware as django_csp
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.decorators import csp_exempt, csp_update
from csp.exceptions import CSPNonceError
from django.http import HttpResponse, JsonResponse

from config import csp
from config.settings import CONTENT_SECURITY_POLICY

HEADERS = (HEADER, HEADER_REPORT_ONLY)


def _answer(middleware_class, request, view):
    return middleware_class(view)(request)


def _headers(response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in HEADERS}


def _both(rf, view, path="/1.0/tenants/acme/integrations"):
    """The headers each middleware gives `view`'s response, each on a request of its own."""
    ours = _answer(csp.CSPMiddleware, rf.get(path), view)
    theirs = _answer(django_csp.CSPMiddleware, rf.get(path), view)
    return _headers(ours), _headers(theirs)


def _json_view(request):
    return JsonResponse({"ok": True})


def _nonce_view(request):
    return HttpResponse(f"<script nonce='{request.csp_nonce}'></script>")


@csp_update({"img-src": ["https://example.com"]})
def _updated_view(request):
    return HttpResponse("page")


@csp_exempt()
def _exempt_view(request):
    return HttpResponse("page")


def test_an_api_answer_gets_the_settings_policy(rf):
    ours, theirs = _both(rf, _json_view)

    assert ours == theirs
    assert "default-src 'self'" in ours[HEADER]
    assert "nonce-" not in ours[HEADER]


def test_a_page_that_used_its_nonce_gets_that_nonce(rf):
    request = rf.get("/docs/")
    response = _answer(csp.CSPMiddleware, request, _nonce_view)

    nonce = request._csp_nonce
    assert nonce and f"'nonce-{nonce}'" in response[HEADER]
    assert f"nonce='{nonce}'" in response.content.decode()


def test_a_view_with_its_own_policy_and_an_exempt_view_are_served_as_django_csp_serves_them(rf):
    for view in (_updated_view, _exempt_view):
        ours, theirs = _both(rf, view)
        assert ours == theirs

    assert "https://example.com" in _both(rf, _updated_view)[0][HEADER]
    assert _both(rf, _exempt_view)[0][HEADER] is None


def test_a_header_the_view_set_itself_is_kept(rf):
    def own_header(request):
        response = HttpResponse("page")
        response[HEADER] = "default-src 'none'"
        return response

    ours, theirs = _both(rf, own_header)

    assert ours == theirs
    assert ours[HEADER] == "default-src 'none'"


def test_changed_settings_change_the_header_and_report_only_and_excluded_paths_work(rf, settings):
    settings.CONTENT_SECURITY_POLICY = {
        "EXCLUDE_URL_PREFIXES": ["/excluded/"],
        "DIRECTIVES": {"default-src": ["'none'"]},
    }
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'self'"]}}

    ours, theirs = _both(rf, _json_view)
    both = {HEADER: "default-src 'none'", HEADER_REPORT_ONLY: "default-src 'self'"}
    assert ours == theirs == both

    ours, theirs = _both(rf, _json_view, path="/excluded/page")
    assert ours == theirs == {HEADER: None, HEADER_REPORT_ONLY: "default-src 'self'"}


def test_the_settings_policy_comes_back_after_the_override(rf):
    ours, _ = _both(rf, _json_view)

    directives = {part.split()[0]: part for part in ours[HEADER].split("; ")}
    assert set(directives) == set(CONTENT_SECURITY_POLICY["DIRECTIVES"])
    assert directives["default-src"] == "default-src 'self'"


@pytest.mark.parametrize("status", [404, 500])
def test_debugs_technical_pages_get_no_policy_as_with_django_csp(rf, settings, status):
    settings.DEBUG = True

    ours, theirs = _both(rf, lambda request: HttpResponse("debug page", status=status))

    assert ours == theirs == {HEADER: None, HEADER_REPORT_ONLY: None}


def test_a_nonce_asked_for_after_the_header_was_written_is_an_error(rf):
    request = rf.get("/")
    _answer(csp.CSPMiddleware, request, _json_view)

    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)
