"""The admin of integrations: every integration in one polymorphic list with a page per
provider (integration_admin), and the tenant's page with its integrations inline
(tenant_admin, which extends tenants' TenantAdmin)."""

from integrations.admin import integration_admin, tenant_admin  # noqa: F401 (registers)
