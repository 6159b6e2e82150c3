"""An integration's past through the API: its audit history, its kept versions, and rollback.

  integrations/{id}/history                 GET   (read)   audit events, newest first
  integrations/{id}/versions                GET   (read)   kept versions: number, when, who, what
  integrations/{id}/versions/{n}/restore    POST  (write)  version n's values become current

Neither history nor versions ever carries a value of a secret: events say a secret "changed",
versions list the names of changed fields only.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from integrations import selectors, services
from integrations.api import openapi
from integrations.api.serializers import json_key
from integrations.api.views import TAGS, WRITE_ONLY_NOTE, WRITTEN, TenantAPIView
from tenants.models import SECRET_CHANGED, AuditEvent

HISTORY_PAGE = 50
HISTORY_PAGE_MAX = 200


def event_record(event: AuditEvent) -> dict:
    """One audit event as the API shows it (keys hyphenated like the records')."""
    changes = event.changes
    if "revealed" in changes:
        changes = {"revealed": [json_key(name) for name in changes["revealed"]]}
    else:
        changes = {json_key(name): change for name, change in changes.items()}
    return {
        "id": event.pk,
        "at": event.occurred_at.isoformat(),
        "action": event.action,
        "actor": event.actor,
        "channel": event.channel,
        "request-id": event.request_id,
        "client-address": event.client_address,
        "type": event.integration_type,
        "changes": changes,
    }


class IntegrationHistoryView(TenantAPIView):
    query_parameters = frozenset({"limit", "before"})

    @extend_schema(
        operation_id="integration_history",
        summary="The audit history of an integration id",
        description=(
            "Every create, replace, update, delete, restore, rollback and reveal of secrets of "
            "this id in the tenant, newest first, deleted incarnations included. A secret's "
            f'change is recorded as "{SECRET_CHANGED}", never with a value. Paginated: follow '
            "`next` (also in the `Link` header). Needs the `read` scope."
        ),
        tags=TAGS,
        parameters=[
            openapi.tenant_parameter(),
            openapi.ident_parameter(),
            OpenApiParameter(
                "limit",
                {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": HISTORY_PAGE_MAX,
                    "default": HISTORY_PAGE,
                },
                description=f"1 to {HISTORY_PAGE_MAX}, default {HISTORY_PAGE}; others are a 400.",
            ),
            OpenApiParameter(
                "before",
                {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1},
                description="From `next` of the previous page.",
            ),
        ],
        responses={
            200: OpenApiResponse(openapi.history_schema(), "The events."),
            **openapi.errors(openapi.READ_ERRORS),
        },
    )
    def get(self, request, tenant: str, id: str):
        tenant_obj = self.live_tenant(tenant)
        limit = self.int_param("limit", default=HISTORY_PAGE, low=1, high=HISTORY_PAGE_MAX)
        before = self.int_param("before", default=None, low=1, high=2**63 - 1)
        events = selectors.integration_history(
            tenant=tenant_obj, ident=id, before=before, limit=limit
        )
        following = events[-1].pk if len(events) == limit else None
        response = Response(
            {"events": [event_record(e) for e in events], "next": following},
        )
        if following is not None:
            link = replace_query_param(request.build_absolute_uri(), "before", following)
            response["Link"] = f'<{link}>; rel="next"'
        return response


class IntegrationVersionsView(TenantAPIView):
    @extend_schema(
        operation_id="integration_versions",
        summary="The kept versions of an integration",
        description=(
            "Newest first: number, when, who, and the names of the fields each version "
            "changed; never a value. Needs the `read` scope."
        ),
        tags=TAGS,
        parameters=[openapi.tenant_parameter(), openapi.ident_parameter()],
        responses={
            200: OpenApiResponse(openapi.versions_schema(), "The versions."),
            **openapi.errors(openapi.READ_ERRORS),
        },
    )
    def get(self, request, tenant: str, id: str):
        integration = selectors.integration_get_live(tenant=self.live_tenant(tenant), ident=id)
        return Response(
            {
                "current": integration.version,
                "versions": [
                    {
                        "version": version.number,
                        "created-at": version.created_at.isoformat(),
                        "actor": version.actor,
                        "changed": [json_key(name) for name in version.changed_fields],
                    }
                    for version in selectors.integration_versions(integration=integration)
                ],
            }
        )


class IntegrationVersionRestoreView(TenantAPIView):
    @extend_schema(
        operation_id="integration_version_restore",
        summary="Make a kept version's values the current ones",
        description=(
            "The values of version `number` become current, as a new version. Needs the "
            "`write` scope only: no secret passes through the caller, so a job that can write "
            "but not read secrets can undo its own bad write. An unknown version answers 422. "
            f"{WRITE_ONLY_NOTE}"
        ),
        tags=TAGS,
        request=None,
        parameters=[
            openapi.tenant_parameter(),
            openapi.ident_parameter(),
            OpenApiParameter(
                "number",
                int,
                OpenApiParameter.PATH,
                description="The version.",
                examples=[OpenApiExample("first", value=1)],
            ),
            *openapi.precondition_parameters(create_only=False),
        ],
        responses={
            200: OpenApiResponse(WRITTEN, "Restored (or already current)."),
            **openapi.errors((*openapi.READ_ERRORS, 412)),
        },
    )
    def post(self, request, tenant: str, id: str, number: str):
        integration = selectors.integration_get_live(tenant=self.live_tenant(tenant), ident=id)
        restored = services.integration_rollback(
            integration=integration,
            number=int(number),
            actor=self.actor(),
            precondition=self.precondition(),
            reveal=self.written_reveals(),
        )
        return Response(self.render_written(restored, audited=True), headers=self.tagged(restored))
