"""Forms derived from the provider models, shared by the staff pages and the admin."""

from functools import cache

from django import forms
from django.core.exceptions import ValidationError

from integrations import services
from integrations.models import Integration

KEEP_PLACEHOLDER = "stored — leave blank to keep"


class KeepBlankSecretsMixin:
    """On an existing record a blank secret input means "unchanged" (the value is never sent
    to the browser, so the browser cannot send it back)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        for name in self._secret_names():
            field = self.fields.get(name)
            if field is not None:
                field.required = False
                field.widget.attrs["placeholder"] = KEEP_PLACEHOLDER

    def _secret_names(self) -> list[str]:
        model = type(self.instance)
        return model.secret_field_names() if issubclass(model, Integration) else []

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is not None:
            for name in self._secret_names():
                if name in cleaned and not cleaned[name]:
                    # Absent from cleaned_data, the model instance keeps its stored value.
                    del cleaned[name]
        return cleaned

    @property
    def changed_data(self) -> list[str]:
        # A blank secret input differs from the stored value but changes nothing: keep it out
        # of "changed" (the admin history would otherwise claim the secret was changed).
        kept = {
            name
            for name in self._secret_names()
            if self.instance.pk is not None and not self.data.get(self.add_prefix(name))
        }
        return [name for name in super().changed_data if name not in kept]

    def credential_data(self) -> dict:
        """The cleaned credential fields to hand to a service (kept secrets are left out)."""
        names = [f.name for f in type(self.instance).credential_fields()]
        return {name: self.cleaned_data[name] for name in names if name in self.cleaned_data}


class SecretsKeepingModelForm(KeepBlankSecretsMixin, forms.ModelForm):
    """The admin's form for provider models (change pages and tenant inlines)."""


class IntegrationForm(KeepBlankSecretsMixin, forms.ModelForm):
    """Add/edit form of one provider; `ident` is chosen when adding and fixed afterwards."""

    def __init__(self, *args, tenant=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        if self.instance.pk is not None:
            self.fields["ident"].disabled = True

    def clean_ident(self):
        ident = self.cleaned_data["ident"]
        if self.instance.pk is None:
            try:
                services.integration_check_ident(ident=ident, provider=type(self.instance))
            except ValidationError as error:
                raise ValidationError(sum(error.message_dict.values(), [])) from None
            if self.tenant is not None and self.tenant.integrations.filter(
                ident=ident, deleted_at__isnull=True
            ).exists():
                raise ValidationError("This tenant already has an integration with this id.")
        return ident


@cache
def integration_form_for(provider: type[Integration]) -> type[IntegrationForm]:
    return forms.modelform_factory(
        provider,
        form=IntegrationForm,
        fields=["ident", *(f.name for f in provider.credential_fields())],
    )
