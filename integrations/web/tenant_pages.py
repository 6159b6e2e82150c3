"""The staff pages of tenants, in one place: the list (with what each tenant has), the form
that creates one, and a tenant's page with its integrations as cards."""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.shortcuts import redirect
from django.utils.functional import cached_property
from django.views.generic import FormView, ListView

from integrations import search, selectors
from integrations.models import Integration
from integrations.web.forms import TenantFilterForm
from integrations.web.verification_pages import verification_line
from integrations.web.views import JUST_SAVED_SESSION_KEY, TenantScopedView, integration_card
from tenants.actors import Actor
from tenants.forms import TenantForm
from tenants.models import Channel, Tenant
from tenants.services import tenant_create

# The tenant list's `?status=` filter: tenants holding an integration whose last verification
# was rejected or unreachable.
FAILING = "failing"


class TenantListView(PermissionRequiredMixin, ListView):
    """Tenants, found by one search box (see integrations.search), a provider filter and a
    status filter (?status=failing: with an integration that failed its last test). Each
    row says which providers the tenant has (each once, with how many) and, when searching,
    which of its integrations matched. A constant number of queries whatever the numbers of
    tenants and integrations (tests/web/test_query_counts.py)."""

    permission_required = "tenants.view_tenant"
    template_name = "tenants/tenant_list.html"
    paginate_by = 25

    @cached_property
    def filters(self) -> TenantFilterForm:
        form = TenantFilterForm(self.request.GET)
        form.is_valid()  # an unknown provider is ignored (the select shows "all")
        return form

    @cached_property
    def failing(self) -> bool:
        """Whether only tenants with a failing integration are listed (another value of
        ?status= is ignored, as an unknown provider is)."""
        return self.request.GET.get("status") == FAILING

    @cached_property
    def filtering(self) -> bool:
        """Whether the list is searched or filtered, rather than every tenant."""
        cleaned = self.filters.cleaned_data
        return bool(cleaned.get("q") or cleaned.get("provider") or self.failing)

    def get_queryset(self) -> QuerySet[Tenant]:
        tenants = search.tenant_search(
            query=self.filters.cleaned_data.get("q", ""),
            provider=self.filters.cleaned_data.get("provider"),
        )
        if self.failing:  # a subquery: one statement however many tenants fail
            tenants = tenants.filter(pk__in=selectors.failing_integration_tenant_ids())
        return tenants

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = list(context["object_list"])
        ids = [t.pk for t in page]
        query = self.filters.cleaned_data.get("q", "")
        overviews = search.tenant_overviews(tenant_ids=ids)
        hits = search.search_hits(tenant_ids=ids, query=query)
        for tenant in page:
            tenant.overview = overviews[tenant.pk]
            tenant.hits = hits.get(tenant.pk, [])
        context.update(
            tenants=page,
            filters=self.filters,
            query=query,
            provider=self.filters.cleaned_data.get("provider"),
            failing=self.failing,
            filtering=self.filtering,
        )
        return context


class TenantCreateView(PermissionRequiredMixin, FormView):
    permission_required = "tenants.add_tenant"
    template_name = "tenants/tenant_form.html"
    form_class = TenantForm

    def form_valid(self, form):
        try:
            tenant = tenant_create(
                **form.cleaned_data, actor=Actor.for_request(self.request, Channel.WEB)
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self.form_invalid(form)
        messages.success(self.request, f"Tenant '{tenant.name}' created.")
        return redirect("tenant-detail", tenant=tenant.name)


class TenantDetailView(TenantScopedView):
    permission_required = "integrations.view_integration"
    template_name = "integrations/tenant_detail.html"

    def get_context_data(self, **kwargs):
        integrations = selectors.integration_list(tenant=self.tenant)
        return super().get_context_data(
            integrations=[
                {**integration_card(i), "verification": verification_line(i)} for i in integrations
            ],
            undo=self.undoable_delete(),
            offer_test=self.testable_after_save(integrations),
            **kwargs,
        )

    def testable_after_save(self, integrations: list[Integration]) -> Integration | None:
        """Right after an add or an edit of one of this tenant's integrations (the form view
        leaves its name in the session, taken here once): that integration, if it is on the
        page and this user may test it (the page then offers "Test connection now")."""
        session = self.request.session
        if JUST_SAVED_SESSION_KEY not in session:
            return None
        saved = session.pop(JUST_SAVED_SESSION_KEY)
        if not self.request.user.has_perm("integrations.change_integration"):
            return None
        if not isinstance(saved, list) or saved[:1] != [self.tenant.name]:
            return None
        return next((i for i in integrations if [self.tenant.name, i.ident] == saved), None)

    def undoable_delete(self) -> Integration | None:
        """Right after a delete (?undo=<pk>): that integration, if it may still be restored
        by this user (deleted, its id still free)."""
        pk = self.request.GET.get("undo", "")
        if not pk.isdigit() or not self.request.user.has_perm("integrations.delete_integration"):
            return None
        deleted = Integration.all_objects.filter(
            tenant=self.tenant, pk=int(pk), deleted_at__isnull=False
        ).first()
        if (
            deleted is None
            or Integration.objects.filter(tenant=self.tenant, ident=deleted.ident).exists()
        ):
            return None
        return deleted
