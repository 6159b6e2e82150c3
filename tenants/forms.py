from django import forms

from tenants.models import Tenant


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["name", "display_name"]
        widgets = {"name": forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"})}

    def validate_unique(self):
        # A name stays taken by a deleted tenant (it can be restored); say so precisely
        # rather than with the generic "already exists".
        name = self.cleaned_data.get("name")
        if name and Tenant.all_objects.filter(name=name, deleted_at__isnull=False).exists():
            self.add_error("name", "A deleted tenant has this name; an admin can restore it.")
            return
        super().validate_unique()
