"""Admin over every integration: one polymorphic list, one child admin per provider.

Derived from the provider registry, like everything else; writes go through the services.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from polymorphic.admin import (
    PolymorphicChildModelAdmin,
    PolymorphicParentModelAdmin,
    StackedPolymorphicInline,
)

from integrations import services
from integrations.forms import IntegrationFormRules
from integrations.models import Integration
from integrations.providers import all_providers


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


class IntegrationChildAdmin(HideSecretsFromErrorReports, PolymorphicChildModelAdmin):
    base_model = Integration
    base_form = IntegrationFormRules
    show_in_index = False
    readonly_fields = ["provider", "updated_at", "updated_by", "deleted_at"]

    def get_queryset(self, request):
        return self.model.all_objects.select_related("tenant")

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

    def delete_queryset(self, request, queryset):
        for integration in queryset:
            self.delete_model(request, integration)


def _child_admin_for(provider: type[Integration]) -> type[IntegrationChildAdmin]:
    return type(f"{provider.__name__}Admin", (IntegrationChildAdmin,), {})


for _provider in all_providers():
    admin.site.register(_provider, _child_admin_for(_provider))


@admin.register(Integration)
class IntegrationParentAdmin(PolymorphicParentModelAdmin):
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

    @admin.display(boolean=True, description="live")
    def is_live(self, obj):
        return obj.deleted_at is None

    @admin.action(description="Delete selected integrations (soft)", permissions=["change"])
    def soft_delete(self, request, queryset):
        live = queryset.filter(deleted_at__isnull=True)
        for integration in live:
            services.integration_delete(integration=integration, actor=actor_of(request))
        self.message_user(request, f"Deleted {len(live)} integration(s).")

    @admin.action(description="Restore selected integrations", permissions=["change"])
    def restore(self, request, queryset):
        restored = 0
        for integration in queryset.filter(deleted_at__isnull=False):
            try:
                services.integration_restore(integration=integration, actor=actor_of(request))
                restored += 1
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
        self.message_user(request, f"Restored {restored} integration(s).")


class IntegrationInline(StackedPolymorphicInline):
    """On a tenant's page: one form per integration, each of its provider's own type."""

    model = Integration
    extra = 0
    child_inlines = [
        type(
            f"{provider.__name__}Inline",
            (StackedPolymorphicInline.Child,),
            {"model": provider, "form": IntegrationFormRules, "exclude": ["deleted_at"]},
        )
        for provider in all_providers()
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)
