from django.urls import re_path

from integrations.api.errors import json_not_found
from integrations.api.views import IntegrationView

SEGMENT = r"[^/]+"

urlpatterns = [
    re_path(
        rf"^tenants/(?P<tenant>{SEGMENT})/integrations/(?P<ident>{SEGMENT})/?$",
        IntegrationView.as_view(),
        name="api-integration",
    ),
    # The API document's headers use this short form; same view, same contract.
    re_path(
        rf"^tenants/(?P<tenant>{SEGMENT})/(?P<ident>{SEGMENT})/?$",
        IntegrationView.as_view(),
        name="api-integration-short",
    ),
    # Last: any other path under /1.0/ is a JSON 404, in DEBUG too.
    re_path(r"", json_not_found),
]
