"""Staff pages: a tenant's integrations, and the add / edit / delete forms.

Thin on purpose: the forms validate, the services write (the same ones the API calls).
"""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import TemplateView

from integrations import selectors, services
from integrations.exceptions import RegistryError
from integrations.forms import integration_form_for
from integrations.models import Integration
from integrations.providers import all_providers, provider_for, provider_for_ctype_id
from tenants.actors import Actor
from tenants.models import SECRET_CHANGED, Channel, Tenant
from tenants.selectors import tenant_get_live

# What the staff user saved last: [tenant name, integration id], until the tenant page shows it.
JUST_SAVED_SESSION_KEY = "integration_just_saved"


class TenantScopedView(PermissionRequiredMixin, TemplateView):
    """Loads the live tenant named in the URL; a missing or deleted tenant is a 404 page."""

    @cached_property
    def tenant(self) -> Tenant:
        # Looked up in the handlers, after the permission check: no probing while logged out.
        try:
            return tenant_get_live(name=self.kwargs["tenant"])
        except RegistryError as error:
            raise Http404(str(error)) from None

    def get_integration(self) -> Integration:
        """The live integration named by the URL's `ident`, of its provider's class."""
        try:
            return selectors.integration_get_live(tenant=self.tenant, ident=self.kwargs["ident"])
        except RegistryError as error:
            raise Http404(str(error)) from None

    def get_context_data(self, **kwargs):
        kwargs["tenant"] = self.tenant  # the object, not the URL's name for it
        return super().get_context_data(**kwargs)

    def actor(self) -> Actor:
        return Actor.for_request(self.request, Channel.WEB)

    def tenant_page_url(self) -> str:
        return reverse("tenant-detail", args=[self.tenant.name])

    def to_tenant_page(self):
        return redirect(self.tenant_page_url())

    def to_card(self, integration: Integration) -> HttpResponseRedirect:
        """The tenant page, scrolled to the integration's card (which it highlights briefly)."""
        return redirect(f"{self.tenant_page_url()}#integration-{integration.ident}")


class ProviderChoiceView(TenantScopedView):
    permission_required = "integrations.add_integration"
    template_name = "integrations/provider_choice.html"

    def get_context_data(self, **kwargs):
        """Each provider with the ids the tenant already holds of it (one query)."""
        held: dict[type[Integration] | None, list[str]] = {}
        rows = (
            Integration.objects.non_polymorphic()
            .filter(tenant=self.tenant)
            .order_by("ident")
            .values_list("polymorphic_ctype_id", "ident")
        )
        for ctype_id, ident in rows:
            held.setdefault(provider_for_ctype_id(ctype_id), []).append(ident)
        choices = [{"provider": p, "held": held.get(p, [])} for p in all_providers()]
        return super().get_context_data(choices=choices, **kwargs)


# If a form post ever fails with a 500, Django's error report (the DEBUG page, error mails)
# must not show what was typed: secret inputs are among the POST parameters.
@method_decorator(sensitive_post_parameters(), name="dispatch")
class IntegrationFormView(TenantScopedView):
    """Add (with a provider in the URL) or edit (with an id in the URL) one integration."""

    template_name = "integrations/integration_form.html"

    def get_permission_required(self):
        editing = "ident" in self.kwargs
        return ["integrations.change_integration" if editing else "integrations.add_integration"]

    def get_instance(self) -> Integration:
        if "ident" in self.kwargs:
            return self.get_integration()
        provider = provider_for(self.kwargs["provider"])
        if provider is None:
            raise Http404("No such provider.")
        return provider(tenant=self.tenant)

    def get_form(self, instance: Integration):
        form_class = integration_form_for(type(instance))
        data = self.request.POST if self.request.method == "POST" else None
        initial = self.initial_for(instance) if data is None else None
        return form_class(data=data, instance=instance, initial=initial)

    def initial_for(self, instance: Integration) -> dict:
        """A new integration's id is its provider's key, when the tenant has no such id yet."""
        key = instance.provider_key
        taken = Integration.objects.filter(tenant=self.tenant, ident=key)  # live ones only
        if instance.pk is not None or taken.exists():
            return {}
        return {"ident": key}

    def get(self, request, *args, **kwargs):
        return self.render_form(self.get_form(self.get_instance()))

    def post(self, request, *args, **kwargs):
        instance = self.get_instance()
        creating = instance.pk is None
        form = self.get_form(instance)
        if not form.is_valid():
            return self.render_form(form, status=400)
        try:
            if creating:
                # Add creates: an id taken since the form was checked is the form's error.
                integration = services.integration_create(
                    integration=form.save(commit=False), actor=self.actor()
                )
            else:
                integration = services.integration_update(
                    integration=instance, data=form.credential_data(), actor=self.actor()
                )
        except ValidationError as error:
            form.add_error(None, error)
            return self.render_form(form, status=409)
        except RegistryError as error:  # deleted by someone else since the form was shown
            raise Http404(str(error)) from None
        verb = "added" if creating else "saved"
        messages.success(request, f"{integration.label} integration '{integration.ident}' {verb}.")
        # Its card then offers to test the connection (TenantDetailView.testable_after_save).
        request.session[JUST_SAVED_SESSION_KEY] = [self.tenant.name, integration.ident]
        return self.to_card(integration)

    def render_form(self, form, status=200):
        instance = form.instance
        context = self.get_context_data(
            form=form, provider=type(instance), creating=instance.pk is None
        )
        if instance.pk is not None:
            context.update(past_of(instance))
        return self.render_to_response(context, status=status)


class IntegrationDeleteView(TenantScopedView):
    permission_required = "integrations.delete_integration"
    template_name = "integrations/integration_confirm_delete.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(integration=self.get_integration(), **kwargs)

    def post(self, request, *args, **kwargs):
        integration = self.get_integration()
        try:
            services.integration_delete(integration=integration, actor=self.actor())
        except RegistryError as error:  # deleted by someone else since it was read
            raise Http404(str(error)) from None
        messages.success(request, f"{integration.label} integration '{integration.ident}' deleted.")
        # The tenant page offers to undo it (a restore), for as long as the id stays free.
        return redirect(
            f"{reverse('tenant-detail', args=[self.tenant.name])}?undo={integration.pk}"
        )


def past_of(integration: Integration) -> dict:
    """The edit page's History and Versions sections: what happened, never a secret value."""
    events = selectors.integration_history(
        tenant=integration.tenant, ident=integration.ident, limit=HISTORY_SHOWN
    )
    return {
        "events": [history_line(event) for event in events],
        "versions": selectors.integration_versions(integration=integration),
    }


HISTORY_SHOWN = 20


def history_line(event) -> dict:
    """An audit event in words for the staff page: field labels, old → new for plain values,
    "changed" for secrets, the names of revealed secrets."""
    provider = provider_for(event.integration_type)
    labels = {f.name: str(f.verbose_name) for f in provider.credential_fields()} if provider else {}
    if "revealed" in event.changes:
        details = ["revealed " + ", ".join(labels.get(n, n) for n in event.changes["revealed"])]
    else:
        details = [
            f"{labels.get(name, name)}: {_described(change)}"
            for name, change in event.changes.items()
        ]
    return {"event": event, "details": details}


def _described(change) -> str:
    if change == SECRET_CHANGED or not isinstance(change, dict):
        return "changed"
    return f"{change.get('old') or '—'} → {change.get('new') or '—'}"


def integration_card(integration: Integration) -> dict:
    """What a card shows: non-secret values in clear, secrets only as 'stored' markers (or
    'unreadable' when no configured key decrypts them: someone must enter them again)."""
    secret_names = set(integration.secret_field_names())
    fields = []
    for field in type(integration).credential_fields():
        value = getattr(integration, field.name)
        secret = field.name in secret_names
        fields.append(
            {
                "label": field.verbose_name,
                "secret": secret,
                "value": None if secret else value,
                "stored": bool(value),
                "unreadable": secret and bool(value) and not value.is_readable(),
            }
        )
    return {"integration": integration, "fields": fields}
