"""Forms of the staff pages that are not a provider's own form (those are integrations.forms)."""

from django import forms

from integrations.providers import all_providers, provider_for
from integrations.search import MAX_QUERY_LENGTH


def _provider_choices() -> list[tuple[str, str]]:
    return [
        ("", "All providers"),
        *((provider.provider_key, provider.label) for provider in all_providers()),
    ]


class TenantFilterForm(forms.Form):
    """The tenant list's search box and provider filter (GET)."""

    # Not max_length: a longer query is cut (integrations.search), never ignored.
    q = forms.CharField(required=False, strip=True)
    provider = forms.ChoiceField(required=False, choices=_provider_choices)

    def clean_q(self) -> str:
        q: str = self.cleaned_data["q"]
        return q[:MAX_QUERY_LENGTH]

    def clean_provider(self):
        key = self.cleaned_data["provider"]
        return provider_for(key) if key else None
