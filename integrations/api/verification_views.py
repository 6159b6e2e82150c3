"""Verifying an integration's credentials with its provider, through the API.

  integrations/{id}/verify    POST  (write)  check with the provider now; the outcome

The outcome is also part of every record from then on (`last-verified-at`,
`last-verification`, `last-verification-detail`); `GET integrations?status=` filters by it.
"""

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from integrations import selectors, verification_services
from integrations.api import openapi
from integrations.api.serializers import _rfc3339
from integrations.api.views import TAGS, TenantAPIView
from integrations.verification import VerificationResult, VerificationStatus


def verification_record(result: VerificationResult) -> dict[str, Any]:
    """A verification's outcome as the API shows it: status, detail, checked-at (RFC 3339)."""
    return {
        "status": str(result.status),
        "detail": result.detail,
        "checked-at": _rfc3339(result.checked_at),
    }


def verification_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "Verification",
        "properties": {
            "status": {
                "type": "string",
                "enum": list(VerificationStatus.values),
                "description": "`ok`: the provider accepted the credentials. `rejected`: it "
                "refused them (HTTP 401/403 or its own authentication failure), or a stored "
                "secret cannot be decrypted. `unreachable`: no usable answer (DNS, connection, "
                "timeout, 5xx, a redirect, an unexpected answer); says nothing about the "
                "credentials.",
            },
            "detail": {
                "type": "string",
                "description": "One sentence for people; never a secret nor the provider's answer.",
            },
            "checked-at": {"type": "string", "format": "date-time"},
        },
        "required": ["status", "detail", "checked-at"],
        "additionalProperties": False,
    }


EXAMPLES = [
    OpenApiExample(
        "ok",
        value={
            "status": "ok",
            "detail": "Twilio accepted the account SID and auth token.",
            "checked-at": "2026-11-30T09:15:02.125000Z",
        },
        response_only=True,
    ),
    OpenApiExample(
        "rejected",
        value={
            "status": "rejected",
            "detail": "Salesforce refused the username, password or security token "
            "(invalid_grant).",
            "checked-at": "2026-11-30T09:15:02.125000Z",
        },
        response_only=True,
    ),
    OpenApiExample(
        "unreachable",
        value={
            "status": "unreachable",
            "detail": "api.sendgrid.com did not answer within 10 s.",
            "checked-at": "2026-11-30T09:15:02.125000Z",
        },
        response_only=True,
    ),
]


class IntegrationVerifyView(TenantAPIView):
    @extend_schema(
        operation_id="integration_verify",
        summary="Check the credentials with the provider now",
        description=(
            "Makes the provider's cheapest authenticated call with the stored credentials "
            "(README: Verifying credentials) and answers its outcome, also stored on the "
            "record (`last-verified-at`, `last-verification`, `last-verification-detail`) and "
            "written to its history as a `verify` event. Not a change of the record: its "
            "`version`, `ETag` and `updated-at` stay. Takes up to the configured connect and "
            "read timeouts (5 s + 10 s by default). Needs the `write` scope. Should the "
            "record's values change during the call, the outcome (of the old values) is not "
            "stored and the answer is 409: verify again."
        ),
        tags=TAGS,
        request=None,
        parameters=[openapi.tenant_parameter(), openapi.ident_parameter()],
        responses={
            200: OpenApiResponse(verification_schema(), "The outcome.", examples=EXAMPLES),
            **openapi.errors((*openapi.READ_ERRORS, 409)),
        },
    )
    def post(self, request: Request, tenant: str, id: str) -> Response:
        integration = selectors.integration_get_live(tenant=self.live_tenant(tenant), ident=id)
        result = verification_services.integration_verify(
            integration=integration, actor=self.actor()
        )
        return Response(verification_record(result))
