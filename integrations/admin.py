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
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from polymorphic.admin import (
    PolymorphicChildModelAdmin,
    PolymorphicInlineSupportMixin,
    PolymorphicParentModelAdmin,
    StackedPolymorphicInline,
)
from polymorphic.admin.helpers import PolymorphicInlineAdminFormSet
from polymorphic.formsets import BasePolymorphicInlineFormSet

from integrations import services
from integrations.forms import IntegrationFormRules
from integrations.models import IDENT_TAKEN, Integration
from integrations.providers import all_providers


def has_integration_permission(request, action: str) -> bool:
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


class DeletedListFilter(admin.SimpleListFilter):
    """Live rows by default; soft-deleted ones on demand."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("deleted", "Deleted"), ("all", "All")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Live",
        }
        yield from list(super().choices(changelist))[1:]

    def queryset(self, request, queryset):
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "all":
            return queryset
        return queryset.filter(deleted_at__isnull=True)


def actor_of(request) -> str:
    return request.user.get_username()


def changed_values(integration: Integration, changed: list[str]) -> dict:
    """What an admin form changed, as `data` for the update service (kept secrets are not
    in `changed`: see IntegrationFormRules.changed_data)."""
    return {name: getattr(integration, name) for name in changed}


class HideSecretsFromErrorReports:
    """A 500 on an admin form must not put the typed secrets into Django's error report."""

    @method_decorator(sensitive_post_parameters())
    def changeform_view(self, request, *args, **kwargs):
        return super().changeform_view(request, *args, **kwargs)


class IntegrationChildAdmin(
    IntegrationPermissions, HideSecretsFromErrorReports, PolymorphicChildModelAdmin
):
    base_model = Integration
    base_form = IntegrationFormRules
    show_in_index = False
    readonly_fields = ["provider", "updated_at", "updated_by", "deleted_at"]

    def get_queryset(self, request):
        return self.model.all_objects.select_related("tenant")

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
                actor=actor_of(request),
            )
        else:
            services.integration_create(integration=obj, actor=actor_of(request))

    def delete_model(self, request, obj):
        services.integration_delete(integration=obj, actor=actor_of(request))

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


# What django-polymorphic's add view accepts as ?ct_id= (it calls int() on it, unchecked).
CONTENT_TYPE_ID = re.compile(r"\A[0-9]{1,9}\Z")


@admin.register(Integration)
class IntegrationParentAdmin(IntegrationPermissions, PolymorphicParentModelAdmin):
    base_model = Integration
    child_models = all_providers()
    list_display = ["ident", "tenant", "provider", "updated_at", "updated_by", "is_live"]
    list_filter = ["provider", DeletedListFilter, "tenant"]
    search_fields = ["ident", "tenant__name", "tenant__display_name"]
    list_select_related = ["tenant"]
    actions = ["soft_delete", "restore"]
    list_per_page = 50

    def get_queryset(self, request):
        # Non-polymorphic on purpose: the list shows base columns only, in one query.
        return Integration.all_objects.non_polymorphic().select_related("tenant")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletes are soft: see soft_delete
        return actions

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

    @admin.display(boolean=True, description="live")
    def is_live(self, obj):
        return obj.deleted_at is None

    @admin.action(description="Delete selected integrations (soft)", permissions=["delete"])
    def soft_delete(self, request, queryset):
        live = queryset.filter(deleted_at__isnull=True)
        for integration in live:
            services.integration_delete(integration=integration, actor=actor_of(request))
        self.message_user(request, f"Deleted {len(live)} integration(s).")

    @admin.action(description="Restore selected integrations", permissions=["delete"])
    def restore(self, request, queryset):
        restored = 0
        for integration in queryset.filter(deleted_at__isnull=False):
            try:
                services.integration_restore(integration=integration, actor=actor_of(request))
                restored += 1
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
        self.message_user(request, f"Restored {restored} integration(s).")


class IntegrationInlinePermissions:
    """The base model's permissions for the inline on a tenant's page and its per-provider rows
    (an inline's `obj` is the tenant, not an integration)."""

    def has_view_permission(self, request, obj=None):
        return has_integration_permission(request, "view") or has_integration_permission(
            request, "change"
        )

    def has_add_permission(self, request, obj):
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
    rows against each other."""

    def clean(self):
        super().clean()
        claimed = set()
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
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
        return super().get_queryset(request).filter(deleted_at__isnull=True)


class IntegrationInlineAdminFormSet(PolymorphicInlineAdminFormSet):
    """Existing rows are shown read-only to a user who may not change integrations, as Django
    shows its own inlines (django-polymorphic renders them as inputs that did nothing)."""

    def __iter__(self):
        for inline_admin_form in super().__iter__():
            if inline_admin_form.original is not None and not self.has_change_permission:
                inline_admin_form.readonly_fields = [
                    *inline_admin_form.readonly_fields,
                    *flatten_fieldsets(inline_admin_form.fieldsets),
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
