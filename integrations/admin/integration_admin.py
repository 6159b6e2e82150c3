"""Admin over every integration: one polymorphic list, one child admin per provider.

Derived from the provider registry, like everything else; writes go through the services.

Permissions: one rule at every door. An integration of any provider is governed by the base
model's permissions, `integrations.{view,add,change,delete}_integration` (the staff pages check
the same ones): the per-provider child admins and the inline rows on a tenant's page check
those, never the per-provider model permissions. Soft delete and restore are deletes. A
soft-deleted integration is read-only everywhere; restore is the way back.
"""

import re

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.timezone import localtime
from polymorphic.admin import (
    PolymorphicChildModelAdmin,
    PolymorphicParentModelAdmin,
)

from config.lookups import InSubquery
from integrations import services
from integrations.admin.verification_admin import (
    VerificationListFilter,
    verification_badge,
    verify_selected,
)
from integrations.exceptions import IntegrationNotFound
from integrations.forms import IntegrationFormRules
from integrations.models import Integration
from integrations.providers import all_providers, ctype_of, provider_for, provider_of
from integrations.search import integration_ids_matching, integration_search_paths
from tenants.admin_helpers import (
    BoundedSearch,
    DeletedListFilter,
    HideSecretsFromErrorReports,
    QuickActionCheckbox,
    admin_actor,
)
from tenants.models import Tenant


def has_integration_permission(request: HttpRequest, action: str) -> bool:
    """Whether the user may `action` ("view", "add", "change", "delete") integrations."""
    opts = Integration._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")


def _is_deleted(obj) -> bool:
    return isinstance(obj, Integration) and obj.is_deleted


class IntegrationPermissions:
    """The base model's permissions, for admins over a provider model (or the base model).

    A soft-deleted integration cannot be changed or deleted again: its page is read-only.
    """

    def has_view_permission(self, request, obj=None):
        return has_integration_permission(request, "view") or has_integration_permission(
            request, "change"
        )

    def has_add_permission(self, request, obj=None):
        return has_integration_permission(request, "add")

    def has_change_permission(self, request, obj=None):
        return has_integration_permission(request, "change") and not _is_deleted(obj)

    def has_delete_permission(self, request, obj=None):
        return has_integration_permission(request, "delete") and not _is_deleted(obj)


def provider_badge(provider: type[Integration]) -> str:
    """The provider's label in its badge, as on the staff pages (static/css/badges.css)."""
    return format_html(
        '<span class="badge badge-{}">{}</span>', provider.provider_key, provider.label
    )


def changed_values(integration: Integration, changed: list[str]) -> dict:
    """What an admin form changed, as `data` for the update service (kept secrets are not
    in `changed`: see IntegrationFormRules.changed_data)."""
    return {name: getattr(integration, name) for name in changed}


class IntegrationChildAdmin(
    IntegrationPermissions, HideSecretsFromErrorReports, PolymorphicChildModelAdmin
):
    base_model = Integration
    base_form = IntegrationFormRules
    show_in_index = False
    readonly_fields = ["updated_at", "updated_by", "version", "deleted_at"]
    # A search box (TenantAdmin.search_fields), not a select of every tenant.
    autocomplete_fields = ["tenant"]

    def get_queryset(self, request):
        return self.model.all_objects.select_related("tenant")

    def view_on_site(self, obj):
        """The admin's "View on site": the integration's card on the staff pages (live only)."""
        return staff_card_url(obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if _is_deleted(obj):
            self.message_user(
                request,
                "This integration is deleted, so it is read-only. To bring it back, select it "
                "in the integration list (status: Deleted) and run 'Restore selected "
                "integrations'.",
                messages.WARNING,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        if change:
            services.integration_update(
                integration=obj,
                data=changed_values(obj, form.changed_data),
                actor=admin_actor(request),
            )
        else:
            services.integration_create(integration=obj, actor=admin_actor(request))

    def delete_model(self, request, obj):
        services.integration_delete(integration=obj, actor=admin_actor(request))

    def get_deleted_objects(self, objs, request):
        # What a delete would soft-delete: the live ones (a deleted one cannot be deleted).
        return super().get_deleted_objects([obj for obj in objs if not obj.is_deleted], request)

    def delete_queryset(self, request, queryset):
        for integration in queryset.filter(deleted_at__isnull=True):
            self.delete_model(request, integration)


def _child_admin_for(provider: type[Integration]) -> type[IntegrationChildAdmin]:
    return type(f"{provider.__name__}Admin", (IntegrationChildAdmin,), {})


for _provider in all_providers():
    admin.site.register(_provider, _child_admin_for(_provider))


def staff_card_url(integration: Integration) -> str | None:
    """Where the staff pages show this integration: its card on the tenant's page (None when
    it or its tenant is deleted: the staff pages show live records only)."""
    if integration.is_deleted or integration.tenant.is_deleted:
        return None
    page = reverse("tenant-detail", args=[integration.tenant.name])
    return f"{page}#integration-{integration.ident}"


def _valid_keys(model, values: list[str]) -> list:
    """The `values` that are primary keys of `model` by its key field's own rule (to_python):
    a value it refuses is left out rather than raised at the database."""
    keys = []
    for value in values:
        try:
            keys.append(model._meta.pk.to_python(value))
        except ValidationError:
            continue
    return keys


class TenantListFilter(admin.RelatedFieldListFilter):
    """By tenant, without listing every tenant (there may be thousands): the tenant column's
    links choose one (?tenant__id__exact=<pk>), and then the filter shows it, with "All"."""

    def field_choices(self, field, request, model_admin):
        chosen_values: str | list[str] = self.lookup_val or []  # a list since Django 5.0
        if isinstance(chosen_values, str):
            chosen_values = [chosen_values]
        ids = _valid_keys(Tenant, chosen_values)
        if not ids:
            # Nothing chosen, or no id at all (?tenant__id__exact=abc): Django's filtering of
            # the rows then refuses the value with its "invalid lookup" redirect.
            return []
        chosen = Tenant.all_objects.filter(pk__in=ids).order_by("name")
        return [(tenant.pk, str(tenant)) for tenant in chosen]

    def has_output(self):
        return bool(self.lookup_val)


class ProviderListFilter(admin.SimpleListFilter):
    """By provider, named by its key in the URL (?provider=twilio); matched on the one type
    discriminator, django-polymorphic's content type."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        return [(provider.provider_key, provider.label) for provider in all_providers()]

    def queryset(self, request, queryset):
        provider = provider_for(self.value() or "")
        return queryset.filter(polymorphic_ctype=ctype_of(provider)) if provider else queryset


# What django-polymorphic's add view accepts as ?ct_id= (it calls int() on it, unchecked).
CONTENT_TYPE_ID = re.compile(r"\A[0-9]{1,9}\Z")


@admin.register(Integration)
class IntegrationParentAdmin(
    BoundedSearch, QuickActionCheckbox, IntegrationPermissions, PolymorphicParentModelAdmin
):
    base_model = Integration
    child_models: list[type[models.Model]] = [*all_providers()]
    # Named as the staff pages name them: the tenant by its slug, the provider by its badge.
    # Narrow columns (the last change in one, on two lines): the list fits a 1280 px screen
    # beside the admin's navigation and filters (tests/browser/test_admin_layout.py).
    # django-polymorphic types its parent admin as a ModelAdmin of PolymorphicModel, whatever
    # the model: a function of an Integration is refused there (list-item, twice below).
    list_display = [
        "ident",
        "tenant_name",
        "provider",
        verification_badge,  # type: ignore[list-item]
        "last_change",
        "is_live",
    ]
    list_filter = [
        ProviderListFilter,
        VerificationListFilter,
        DeletedListFilter,
        ("tenant", TenantListFilter),
    ]
    # What the staff pages' search finds (integrations.search), secrets never: the id, the
    # tenant, every provider's non-secret values, and the provider (search_words_results
    # runs the search).
    search_fields = ["ident", "tenant__name", "tenant__display_name", *integration_search_paths()]
    list_select_related = ["tenant"]
    actions = ["soft_delete", "restore", verify_selected]  # type: ignore[list-item]
    list_per_page = 50
    # The unfiltered total is a second COUNT over every integration on each page view; the
    # filtered count is shown, and "Show all" still lists every row.
    show_full_result_count = False

    def get_queryset(self, request):
        # Non-polymorphic on purpose: the list shows base columns only, in one query.
        return Integration.all_objects.non_polymorphic().select_related("tenant")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletes are soft: see soft_delete
        return actions

    def search_words_results(self, request, queryset, words):
        """Each word of the search (BoundedSearch: as Django's admin splits it, at most
        MAX_SEARCH_WORDS) must match the id, the tenant, the provider or a non-secret value:
        search_fields' values, and the provider's key or label. Run as integrations.search's
        UNION of one indexed branch per table instead of Django's OR across joined tables,
        which no index serves (seconds at 10,000 tenants on PostgreSQL, against milliseconds:
        tests/benchmarks/bench_search.py). Each word's UNION is an InSubquery, computed once
        before the list's query: as `IN (subquery)`, PostgreSQL planned 20 words as 20
        semi-joins, which took seconds to plan with one row to find."""
        for word in words:
            queryset = queryset.filter(InSubquery(F("pk"), integration_ids_matching(word)))
        return queryset, False

    def _get_real_admin(self, object_id, super_if_self=True):
        # django-polymorphic finds which child admin serves a row through `model.objects`,
        # which hides soft-deleted integrations: the list's links to them answered 404. The
        # admin sees every row (get_queryset), so the lookup does too; a malformed id is a 404.
        try:
            ctype_id = (
                Integration.all_objects.non_polymorphic()
                .values_list("polymorphic_ctype", flat=True)
                .get(pk=object_id)
            )
        except (Integration.DoesNotExist, ValueError, ValidationError):
            raise Http404("No such integration.") from None
        return self._get_real_admin_by_ct(ctype_id, super_if_self=super_if_self)

    def add_view(self, request, form_url="", extra_context=None):
        ct_id = request.GET.get("ct_id")
        if ct_id is not None and not CONTENT_TYPE_ID.match(ct_id):
            # Not a type from the choice page (polymorphic's int() would make it a 500):
            # back to the choice.
            query = request.GET.copy()
            query.pop("ct_id")
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}".rstrip("?"))
        return super().add_view(request, form_url, extra_context)

    @admin.display(description="last change", ordering="updated_at")
    def last_change(self, obj):
        when = localtime(obj.updated_at)
        return format_html(
            '<time datetime="{}">{}</time><br><span class="quiet">{}</span>',
            when.isoformat(),
            when.strftime("%Y-%m-%d %H:%M"),
            obj.updated_by or "—",
        )

    @admin.display(boolean=True, description="live")
    def is_live(self, obj):
        return obj.deleted_at is None

    class Media:
        css = {"all": ["css/badges.css", "css/admin.css"]}

    @admin.display(description="tenant", ordering="tenant__name")
    def tenant_name(self, obj):
        return format_html(
            '<a href="?tenant__id__exact={}" title="Only the integrations of {}">{}</a>',
            obj.tenant_id,
            obj.tenant.name,
            obj.tenant.name,
        )

    @admin.display(description="provider", ordering="polymorphic_ctype")
    def provider(self, obj):
        return provider_badge(provider_of(obj))

    @admin.action(description="Delete selected integrations (soft)", permissions=["delete"])
    def soft_delete(self, request, queryset):
        deleted = 0
        for integration in queryset.filter(deleted_at__isnull=True).select_related("tenant"):
            try:
                services.integration_delete(integration=integration, actor=admin_actor(request))
                deleted += 1
            except IntegrationNotFound:
                pass  # deleted by someone else meanwhile: deleted all the same
        self.message_user(request, f"Deleted {deleted} integration(s).")

    @admin.action(description="Restore selected integrations", permissions=["delete"])
    def restore(self, request, queryset):
        restored = 0
        for integration in queryset.filter(deleted_at__isnull=False):
            try:
                services.integration_restore(integration=integration, actor=admin_actor(request))
                restored += 1
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
        self.message_user(request, f"Restored {restored} integration(s).")
