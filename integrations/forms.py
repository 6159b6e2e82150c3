"""Forms derived from the provider models, shared by the staff pages and the admin."""

from functools import cache
from typing import cast

from django import forms
from django.core.exceptions import ValidationError

from integrations import services
from integrations.models import IDENT_TAKEN, Integration
from integrations.sealed import MASK

KEEP_PLACEHOLDER = "stored — leave blank to keep"
UNREADABLE_PLACEHOLDER = "stored secret unreadable — enter it again"


class IntegrationFormRules(forms.ModelForm):
    """What every form over a provider model does, wherever it is shown.

    - On an existing record a blank secret input means "unchanged": the value is never sent
      to the browser, so the browser cannot send it back.
    - The id follows the service's rules and must be free in the tenant. (The database's
      conditional unique constraint is not checked by ModelForm validation, which skips
      constraints whose condition reads a field the form leaves out.)
    """

    instance: Integration  # a provider's model (see integration_form_for, the admin's forms)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._editing:
            for name in self._secret_names():
                if name in self.fields:
                    stored = getattr(self.instance, name)
                    if stored and not stored.is_readable():
                        # Nothing usable to keep: the field must be filled in again.
                        self.fields[name].widget.attrs["placeholder"] = UNREADABLE_PLACEHOLDER
                        continue
                    self.fields[name].required = False
                    self.fields[name].widget.attrs["placeholder"] = KEEP_PLACEHOLDER

    @property
    def _editing(self) -> bool:
        return self.instance.pk is not None

    def _secret_names(self) -> tuple[str, ...]:
        return type(self.instance).secret_field_names()

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean returns
        for name in self._secret_names():
            if name not in cleaned:
                continue
            if self._editing and cleaned[name] in ("", MASK):
                # Blank, or the API's mask pasted back: absent from cleaned_data, the model
                # instance keeps its stored value.
                del cleaned[name]
            elif cleaned[name] == MASK:
                self.add_error(name, services.MASK_ON_CREATE)
        # A row moved to another tenant (the admin's tenant field) must be free there too.
        if "ident" in cleaned and {"ident", "tenant"} & set(self.changed_data):
            self._check_ident(cleaned["ident"], cleaned.get("tenant") or self._tenant())
        return cleaned

    def _tenant(self):
        return self.instance.tenant if self.instance.tenant_id else None

    def _check_ident(self, ident: str, tenant) -> None:
        try:
            services.integration_check_ident(ident=ident, provider=type(self.instance))
        except ValidationError as error:
            self.add_error("ident", [m for ms in error.message_dict.values() for m in ms])
            return
        if tenant is not None and tenant.pk is not None:
            taken = Integration.objects.filter(tenant=tenant, ident=ident)
            if taken.exclude(pk=self.instance.pk).exists():
                self.add_error("ident", IDENT_TAKEN)

    @property
    def changed_data(self) -> list[str]:
        # A blank secret input differs from the stored value but changes nothing: keep it out
        # of "changed" (the admin history would otherwise claim the secret was changed).
        kept = set()
        if self._editing:
            kept = {
                n
                for n in self._secret_names()
                if self.data.get(self.add_prefix(n)) in ("", MASK, None)
            }
        return [name for name in super().changed_data if name not in kept]

    def credential_data(self) -> dict:
        """The cleaned credential fields to hand to a service (kept secrets are left out)."""
        names = [f.name for f in type(self.instance).credential_fields()]
        return {name: self.cleaned_data[name] for name in names if name in self.cleaned_data}


class IntegrationForm(IntegrationFormRules):
    """The staff add/edit form: the id is chosen when adding and fixed afterwards."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._editing:
            self.fields["ident"].disabled = True


@cache
def integration_form_for(provider: type[Integration]) -> type[IntegrationForm]:
    # The stubs type modelform_factory's result as a bare ModelForm; it subclasses `form`.
    return cast(
        type[IntegrationForm],
        forms.modelform_factory(
            provider,
            form=IntegrationForm,
            fields=["ident", *(f.name for f in provider.credential_fields())],
        ),
    )
