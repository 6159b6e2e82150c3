from django import forms
from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from tenants import admin_users  # noqa: F401 (users and groups: only superusers grant)
from tenants.admin_helpers import (
    BoundedSearch,
    DateHierarchyBoundsChecked,
    DeletedListFilter,
    HideSecretsFromErrorReports,
    QuickActionCheckbox,
    admin_actor,
)
from tenants.models import ApiToken, AuditEvent, Scope, Tenant
from tenants.services import (
    api_token_create,
    api_token_description,
    api_token_revoke,
    parse_scopes,
    tenant_create,
    tenant_delete,
    tenant_restore,
)


@admin.register(Tenant)
class TenantAdmin(
    BoundedSearch, QuickActionCheckbox, HideSecretsFromErrorReports, admin.ModelAdmin
):
    """Tenants; integrations' admin extends this page with the tenant's integrations."""

    # integrations.admin adds the live integrations column (this app knows no integrations).
    list_display = ["name", "display_name", "created_at", "is_live"]
    list_filter = [DeletedListFilter]
    search_fields = ["name", "display_name"]
    readonly_fields = ["created_at", "updated_at", "deleted_at"]
    actions = ["soft_delete", "restore"]
    list_per_page = 50
    # The unfiltered total is a second COUNT over every tenant on each page view; the
    # filtered count (the "Live" default) is shown, and "Show all" still lists every row.
    show_full_result_count = False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletes are soft: see soft_delete
        return actions

    def has_delete_permission(self, request, obj=None):
        return False  # a tenant is never removed for real; soft_delete keeps its records

    def has_soft_delete_permission(self, request, obj=None):
        """Soft delete and restore are deletes: they need tenants.delete_tenant."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('delete', opts)}")

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        created = tenant_create(
            name=obj.name, display_name=obj.display_name, actor=admin_actor(request)
        )
        obj.pk = created.pk

    @admin.display(boolean=True, description="live")
    def is_live(self, obj):
        return obj.deleted_at is None

    @admin.action(
        description="Delete selected tenants (soft, records kept)", permissions=["soft_delete"]
    )
    def soft_delete(self, request, queryset):
        actor = admin_actor(request)
        deleted = sum(tenant_delete(tenant=tenant, actor=actor) for tenant in queryset)
        self.message_user(request, f"Deleted {deleted} tenant(s); restore brings them back.")

    @admin.action(description="Restore selected tenants", permissions=["soft_delete"])
    def restore(self, request, queryset):
        actor = admin_actor(request)
        restored = sum(tenant_restore(tenant=tenant, actor=actor) for tenant in queryset)
        self.message_user(request, f"Restored {restored} tenant(s).")


PRIVILEGED_MINTING_PERMISSION = "tenants.add_privileged_apitoken"
PRIVILEGED_MINTING_REFUSED = (
    "Only users with the permission 'Can create all-tenants or secrets-scope API tokens' may "
    "create {what}."
)


class ApiTokenCreationForm(forms.ModelForm):
    scope_choices = forms.MultipleChoiceField(
        label="Scopes",
        choices=Scope.choices,
        initial=Scope.values,
        widget=forms.CheckboxSelectMultiple,
    )
    # Whether the user may create all-tenants or secrets-scope tokens (set by the admin).
    may_create_privileged = False

    class Meta:
        model = ApiToken
        fields = ["label", "tenant", "all_tenants", "expires_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.may_create_privileged:
            self.fields["scope_choices"].initial = [Scope.READ, Scope.WRITE]

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean returns
        if bool(cleaned.get("tenant")) == bool(cleaned.get("all_tenants")):
            raise ValidationError("Choose one tenant, or tick 'all tenants' (not both).")
        if not self.may_create_privileged:
            if cleaned.get("all_tenants"):
                self.add_error(
                    "all_tenants", PRIVILEGED_MINTING_REFUSED.format(what="a token for all tenants")
                )
            if Scope.SECRETS in cleaned.get("scope_choices", []):
                self.add_error(
                    "scope_choices",
                    PRIVILEGED_MINTING_REFUSED.format(what="a token with the 'secrets' scope"),
                )
        return cleaned


@admin.register(ApiToken)
class ApiTokenAdmin(BoundedSearch, QuickActionCheckbox, admin.ModelAdmin):
    list_display = [
        "label",
        "prefix",
        "tenant_scope",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "status",
    ]
    list_filter = ["all_tenants", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["label", "prefix", "tenant__name"]
    list_select_related = ["tenant"]
    actions = ["revoke"]
    # The digest is never shown; the prefix is what identifies a token to a person.
    readonly_fields = [
        "prefix",
        "tenant",
        "all_tenants",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    fields = [
        "label",
        "prefix",
        "tenant",
        "all_tenants",
        "scopes",
        "expires_at",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type(
                "ApiTokenCreationForm",
                (ApiTokenCreationForm,),
                {"may_create_privileged": request.user.has_perm(PRIVILEGED_MINTING_PERMISSION)},
            )
            kwargs["fields"] = [*ApiTokenCreationForm.Meta.fields, "scope_choices"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*ApiTokenCreationForm.Meta.fields, "scope_choices"]
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["label", "expires_at"])
            return
        created, plaintext = api_token_create(
            label=form.cleaned_data["label"],
            tenant=form.cleaned_data["tenant"],
            scopes=parse_scopes(form.cleaned_data["scope_choices"]),
            expires_at=form.cleaned_data["expires_at"],
            actor=admin_actor(request),
        )
        obj.pk, obj.prefix, obj.scopes = created.pk, created.prefix, created.scopes
        # Kept on the request only, to show once in response_add; never stored or logged.
        request._created_api_token = plaintext

    def log_addition(self, request, obj, message):
        # The admin's history says what the token may do (never the token).
        return super().log_addition(request, obj, f"Created {api_token_description(obj)}.")

    def response_add(self, request, obj, post_url_continue=None):
        plaintext = getattr(request, "_created_api_token", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "opts": self.opts,
            "token": obj,
            "plaintext": plaintext,
        }
        response = TemplateResponse(request, "admin/tenants/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="tenant")
    def tenant_scope(self, obj):
        return "all tenants" if obj.all_tenants else obj.tenant.name

    @admin.display(description="status")
    def status(self, obj):
        if obj.revoked_at:
            return "revoked"
        return "active" if obj.is_usable() else "expired"

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for api_token in tokens:
            api_token_revoke(api_token=api_token, actor=admin_actor(request))
            self.log_change(request, api_token, "Revoked.")
        self.message_user(request, f"Revoked {len(tokens)} token(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(BoundedSearch, DateHierarchyBoundsChecked, admin.ModelAdmin):
    """The audit trail, read-only: nobody adds, changes or deletes events in the application
    (in production the database role should not be able to either: see README)."""

    list_display = [
        "occurred_at",
        "action",
        "actor",
        "channel",
        "tenant",
        "integration_ident",
        "integration_type",
        "api_token_prefix",
        "request_id",
    ]
    list_filter = [
        "action",
        "channel",
        ("occurred_at", admin.DateFieldListFilter),
        ("tenant", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["actor", "integration_ident", "tenant__name", "request_id", "api_token_prefix"]
    list_select_related = ["tenant"]
    date_hierarchy = "occurred_at"
    list_per_page = 100

    def get_actions(self, request):
        return {}  # no bulk delete of history

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
