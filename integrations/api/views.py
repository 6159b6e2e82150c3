from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import selectors, services
from integrations.api.permissions import TokenActsOnTenant
from integrations.api.serializers import serializer_for
from integrations.models import Integration
from integrations.providers import provider_for
from tenants.models import Scope


class IntegrationView(APIView):
    """`/1.0/tenants/{tenant}/integrations/{id}` and the doc's short `/1.0/tenants/{tenant}/{id}`."""

    permission_classes = [TokenActsOnTenant]

    def post(self, request, tenant: str, ident: str):
        tenant_obj = selectors.tenant_get_live(name=tenant)
        body = request.data
        if not isinstance(body, dict):
            raise ValidationError("The request body must be a JSON object.")
        provider = self._provider_of(body, ident)
        serializer = serializer_for(provider)(data=body)
        serializer.is_valid(raise_exception=True)
        integration, created = services.integration_upsert(
            tenant=tenant_obj,
            ident=ident,
            provider=provider,
            data=serializer.validated_data,
            actor=str(request.user),
        )
        return Response(
            self._render(integration),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def _render(self, integration: Integration) -> dict:
        context = {"show_secrets": self.request.auth.has_scope(Scope.SECRETS)}
        return serializer_for(type(integration))(integration, context=context).data

    @staticmethod
    def _provider_of(body: dict, ident: str) -> type[Integration]:
        """`id` defaults to the path; `type` defaults to the id when the id names a provider."""
        body_ident = body.get("id", ident)
        if body_ident != ident:
            raise ValidationError({"id": [f"Must match the id in the URL ('{ident}')."]})
        if "type" not in body:
            provider = provider_for(ident)
            if provider is None:
                raise ValidationError(
                    {"type": ["Required when the id does not name a provider."]}
                )
            return provider
        type_key = body["type"]
        # null, numbers and "" are a malformed body (400), not an unknown provider (422).
        if not isinstance(type_key, str) or not type_key:
            raise ValidationError({"type": ["Must be a non-empty string."]})
        return selectors.provider_get(key=type_key)
