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

The audit row is the app's table and columns with made-up values, action `bench-layer`, and
no tenant (the deferred foreign key's check measured no different): a statement no dearer
than the app's, which also reads the provider's row and writes the integration's
last_used_at. So a layer's figures are a ceiling for a view built on it, not an estimate.
Bench-only: served by bench/layers_wsgi.py, never routed in the app.
"""

import os
import uuid

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException, NotAuthenticated
from rest_framework.request import Request

from bench import floor_sql
from integrations.api.permissions import TokenActsOnTenant
from integrations.api.views import TenantAPIView
from tenants.authentication import BearerTokenAuthentication
from tenants.models import AuditEvent
from tenants.throttling import TokenRateThrottle

LAYERS = ("stack", "stack_audited", "api", "api_audited", "auth_audited")
AUDIT_ACTION = "bench-layer"
AUDIT_ROW = (
    f"WITH audit AS (INSERT INTO {AuditEvent._meta.db_table} (occurred_at, actor, channel, "  # noqa: S608
    "request_id, client_address, integration_pk, integration_ident, integration_type, "
    "api_token_prefix, action, changes, tenant_id) VALUES (now(), 'token ir_benchlay', 'api', "
    "%s, '127.0.0.1', NULL, %s, 'twilio', 'ir_benchlay', %s, %s::jsonb, NULL)) "
)
# What the app records: the fields revealed by a read; each changed field's before and after
# (secrets masked) by a write.
REVEALED = '{"revealed": ["password"]}'
CHANGED = '{"account": ["AC1", "AC2"], "password": ["********", "********"]}'


class AuditedCursor:
    """A DB-API cursor whose every statement also INSERTs one audit row, in the same
    statement (so in the same transaction, as the app's)."""

    def __init__(self, cursor, ident: str):
        self._cursor = cursor
        self._ident = ident

    def execute(self, sql: str, params: tuple) -> None:
        changes = REVEALED if sql.lstrip().startswith("SELECT") else CHANGED
        audit = (uuid.uuid4().hex, self._ident, AUDIT_ACTION, changes)
        self._cursor.execute(AUDIT_ROW + sql, (*audit, *params))

    def fetchone(self):
        return self._cursor.fetchone()


def answer(request: HttpRequest, *, audited: bool) -> HttpResponse:
    """The floors' answer to `request` (bench/floor_sql.py), through Django's connection."""
    with connection.cursor() as cursor:
        ident = request.path.rstrip("/").rsplit("/", 1)[-1]
        statements = AuditedCursor(cursor, ident) if audited else cursor
        status, content = floor_sql.handle(statements, request.method, request.path, request.body)
    return HttpResponse(content, status=status, content_type="application/json")


@csrf_exempt  # as the app's API views are (DRF's APIView): a token, not a session
def stack(request, tenant, id=None):  # keywords of the app's URL patterns
    return answer(request, audited=False)


@csrf_exempt
def stack_audited(request, tenant, id=None):
    return answer(request, audited=True)


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
    return answer(request, audited=True)


class _ViewOf:
    """What TokenActsOnTenant reads of a view: its URL keywords."""

    def __init__(self, tenant: str):
        self.kwargs = {"tenant": tenant}


class Api(TenantAPIView):
    """The app's API view base (authentication, rate limits, permission), doing the floor's
    statement."""

    audited = False

    def get(self, request, tenant, id=None):
        return answer(request, audited=self.audited)

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
# The app's own patterns for these routes (integrations/api/urls.py): the permission reads
# the `tenant` keyword.
urlpatterns = [
    re_path(
        r"^1\.0/tenants/(?P<tenant>[^/]+)/integrations(?:/(?P<id>[^/]+))?/?$",
        VIEWS[os.environ.get("BENCH_LAYER", "stack")],
    )
]
