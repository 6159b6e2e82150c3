from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Integration registry admin"
admin.site.site_title = "Integration registry admin"
admin.site.site_url = "/"

urlpatterns = [
    path("1.0/", include("integrations.api.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("tenants.urls")),
    path("", include("integrations.web.urls")),
]

# JSON under /1.0/, HTML elsewhere (see integrations.api.errors).
handler400 = "integrations.api.errors.bad_request_handler"
handler404 = "integrations.api.errors.not_found_handler"
handler500 = "integrations.api.errors.server_error_handler"
