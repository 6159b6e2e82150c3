"""Staff pages that turn back time: restore a kept version of an integration (asks first), and
undo a delete right after it (a restore of the soft-deleted integration)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect

from integrations import services
from integrations.exceptions import RegistryError
from integrations.models import Integration, IntegrationVersion
from integrations.web.views import TenantScopedView


class VersionRestoreView(TenantScopedView):
    """GET asks for confirmation; POST makes version n's values the current ones."""

    permission_required = "integrations.change_integration"
    template_name = "integrations/version_confirm_restore.html"

    def get_version(self, integration: Integration) -> IntegrationVersion:
        version = integration.versions.filter(number=self.kwargs["number"]).first()
        if version is None:
            raise Http404("That version does not exist or is no longer kept.")
        return version

    def get_context_data(self, **kwargs):
        integration = self.get_integration()
        return super().get_context_data(
            integration=integration, version=self.get_version(integration), **kwargs
        )

    def post(self, request, *args, **kwargs):
        integration = self.get_integration()
        version = self.get_version(integration)
        try:
            restored = services.integration_rollback(
                integration=integration, number=version.number, actor=self.actor()
            )
        except RegistryError as error:  # deleted, or the version pruned, meanwhile
            raise Http404(str(error)) from None
        messages.success(
            request,
            f"Version {version.number} of '{restored.ident}' restored as version "
            f"{restored.version}.",
        )
        return redirect("integration-edit", tenant=self.tenant.name, ident=restored.ident)


class UndoDeleteView(TenantScopedView):
    """POST only: restore a soft-deleted integration of the tenant, named by its primary key
    (an id may have been deleted more than once)."""

    permission_required = "integrations.delete_integration"
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        integration = (
            Integration.all_objects.filter(
                tenant=self.tenant, pk=self.kwargs["pk"], deleted_at__isnull=False
            )
            .select_related("tenant")
            .first()
        )
        if integration is None:
            raise Http404("No such deleted integration.")
        try:
            services.integration_restore(integration=integration, actor=self.actor())
        except ValidationError as error:  # the id was created again since
            messages.error(request, " ".join(error.messages))
            return self.to_tenant_page()
        messages.success(request, f"'{integration.ident}' is back.")
        return redirect(f"{self.tenant_page_url()}#integration-{integration.ident}")
