"""The tenant page's cards: copy buttons for the API name, the integration id and every
non-secret value, never for a secret; long values get break opportunities but copy whole."""

import re
from html import unescape

import pytest

from integrations.templatetags.registry import breakable
from tests.factories import PROVIDER_FACTORIES, TwilioFactory

SID = "AC6a5b1c0d9e8f7a6b5c4d3e2f1a0b9c8d"


def copied_values(html: str) -> list[str]:
    return [unescape(value) for value in re.findall(r'data-copy="([^"]*)"', html)]


@pytest.mark.django_db
def test_the_api_name_every_id_and_every_non_secret_value_have_a_copy_button(support, tenant):
    integrations = [factory(tenant=tenant) for factory in PROVIDER_FACTORIES]

    html = support.get("/tenants/acme/").content.decode()

    expected = ["acme"]
    for integration in sorted(integrations, key=lambda i: i.ident):
        expected.append(integration.ident)
        for field in type(integration).credential_fields():
            if field.name not in integration.secret_field_names():
                expected.append(getattr(integration, field.name))
    assert copied_values(html) == expected
    secrets = [getattr(i, name).reveal() for i in integrations for name in i.secret_field_names()]
    assert not [secret for secret in secrets if secret in html]
    # Shown by static/js/staff.js only where the clipboard can be reached.
    assert all(
        " hidden>Copy</button>" in tag for tag in re.findall(r"<button[^>]*>Copy</button>", html)
    )


@pytest.mark.django_db
def test_a_long_value_wraps_at_sensible_points_and_is_copied_whole(support, tenant):
    TwilioFactory(tenant=tenant, account=SID)

    html = support.get("/tenants/acme/").content.decode()

    assert "AC6a5b1c<wbr>0d9e8f7a<wbr>6b5c4d3e<wbr>2f1a0b9c<wbr>8d" in html
    assert f'data-copy="{SID}"' in html


@pytest.mark.parametrize(
    "value,html",
    [
        ("dev@userevents.com", "dev@<wbr>userevents.<wbr>com"),
        ("short", "short"),
        ("salesforce-emea", "salesforce-<wbr>emea"),
        ("<script>x</script>", "&lt;script&gt;x&lt;/<wbr>script&gt;"),
        ("a" * 20, "aaaaaaaa<wbr>aaaaaaaa<wbr>aaaa"),
        (None, ""),
    ],
)
def test_breakable_escapes_and_adds_break_opportunities(value, html):
    assert breakable(value) == html
