from django.urls import path

from integrations.web import views

urlpatterns = [
    path("tenants/<slug:tenant>/", views.TenantDetailView.as_view(), name="tenant-detail"),
    path(
        "tenants/<slug:tenant>/integrations/add/",
        views.ProviderChoiceView.as_view(),
        name="integration-add-choose",
    ),
    path(
        "tenants/<slug:tenant>/integrations/add/<slug:provider>/",
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
]
