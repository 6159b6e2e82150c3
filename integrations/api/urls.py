from django.urls import path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from integrations.api.errors import JSONErrorsMixin, json_not_found
from integrations.api.history_views import (
    IntegrationHistoryView,
    IntegrationVersionRestoreView,
    IntegrationVersionsView,
)
from integrations.api.verification_views import IntegrationVerifyView
from integrations.api.views import IntegrationListView, IntegrationView, ShortIntegrationView

SEGMENT = r"[^/]+"


class SchemaView(JSONErrorsMixin, SpectacularJSONAPIView):
    pass


class DocsView(JSONErrorsMixin, SpectacularSwaggerView):
    pass


urlpatterns = [
    # The document and its browsable docs: public (they hold no data), no token needed.
    path("openapi.json", SchemaView.as_view(), name="api-schema"),
    path("docs", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    # Before the short form below, which would otherwise read "integrations" as an id.
    re_path(
        rf"^tenants/(?P<tenant>{SEGMENT})/integrations/?$",
        IntegrationListView.as_view(),
        name="api-integration-list",
    ),
    re_path(
        rf"^tenants/(?P<tenant>{SEGMENT})/integrations/(?P<id>{SEGMENT})/?$",
        IntegrationView.as_view(),
        name="api-integration",
    ),
    re_path(
        rf"^tenants/(?P<tenant>{SEGMENT})/integrations/(?P<id>{SEGMENT})/history/?$",
        IntegrationHistoryView.as_view(),
        name="api-integration-history",
    ),
    re_path(
        rf"^tenants/(?P<tenant>{SEGMENT})/integrations/(?P<id>{SEGMENT})/versions/?$",
        IntegrationVersionsView.as_view(),
        name="api-integration-versions",
    ),
    re_path(
        rf"^tenants/(?P<tenant>{SEGMENT})/integrations/(?P<id>{SEGMENT})/versions/"
        r"(?P<number>[0-9]{1,9})/restore/?$",
        IntegrationVersionRestoreView.as_view(),
        name="api-integration-version-restore",
    ),
    re_path(
        rf"^tenants/(?P<tenant>{SEGMENT})/integrations/(?P<id>{SEGMENT})/verify/?$",
        IntegrationVerifyView.as_view(),
        name="api-integration-verify",
    ),
    # The API document's headers use this short form; POST only, same contract.
    re_path(
        rf"^tenants/(?P<tenant>{SEGMENT})/(?P<id>{SEGMENT})/?$",
        ShortIntegrationView.as_view(),
        name="api-integration-short",
    ),
    # Last: any other path under /1.0/ is a JSON 404, in DEBUG too.
    re_path(r"", json_not_found),
]
