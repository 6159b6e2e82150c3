"""The integration API: thin views that parse, call a selector or a service, and render.

Routes (integrations/api/urls.py), all under /1.0/tenants/{tenant}/:
  integrations            GET list
  integrations/{id}       GET, POST (upsert), PATCH (partial update), DELETE (soft)
  {id}                    POST only: the short form of the API document's headers
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast, overload
from urllib.parse import quote

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from config.request_headers import request_header
from integrations import reveal_reads, selectors, services
from integrations.api import openapi
from integrations.api.permissions import TokenActsOnTenant
from integrations.api.serializers import ENVELOPE_KEYS, RECORD_META_KEYS, serializer_for
from integrations.exceptions import UnknownProvider
from integrations.models import Integration
from integrations.preconditions import Precondition, etag_of
from integrations.providers import provider_for
from integrations.verification import STATUS_FILTERS
from tenants.actors import Actor
from tenants.exceptions import TenantNotFound
from tenants.models import ApiToken, Scope, Tenant
from tenants.selectors import tenant_get_live

TAGS = [openapi.TAG]
RECORD = openapi.record_schema_ref()
# What POST and PATCH answer: the record, or only its id and type to a token without `read`.
WRITTEN = openapi.written_schema_ref()
SECRETS_NOTE = (
    'Secret values are returned only to tokens holding the `secrets` scope; others see "********".'
)
WRITE_ONLY_NOTE = (
    "A token without the `read` scope gets only the id and type back, "
    '`{"id": ..., "type": ...}`, with the same status: writing does not grant reading.'
)


def upsert_schema(*, operation_id: str, summary: str, description: str, extra_errors=()):
    """The POST (create or replace) operation's document; both upsert routes share it."""
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description,
        tags=TAGS,
        parameters=[
            openapi.tenant_parameter(),
            openapi.ident_parameter(),
            *openapi.precondition_parameters(create_only=True),
        ],
        request={"application/json": openapi.request_schema_ref(partial=False)},
        examples=openapi.request_examples(partial=False),
        responses={
            200: OpenApiResponse(WRITTEN, "Replaced."),
            201: OpenApiResponse(WRITTEN, "Created."),
            **openapi.errors((*openapi.WRITE_ERRORS, 409, 412, *extra_errors)),
        },
    )


class TenantAPIView(APIView):
    """Base: a token that covers the tenant in the URL, with the scope the method needs."""

    permission_classes = [TokenActsOnTenant]
    # Like unknown body keys, unknown query parameters are a client mistake: say so (400)
    # rather than ignore them, so that a misspelt filter never silently returns everything.
    query_parameters: frozenset[str] = frozenset()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and scopes first
        given = request.query_params
        if set(given) - self.query_parameters:
            takes = ", ".join(sorted(self.query_parameters)) or "none"
            raise ValidationError(f"Unknown query parameter; this route takes: {takes}.")
        if any(len(given.getlist(name)) > 1 for name in given):
            raise ValidationError("A query parameter is given more than once.")

    def api_token(self) -> ApiToken:
        """The token that authenticated the request; a 401 without one."""
        # tenants.authentication sets an ApiToken; DRF's stubs type request.auth as its own
        # authtoken Token.
        api_token = cast(ApiToken | None, self.request.auth)
        if api_token is None:
            raise NotAuthenticated()
        return api_token

    def live_tenant(self, name: str) -> Tenant:
        """The URL's tenant. A tenant-scoped token loaded it already (and the permission
        check matched its name), so that costs no query; all-tenants tokens look it up.

        The token's reach is checked again here (no query): should a view's permission
        classes ever change, no view serves a tenant its token does not cover."""
        api_token = self.api_token()
        if not api_token.may_act_on(name):
            raise PermissionDenied(f"This token may not act on tenant '{name}'.")
        known = api_token.tenant
        if known is not None and known.name == name:
            if known.is_deleted:
                raise TenantNotFound(name)
            return known
        return tenant_get_live(name=name)

    def live_integration(self, tenant: str, ident: str, *, revealed: bool = False) -> Integration:
        """The URL's live integration, in the URL's live tenant (422 for either missing): with
        the token's own tenant, no tenant query; otherwise tenant and row in one query.
        `revealed`: for an answer with its secrets in clear, their reveal recorded in the same
        statement (reveal_reads); render it `audited`."""
        api_token = self.api_token()
        known = api_token.tenant
        if not api_token.may_act_on(tenant) or (known is not None and known.name == tenant):
            # live_tenant refuses the first (403) and costs no query for the second.
            where: Tenant | str = self.live_tenant(tenant)
        else:
            where = tenant
        if revealed:
            return reveal_reads.integration_get_revealed(
                tenant=where, ident=ident, actor=self.actor()
            )
        if isinstance(where, Tenant):
            return selectors.integration_get_live(tenant=where, ident=ident)
        return selectors.integration_get_live_by_name(tenant_name=where, ident=ident)

    @contextmanager
    def tenant_errors_first(self, tenant: str) -> Iterator[Tenant | str]:
        """For a request that reads its tenant with its rows (integration_upsert,
        integration_list): yields the URL's tenant as a Tenant when the token carries it (no
        query), else as its name.

        Every route answers a tenant that is not live with 422 before looking at the body or
        the query string (the API document's order). Read with the rows, the tenant is read
        after their checks; so when the block fails, whatever the error, the tenant is read
        and a 422 takes the place of the block's own error. Only failures pay that query."""
        api_token = self.api_token()
        known = api_token.tenant
        if not api_token.may_act_on(tenant) or (known is not None and known.name == tenant):
            # live_tenant refuses the first (403) and costs no query for the second.
            yield self.live_tenant(tenant)
            return
        try:
            yield tenant
        except TenantNotFound:
            raise
        except Exception:
            # Any error at all: reading the tenant first, as before, answered 422 for each
            # (a body too large, a parse error, a database error too).
            self.live_tenant(tenant)  # TenantNotFound, raised from the block's own error
            raise

    def actor(self) -> Actor:
        return Actor.for_api_token(self.request, self.api_token())

    def render_all(self, integrations: list[Integration], *, audited: bool = False) -> list[dict]:
        """The records as the token may see them. Secrets go out in clear only to a token with
        the `secrets` scope, and each such record is audited as a reveal (one statement), here
        or, `audited`, by the statement that read or wrote them (reveal_reads, services'
        `reveal`)."""
        show_secrets = self.shows_secrets()
        if show_secrets and not audited:
            # Audited before rendering: the records then show a read's last-used-at, and a
            # failure to audit answers no secret. A GET reads stored secrets; a write's answer
            # echoes what was written.
            services.integration_reveals_record(
                integrations=integrations,
                actor=self.actor(),
                read=self.request.method == "GET",
            )
        return [
            serializer_for(type(integration)).record(integration, show_secrets=show_secrets)
            for integration in integrations
        ]

    def shows_secrets(self) -> bool:
        """Whether this answer carries secrets in clear: the token has the `secrets` scope,
        and the answer has a body (a HEAD's has none: it neither decrypts one nor records a
        reveal that did not happen)."""
        return self.request.method != "HEAD" and self.api_token().has_scope(Scope.SECRETS)

    def render(self, integration: Integration, *, audited: bool = False) -> dict:
        return self.render_all([integration], audited=audited)[0]

    @overload
    def int_param(self, name: str, *, default: int, low: int, high: int) -> int: ...
    @overload
    def int_param(self, name: str, *, default: None, low: int, high: int) -> int | None: ...
    def int_param(self, name: str, *, default: int | None, low: int, high: int) -> int | None:
        """A whole-number query parameter within [low, high]; a 400 otherwise."""
        given = self.request.query_params.get(name)
        if given is None:
            return default
        # Digits beyond the bound's are out of range before int() (which refuses strings of
        # over 4,300 digits, a ValueError and a 500).
        if (
            not given.isascii()
            or not given.isdigit()
            or len(digits := given.lstrip("0") or "0") > len(str(high))
            or not low <= int(digits) <= high
        ):
            raise ValidationError(f"'{name}' must be a whole number from {low} to {high}.")
        return int(digits)

    def precondition(self) -> Precondition:
        """If-Match / If-None-Match of this request; a malformed header is a 400."""
        try:
            return Precondition.from_headers(
                self.header("HTTP_IF_MATCH"), self.header("HTTP_IF_NONE_MATCH")
            )
        except ValueError as error:
            raise ValidationError(str(error)) from None

    def header(self, meta_key: str) -> str | None:
        """A request header by its WSGI name (`HTTP_IF_MATCH`): config.request_headers."""
        return request_header(self.request, meta_key)

    @staticmethod
    def tagged(integration: Integration) -> dict[str, str]:
        return {"ETag": etag_of(integration)}

    def render_written(self, integration: Integration, *, audited: bool = False) -> dict:
        """A write's answer. A token that may not read gets the id and type only: writing
        must not be a way around the `read` scope (nor, with `secrets`, a way to read them).
        `audited`: the write recorded the answer's reveal itself (`written_reveals`)."""
        if not self.api_token().has_scope(Scope.READ):
            return {"id": integration.ident, "type": integration.provider_key}
        return self.render(integration, audited=audited)

    def written_reveals(self) -> bool:
        """Whether a write's answer (render_written) will carry secrets in clear: the write
        then records that reveal in its own transaction (services' `reveal`)."""
        api_token = self.api_token()
        return api_token.has_scope(Scope.READ) and api_token.has_scope(Scope.SECRETS)

    def body_object(self) -> dict:
        body = self.request.data
        if not isinstance(body, dict):
            raise ValidationError("The request body must be a JSON object.")
        return body


LIST_PAGE = 100
LIST_PAGE_MAX = 1000


class IntegrationListView(TenantAPIView):
    """The body stays a plain JSON array (clients that read the list as one keep working, and
    a tenant with up to LIST_PAGE integrations sees no change); the way to the next page is in
    headers: `Link: <…>; rel="next"` (RFC 8288) and `Next-Cursor`, absent on the last page."""

    query_parameters = frozenset({"type", "limit", "after", "status"})

    @extend_schema(
        operation_id="integration_list",
        summary="List the tenant's integrations",
        description=(
            f"Ordered by id, {LIST_PAGE} per page by default (`limit`, up to {LIST_PAGE_MAX}). "
            'When more follow, the answer has a `Link` header with `rel="next"` and the '
            "cursor in `Next-Cursor`: pass it as `after`. Pages are keyed by id, so writes "
            f"meanwhile never make a page skip or repeat a record. Needs the `read` scope. "
            f"{SECRETS_NOTE}"
        ),
        tags=TAGS,
        parameters=[
            openapi.tenant_parameter(),
            openapi.type_parameter(),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": LIST_PAGE_MAX, "default": LIST_PAGE},
                description=f"1 to {LIST_PAGE_MAX}, default {LIST_PAGE}; others are a 400.",
            ),
            OpenApiParameter("after", str, description="The `Next-Cursor` of the previous page."),
            OpenApiParameter(
                "status",
                str,
                enum=list(STATUS_FILTERS),
                description="Only integrations whose last verification ended so (`never`: not "
                "verified yet).",
            ),
        ],
        responses={
            200: OpenApiResponse({"type": "array", "items": RECORD}, "The integrations."),
            **openapi.errors(openapi.READ_ERRORS),
        },
    )
    def get(self, request, tenant: str):
        # An all-tenants token's tenant is read with the page (integration_list by name).
        with self.tenant_errors_first(tenant) as tenant_or_name:
            type_key = request.query_params.get("type")
            provider = None if type_key is None else selectors.provider_get(key=type_key)
            limit = self.int_param("limit", default=LIST_PAGE, low=1, high=LIST_PAGE_MAX)
            status_filter = request.query_params.get("status")
            if status_filter is not None and status_filter not in STATUS_FILTERS:
                raise ValidationError(f"'status' must be one of: {', '.join(STATUS_FILTERS)}.")
            after = request.query_params.get("after")
            revealed = self.shows_secrets() and request.method == "GET"
            if revealed:
                # The page's reveal recorded by the statement that reads it; one more row
                # tells whether a next page exists (and is not audited: it is not answered).
                page = reveal_reads.integration_list_revealed(
                    tenant=tenant_or_name,
                    provider=provider,
                    after=after,
                    limit=limit,
                    status=status_filter,
                    actor=self.actor(),
                )
            else:
                page = selectors.integration_list(
                    tenant=tenant_or_name,
                    provider=provider,
                    after=after,
                    limit=limit + 1,  # one more tells whether a next page exists
                    status=status_filter,
                )
        response = Response(self.render_all(page[:limit], audited=revealed))
        if len(page) > limit:
            cursor = page[limit - 1].ident
            following = replace_query_param(request.build_absolute_uri(), "after", cursor)
            response["Link"] = f'<{following}>; rel="next"'
            response["Next-Cursor"] = header_safe(cursor)
        return response


class IntegrationView(TenantAPIView):
    """`/1.0/tenants/{tenant}/integrations/{id}`."""

    @extend_schema(
        operation_id="integration_get",
        summary="Get one integration",
        description=f"Needs the `read` scope. {SECRETS_NOTE}",
        tags=TAGS,
        parameters=[
            openapi.tenant_parameter(),
            openapi.ident_parameter(),
            openapi.none_match_parameter(),
        ],
        responses={
            200: OpenApiResponse(RECORD, "The integration."),
            304: OpenApiResponse(None, "Not modified: `If-None-Match` lists the current ETag."),
            **openapi.errors(openapi.READ_ERRORS),
        },
    )
    def get(self, request, tenant: str, id: str):
        none_match = self.header("HTTP_IF_NONE_MATCH") or ""
        if not none_match and self.shows_secrets():
            # The usual read with secrets: its reveal recorded by the statement that reads it.
            integration = self.live_integration(tenant, id, revealed=True)
            return Response(
                self.render(integration, audited=True), headers=self.tagged(integration)
            )
        integration = self.live_integration(tenant, id)
        if _none_match(none_match, etag_of(integration)):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=self.tagged(integration))
        return Response(self.render(integration), headers=self.tagged(integration))

    @upsert_schema(
        operation_id="integration_upsert",
        summary="Create or replace an integration",
        description=(
            "The body holds every field of one provider, named by `type` (which defaults to "
            "the id when the id names a provider). `id` defaults to the URL's; a body `id` "
            "that differs from the URL's is a 400. Creating answers 201 with `Location`, "
            "replacing 200; both carry the record's `ETag`. `If-Match` makes the write "
            "conditional, `If-None-Match: *` create-only (412 when they fail). Needs the "
            f"`write` scope. {SECRETS_NOTE} {WRITE_ONLY_NOTE}"
        ),
    )
    def post(self, request, tenant: str, id: str):
        with self.tenant_errors_first(tenant) as tenant_ref:
            body = self.body_object()
            provider = self._provider_of(body, id)
            serializer = serializer_for(provider)(data=body)
            serializer.is_valid(raise_exception=True)
            integration, created = services.integration_upsert(
                tenant=tenant_ref,
                ident=id,
                provider=provider,
                data=serializer.validated_data,
                actor=self.actor(),
                precondition=self.precondition(),
                reveal=self.written_reveals(),
            )
        headers = self.tagged(integration)
        if created:
            # The URL's name: the tenant's, which it matched exactly (a create in one
            # statement has not read the tenant's row, only held it).
            location = reverse("api-integration", kwargs={"tenant": tenant, "id": id})
            headers["Location"] = request.build_absolute_uri(location)
        return Response(
            self.render_written(integration, audited=True),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers=headers,
        )

    @extend_schema(
        operation_id="integration_update",
        summary="Change some fields of an integration",
        description=(
            "Only the keys given change (rotate one secret without resending the rest). No "
            "body, or a body with no field to change (`{}`, or only `id` and `type`), is a "
            "400 and writes nothing. A body `id` or `type` other than the record's is a 400: "
            "neither can change. `If-Match` makes it conditional (412 when stale). Needs the "
            "`write` scope. "
            f"{SECRETS_NOTE} {WRITE_ONLY_NOTE}"
        ),
        tags=TAGS,
        parameters=[
            openapi.tenant_parameter(),
            openapi.ident_parameter(),
            *openapi.precondition_parameters(create_only=False),
        ],
        request={"application/json": openapi.request_schema_ref(partial=True)},
        examples=openapi.request_examples(partial=True),
        responses={
            200: OpenApiResponse(WRITTEN, "Changed."),
            **openapi.errors((*openapi.WRITE_ERRORS, 412)),
        },
    )
    def patch(self, request, tenant: str, id: str):
        integration = self.live_integration(tenant, id)
        body = self.body_object()
        self._check_unchanged_identity(body, integration)
        if not set(body) - set(ENVELOPE_KEYS) - set(RECORD_META_KEYS):
            raise ValidationError(
                "Nothing to change: the body holds no field of the integration besides id and "
                "type; send at least one field to change."
            )
        serializer = serializer_for(type(integration))(integration, data=body, partial=True)
        serializer.is_valid(raise_exception=True)
        integration = services.integration_update(
            integration=integration,
            data=serializer.validated_data,
            actor=self.actor(),
            precondition=self.precondition(),
            reveal=self.written_reveals(),
            as_read=True,
        )
        return Response(
            self.render_written(integration, audited=True), headers=self.tagged(integration)
        )

    @extend_schema(
        operation_id="integration_delete",
        summary="Delete an integration",
        description=(
            "A soft delete: the record is kept as history, reads answer 422, and a later POST "
            "creates the id anew. Needs the `write` scope."
        ),
        tags=TAGS,
        parameters=[
            openapi.tenant_parameter(),
            openapi.ident_parameter(),
            *openapi.precondition_parameters(create_only=False),
        ],
        request=None,
        responses={
            204: OpenApiResponse(None, "Deleted."),
            **openapi.errors((*openapi.READ_ERRORS, 412)),
        },
    )
    def delete(self, request, tenant: str, id: str):
        integration = self.live_integration(tenant, id)
        services.integration_delete(
            integration=integration, actor=self.actor(), precondition=self.precondition()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _provider_of(body: dict, ident: str) -> type[Integration]:
        """`id` defaults to the path; `type` defaults to the id when the id names a provider."""
        body_ident = body.get("id", ident)
        if body_ident != ident:
            raise ValidationError({"id": [f"Must match the id in the URL ('{ident}')."]})
        if "type" not in body:
            provider = provider_for(ident)
            if provider is None:
                # An id that is no valid id is the body's fault (400); a valid one that names
                # no provider is an unknown type, as "type": "zendesk" would be (422).
                services.integration_check_ident(ident=ident, provider=Integration)
                raise UnknownProvider(ident, given_as="id")
            return provider
        type_key = body["type"]
        # null, numbers and "" are a malformed body (400), not an unknown provider (422).
        if not isinstance(type_key, str) or not type_key:
            raise ValidationError({"type": ["Must be a non-empty string."]})
        return selectors.provider_get(key=type_key)

    @staticmethod
    def _check_unchanged_identity(body: dict, integration: Integration) -> None:
        """A PATCH may repeat `id` and `type`, but not change them."""
        if "id" in body and body["id"] != integration.ident:
            raise ValidationError(
                {"id": [f"The id cannot change; it must be '{integration.ident}'."]}
            )
        if "type" in body and body["type"] != integration.provider_key:
            raise ValidationError(
                {
                    "type": [
                        f"The type cannot change: '{integration.ident}' is a "
                        f"{integration.provider_key} integration."
                    ]
                }
            )


class ShortIntegrationView(IntegrationView):
    """`/1.0/tenants/{tenant}/{id}`: the API document's headers; POST only, same contract."""

    http_method_names = ["post", "options"]

    @upsert_schema(
        operation_id="integration_upsert_short",
        summary="Create or replace an integration (short form)",
        description=(
            "The short route of the API document's headers: the same as "
            "`POST /1.0/tenants/{tenant}/integrations/{id}`. The id `integrations` is the list "
            f"route, which answers 405 to POST. {WRITE_ONLY_NOTE}"
        ),
        extra_errors=(405,),
    )
    def post(self, request, tenant: str, id: str):
        return super().post(request, tenant, id)


# What a header value carries as it is: printable ASCII but '%', which marks an escape.
_HEADER_SAFE = "".join(chr(code) for code in range(0x20, 0x7F) if chr(code) != "%")


def header_safe(value: str) -> str:
    """`value` as a header can carry it (RFC 9110 field values are ASCII): characters beyond
    printable ASCII, and '%', percent-encoded as UTF-8 (RFC 3986), the others as they are, so
    that urllib.parse.unquote gives `value` back (Django would MIME-encode the header instead,
    which no client decodes back to an id)."""
    return quote(value, safe=_HEADER_SAFE)


def _none_match(header: str, current: str) -> bool:
    """Whether If-None-Match on a read lists the current tag: "*" or the tag, compared
    weakly as RFC 9110 §13.1.2 says (W/"1-2" matches "1-2")."""
    listed = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in listed or current in listed
