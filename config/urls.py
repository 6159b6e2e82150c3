from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from integrations.api.errors import json_not_found

admin.site.site_header = "Integration registry admin"
admin.site.site_title = "Integration registry admin"
admin.site.site_url = "/"

# Log in, log out and change one's own password. No password reset: it works by mailing a
# link, and this application sends no mail (an admin sets a forgotten password).
account_urls = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]

urlpatterns = [
    path("1.0/", include("integrations.api.urls")),
    # Any other version-like prefix, and /1.0 without its slash: a JSON 404 (in DEBUG too),
    # not an HTML page nor an HTML redirect to /1.0/ (see integrations.api.errors).
    re_path(r"^\d+(?:\.\d+)+(?:/[\s\S]*)?\Z", json_not_found),
    path("admin/", admin.site.urls),
    path("accounts/", include(account_urls)),
    path("", include("integrations.web.urls")),
]

# JSON under /1.0/, HTML elsewhere (see integrations.api.errors).
handler400 = "integrations.api.errors.bad_request_handler"
handler404 = "integrations.api.errors.not_found_handler"
handler500 = "integrations.api.errors.server_error_handler"
