"""The tenant's admin page with its integrations inline, one form per integration of its
provider's own type. It extends tenants' TenantAdmin (which knows nothing of integrations)."""

import logging

from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import ObjectDoesNotExist, SuspiciousOperation, ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.views.defaults import bad_request
from polymorphic.admin import PolymorphicInlineSupportMixin, StackedPolymorphicInline
from polymorphic.admin.helpers import PolymorphicInlineAdminFormSet
from polymorphic.formsets import BasePolymorphicInlineFormSet

from integrations import services
from integrations.admin.integration_admin import changed_values, has_integration_permission
from integrations.forms import IntegrationFormRules
from integrations.models import IDENT_TAKEN, Integration
from integrations.providers import all_providers
from tenants.admin import TenantAdmin
from tenants.admin_helpers import admin_actor
from tenants.models import Tenant

logger = logging.getLogger("integrations.admin")


class MalformedInlineData(SuspiciousOperation):
    """The integrations inline's POST is not what its page sends: a row without its id or its
    type, a non-numeric one, a type that is no provider's, more rows counted than sent."""


class IntegrationInlinePermissions:
    """The base model's permissions for the inline on a tenant's page and its per-provider rows
    (an inline's `obj` is the tenant, not an integration)."""

    def has_view_permission(self, request, obj=None):
        return has_integration_permission(request, "view") or has_integration_permission(
            request, "change"
        )

    def has_add_permission(self, request, obj=None):
        return has_integration_permission(request, "add")

    def has_change_permission(self, request, obj=None):
        return has_integration_permission(request, "change")

    def has_delete_permission(self, request, obj=None):
        return has_integration_permission(request, "delete")


def _form_guarded(form_class, *, can_add: bool, can_change: bool):
    """The form of an inline row that reports no change where the user may not make one.

    Django's inlines guard their forms this way (InlineModelAdmin.get_formset); the rows of a
    polymorphic inline are built from the child inlines' forms, which Django never wraps: without
    this, a user who may only view integrations added one by posting an extra row.
    """

    class GuardedForm(form_class):
        def has_changed(self):
            if not (can_add if self.instance._state.adding else can_change):
                return False
            return super().has_changed()

    GuardedForm.__name__ = GuardedForm.__qualname__ = f"Guarded{form_class.__name__}"
    return GuardedForm


class IntegrationChildInline(IntegrationInlinePermissions, StackedPolymorphicInline.Child):
    form = IntegrationFormRules
    exclude = ["deleted_at"]

    def get_formset_child(self, request, obj=None, **kwargs):
        kwargs.setdefault(
            "form",
            _form_guarded(
                self.form,
                can_add=self.has_add_permission(request, obj),
                can_change=self.has_change_permission(request, obj),
            ),
        )
        return super().get_formset_child(request, obj, **kwargs)


class IntegrationInlineFormSet(BasePolymorphicInlineFormSet):
    """Two rows of the page may not end with the same id: the database would refuse the second
    (an IntegrityError, a 500). Each form checks its id against the stored rows; this checks the
    rows against each other.

    A row whose data the page could not have sent (see MalformedInlineData) made
    django-polymorphic raise while building the forms (KeyError, ValueError, ValidationError,
    DoesNotExist, UnsupportedChildType): a 500. Any failure to build a row is that, refused."""

    def _construct_form(self, i, **kwargs):
        try:
            return super()._construct_form(i, **kwargs)
        except (LookupError, ValueError, TypeError, ValidationError, ObjectDoesNotExist) as error:
            # The type of the failure only: its message may quote the posted data.
            raise MalformedInlineData(
                f"Row {i} of the integrations inline is malformed ({type(error).__name__})."
            ) from None

    def clean(self):
        super().clean()
        claimed = set()
        for form in self.forms:
            # A private method of Django's formsets, absent from django-stubs.
            if self.can_delete and self._should_delete_form(form):  # type: ignore[attr-defined]
                continue
            if form.instance._state.adding and not form.has_changed():
                continue  # an extra row left empty
            ident = getattr(form, "cleaned_data", {}).get("ident", form.instance.ident)
            if not ident:
                continue
            if ident in claimed:
                form.add_error("ident", IDENT_TAKEN)
            claimed.add(ident)


class IntegrationInline(IntegrationInlinePermissions, StackedPolymorphicInline):
    """On a tenant's page: one form per integration, each of its provider's own type."""

    model = Integration
    extra = 0
    formset = IntegrationInlineFormSet

    class Media:
        css = {"all": ["css/admin.css"]}  # hides polymorphic's type menu without inline styles

    child_inlines = [
        type(f"{provider.__name__}Inline", (IntegrationChildInline,), {"model": provider})
        for provider in all_providers()
    ]

    def get_queryset(self, request):
        # With its tenant: each row's title names it (one query per row otherwise; the
        # provider rows are read with the same select_related by django-polymorphic).
        live = super().get_queryset(request).filter(deleted_at__isnull=True)
        return live.select_related("tenant")


class IntegrationInlineAdminFormSet(PolymorphicInlineAdminFormSet):
    """Existing rows are shown read-only to a user who may not change integrations, as Django
    shows its own inlines (django-polymorphic renders them as inputs that did nothing)."""

    def __iter__(self):
        for inline_admin_form in super().__iter__():
            if inline_admin_form.original is not None and not self.has_change_permission:
                inline_admin_form.readonly_fields = [
                    *inline_admin_form.readonly_fields,
                    # django-polymorphic types fieldsets with plain dicts, the stubs with a
                    # TypedDict of the same shape.
                    *flatten_fieldsets(inline_admin_form.fieldsets),  # type: ignore[arg-type]
                ]
            yield inline_admin_form


class IntegrationInlineSupport(PolymorphicInlineSupportMixin):
    """For the admin that hosts IntegrationInline (the tenant's page)."""

    def get_inline_formsets(self, request, formsets, inline_instances, obj=None):
        inline_admin_formsets = super().get_inline_formsets(
            request, formsets, inline_instances, obj
        )
        for inline_admin_formset in inline_admin_formsets:
            if isinstance(inline_admin_formset, PolymorphicInlineAdminFormSet):
                inline_admin_formset.__class__ = IntegrationInlineAdminFormSet
        return inline_admin_formsets


class TenantWithIntegrationsAdmin(IntegrationInlineSupport, TenantAdmin):
    inlines = [IntegrationInline]
    list_display = ["name", "display_name", "live_integrations", "created_at", "is_live"]

    def get_queryset(self, request):
        # A correlated subquery rather than Count() over a join: the list's page counts its
        # own rows only (LIMIT over the name index), and the paginator's COUNT drops the
        # unused annotation instead of grouping every tenant with every integration.
        live = (
            Integration.objects.non_polymorphic()
            .filter(tenant=OuterRef("pk"))
            .order_by()
            .values("tenant")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return super().get_queryset(request).annotate(live_count=Coalesce(Subquery(live), 0))

    @admin.display(description="integrations", ordering="live_count")
    def live_integrations(self, obj):
        return obj.live_count

    def view_on_site(self, obj):
        """The admin's "View on site": the tenant's staff page (live tenants only)."""
        return None if obj.is_deleted else reverse("tenant-detail", args=[obj.name])

    def get_search_results(self, request, queryset, search_term):
        """The tenant search box of an integration's admin form (autocomplete_fields) offers
        live tenants only: a deleted tenant takes no new integrations."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        autocomplete_of = (request.GET.get("app_label"), request.GET.get("field_name"))
        if autocomplete_of == (Integration._meta.app_label, "tenant"):
            # By name: the list's annotation (a GROUP BY) drops the model's default ordering.
            found = found.filter(deleted_at__isnull=True).order_by("name")
        return found, may_have_duplicates

    def changeform_view(self, request, *args, **kwargs):
        """A tampered inline POST is a 400, with nothing written (the view's transaction is
        rolled back) and a warning rather than an error report mailed to the admins."""
        try:
            return super().changeform_view(request, *args, **kwargs)
        except MalformedInlineData as error:
            logger.warning("Refused a tenant page POST by %s: %s", request.user, error)
            return bad_request(request, error)

    def save_formset(self, request, form, formset, change):
        """Inline integrations are written through the services, like every other change."""
        actor = admin_actor(request)
        formset.save(commit=False)
        for integration in formset.new_objects:
            services.integration_create(integration=integration, actor=actor)
        for integration, changed in formset.changed_objects:
            data = changed_values(integration, changed)
            services.integration_update(integration=integration, data=data, actor=actor)
        for integration in formset.deleted_objects:
            services.integration_delete(integration=integration, actor=actor)


admin.site.unregister(Tenant)
admin.site.register(Tenant, TenantWithIntegrationsAdmin)
