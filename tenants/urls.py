from django.urls import path

from tenants import views

urlpatterns = [
    path("", views.TenantListView.as_view(), name="tenant-list"),
    path("tenants/new/", views.TenantCreateView.as_view(), name="tenant-create"),
]
