"""The views of the layers between the bare Django floor and the app (bench/layers.py).

Each layer answers the API's routes by doing what the floors do (bench/floor_sql.py: one
statement on the bench-only table, no validation, no encryption, no serializer), inside more
of the app's stack. The layer is the environment's BENCH_LAYER:

- `stack`: a plain Django view, under the app's settings and its whole middleware;
- `stack_audited`: the same, its statement also INSERTing one audit row (a data-modifying
  CTE), as the app records each reveal and each change in the statement that reads or
  writes (integrations/reveal_reads.py, integrations/history.py);
- `api`: a DRF view of the app's own TenantAPIView: the token authentication with its rate
  limits (one round trip to Redis, tenants/throttling.py) and the tenant and scope permission;
- `api_audited`: `api` with the audit row;
- `auth_audited`: `stack_audited` behind the same authentication, rate limits and permission,
  called from a plain Django view: `api_audited` without DRF's view (its dispatch, content
  negotiation, exception handling), to tell what DRF itself costs.

The audit row is one row of the app's audit table, of about the size the app writes (the
app writes the same columns, and for a write a version row too), with the URL's tenant (its
foreign key checked at commit, as the app's), action `bench-layer`, in the statement that
reads or writes. It is no dearer than the app's statements, which also read the provider's
row and write the integration's last_used_at: a layer's figures are a ceiling for a view
built on it, not an estimate. Bench-only: served by bench/layers_wsgi.py, never routed in the
app. The layer is read when the URL patterns are first asked for: a server without
BENCH_LAYER answers 500 (and bench/layers.py stops) rather than serve another layer.
"""

import json
import os
import uuid

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException, NotAuthenticated
from rest_framework.request import Request

from bench import floor_sql
from integrations.api.permissions import TokenActsOnTenant
from integrations.api.views import TenantAPIView
from integrations.providers import TwilioIntegration
from integrations.sealed import MASK
from tenants.authentication import BearerTokenAuthentication
from tenants.models import AuditEvent, Tenant
from tenants.throttling import TokenRateThrottle

AUDIT_ACTION = "bench-layer"
# The provider whose record bench/ops.py's operations read and write (its id "twilio").
PROVIDER = TwilioIntegration
AUDIT_ROW = (
    f"WITH audit AS (INSERT INTO {AuditEvent._meta.db_table} (occurred_at, actor, channel, "  # noqa: S608
    "request_id, client_address, integration_pk, integration_ident, integration_type, "
    "api_token_prefix, action, changes, tenant_id) VALUES (now(), 'token ir_benchlay', 'api', "
    f"%s, '127.0.0.1', NULL, %s, '{PROVIDER.provider_key}', 'ir_benchlay', %s, %s::jsonb, "
    f"(SELECT id FROM {Tenant._meta.db_table} WHERE name = %s))) "
)
# About what the app records, from the provider's model: the secrets a read revealed; each
# field a write changed, before and after (secrets masked).
REVEALED = json.dumps({"revealed": list(PROVIDER.secret_field_names())})
CHANGED = json.dumps(
    {
        field.name: [MASK, MASK] if field.name in PROVIDER.secret_field_names() else ["a", "b"]
        for field in PROVIDER.credential_fields()
    }
)


class AuditedCursor:
    """Wraps a DB-API cursor (Django's, autocommit): each statement given to execute() is sent
    with one audit row INSERTed in front of it (a data-modifying CTE): one statement, one
    transaction, as the app's."""

    def __init__(self, cursor: CursorWrapper, tenant: str, ident: str):
        self._cursor = cursor
        self._tenant = tenant
        self._ident = ident

    def execute(self, sql: str, params: tuple) -> None:
        """Runs `sql` (one of bench/floor_sql.py's statements) with `params`, and the row."""
        changes = REVEALED if sql.lstrip().startswith("SELECT") else CHANGED
        audit = (uuid.uuid4().hex, self._ident, AUDIT_ACTION, changes, self._tenant)
        self._cursor.execute(AUDIT_ROW + sql, (*audit, *params))

    def fetchone(self) -> tuple | None:
        return self._cursor.fetchone()


def answer(request: HttpRequest, tenant: str, ident: str | None, *, audited: bool) -> HttpResponse:
    """The floors' answer to `request` (bench/floor_sql.py: status and JSON body), through
    Django's connection; with `audited`, the statement also writes the audit row."""
    with connection.cursor() as cursor:
        statements = AuditedCursor(cursor, tenant, ident or "") if audited else cursor
        status, content = floor_sql.handle(statements, request.method, request.path, request.body)
    return HttpResponse(content, status=status, content_type="application/json")


@csrf_exempt  # as the app's API views are (DRF's APIView): a token, not a session
def stack(request, tenant, id=None):  # keywords of the app's URL patterns
    return answer(request, tenant, id, audited=False)


@csrf_exempt
def stack_audited(request, tenant, id=None):
    return answer(request, tenant, id, audited=True)


@csrf_exempt
def auth_audited(request, tenant, id=None):
    """What DRF's APIView runs before a view (authentication, the token's rate, permission:
    DEFAULT_AUTHENTICATION_CLASSES, DEFAULT_THROTTLE_CLASSES and TenantAPIView's permission,
    config/settings.py), called directly; refusals as {"error": ...} with DRF's status."""
    wrapped = Request(request)
    try:
        authenticated = BearerTokenAuthentication().authenticate(wrapped)
        if authenticated is None:
            raise NotAuthenticated()
    except APIException as refused:
        return JsonResponse({"error": str(refused.detail)}, status=refused.status_code)
    wrapped.user, wrapped.auth = authenticated
    if not TokenRateThrottle().allow_request(wrapped, None):
        return JsonResponse({"error": "Request was throttled."}, status=429)
    if not TokenActsOnTenant().has_permission(wrapped, _ViewOf(tenant)):
        return JsonResponse({"error": "Not allowed."}, status=403)
    return answer(request, tenant, id, audited=True)


class _ViewOf:
    """What TokenActsOnTenant reads of a view: its URL keywords."""

    def __init__(self, tenant: str):
        self.kwargs = {"tenant": tenant}


class Api(TenantAPIView):
    """The app's API view base (authentication, rate limits, permission), doing the floor's
    statement."""

    audited = False

    def get(self, request, tenant, id=None):
        return answer(request, tenant, id, audited=self.audited)

    post = patch = get


class ApiAudited(Api):
    audited = True


VIEWS = {
    "stack": stack,
    "stack_audited": stack_audited,
    "api": Api.as_view(),
    "api_audited": ApiAudited.as_view(),
    "auth_audited": auth_audited,
}


def __getattr__(name: str) -> list:
    """`urlpatterns`, read by Django's resolver on the first request: the environment's
    BENCH_LAYER's view on the app's own pattern for these routes (integrations/api/urls.py;
    the permission reads the `tenant` keyword). KeyError without BENCH_LAYER."""
    if name != "urlpatterns":
        raise AttributeError(name)
    view = VIEWS[os.environ["BENCH_LAYER"]]
    return [re_path(r"^1\.0/tenants/(?P<tenant>[^/]+)/integrations(?:/(?P<id>[^/]+))?/?$", view)]
