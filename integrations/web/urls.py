"""Staff page routes. Fixed words never share a position with a name or an id: tenant names
and integration ids are only ever the segment after `tenants/` and after `integrations/`, so
no tenant or integration can be named so as to shadow a page (tests/web/test_url_collisions.py).
"""

from django.urls import path

from integrations.web import history_pages, tenant_pages, verification_pages, views

urlpatterns = [
    path("", tenant_pages.TenantListView.as_view(), name="tenant-list"),
    path("new-tenant/", tenant_pages.TenantCreateView.as_view(), name="tenant-create"),
    path("tenants/<slug:tenant>/", tenant_pages.TenantDetailView.as_view(), name="tenant-detail"),
    path(
        "tenants/<slug:tenant>/add-integration/",
        views.ProviderChoiceView.as_view(),
        name="integration-add-choose",
    ),
    path(
        "tenants/<slug:tenant>/add-integration/<slug:provider>/",
        views.IntegrationFormView.as_view(),
        name="integration-add",
    ),
    path(
        "tenants/<slug:tenant>/integrations/<str:ident>/edit/",
        views.IntegrationFormView.as_view(),
        name="integration-edit",
    ),
    path(
        "tenants/<slug:tenant>/integrations/<str:ident>/delete/",
        views.IntegrationDeleteView.as_view(),
        name="integration-delete",
    ),
    path(
        "tenants/<slug:tenant>/integrations/<str:ident>/test-connection/",
        verification_pages.IntegrationVerifyView.as_view(),
        name="integration-verify",
    ),
    path(
        "tenants/<slug:tenant>/integrations/<str:ident>/versions/<int:number>/restore/",
        history_pages.VersionRestoreView.as_view(),
        name="integration-version-restore",
    ),
    path(
        "tenants/<slug:tenant>/deleted-integrations/<int:pk>/restore/",
        history_pages.UndoDeleteView.as_view(),
        name="integration-undo-delete",
    ),
]
