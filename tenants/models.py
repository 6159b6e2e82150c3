from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from tenants import tokens


class LiveManager(models.Manager):
    """The default manager: hides soft-deleted rows. `all_objects` sees them too."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


TENANT_NAME_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z"
TENANT_NAME_RULE = "Lower-case letters and digits, with single hyphens between them."


class Tenant(models.Model):
    name = models.SlugField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(TENANT_NAME_PATTERN, TENANT_NAME_RULE, code="invalid")],
        help_text=f"{TENANT_NAME_RULE} The {{tenant}} in API URLs, e.g. 'acme' or 'acme-eu'.",
    )
    display_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = LiveManager()
    all_objects = models.Manager()  # noqa: DJ012 (two managers, not a field)

    class Meta:
        ordering = ["name"]
        base_manager_name = "all_objects"
        # dumpdata, loaddata and the admin read through the default manager: they must see
        # soft-deleted tenants too, or a dump would hold tokens pointing at tenants it left out.
        default_manager_name = "all_objects"

    def __str__(self) -> str:
        # The slug first, as the staff pages and the API name it; the display name after.
        return f"{self.name} ({self.display_name})" if self.display_name else self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Scope(models.TextChoices):
    READ = "read", "Read records"
    WRITE = "write", "Create, change and delete records"
    SECRETS = "secrets", "See secret values in API responses"


class ApiToken(models.Model):
    """A Bearer token for the API. Only a prefix and a SHA-256 digest of it are stored."""

    label = models.CharField(max_length=100)
    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="The one tenant this token may act on. Leave empty with 'all tenants' ticked.",
    )
    all_tenants = models.BooleanField(default=False)
    scopes = models.CharField(
        max_length=50,
        default=",".join(Scope.values),
        help_text="Comma-separated: read, write, secrets.",
    )
    prefix = models.CharField(max_length=tokens.PREFIX_LENGTH, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]
        permissions = [
            # add_apitoken alone mints tokens of one tenant without the secrets scope.
            ("add_privileged_apitoken", "Can create all-tenants or secrets-scope API tokens"),
        ]
        constraints = [
            # Exactly one of "one tenant" and "all tenants": a token can never widen by accident.
            models.CheckConstraint(
                condition=(models.Q(all_tenants=True, tenant__isnull=True))
                | models.Q(all_tenants=False, tenant__isnull=False),
                name="api_token_one_tenant_or_all",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.prefix}…)"

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope_set

    def may_act_on(self, tenant_name: str) -> bool:
        # Compared by name so that the check needs no query and runs before the tenant lookup:
        # a token of another tenant learns nothing about which tenants exist.
        return self.all_tenants or (self.tenant is not None and self.tenant.name == tenant_name)

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


class Channel(models.TextChoices):
    """The door a change came in by."""

    API = "api", "API"
    WEB = "web", "Staff pages"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Management command"


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    REPLACE = "replace", "Replaced"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"
    RESTORE = "restore", "Restored"
    ROLLBACK = "rollback", "Rolled back"
    REVEAL = "reveal", "Secrets revealed"
    VERIFY = "verify", "Verified with the provider"
    TOKEN_CREATE = "token-create", "API token created"
    TOKEN_REVOKE = "token-revoke", "API token revoked"


# What `changes` records of a secret field: that it changed, never a value or a hash of one.
SECRET_CHANGED = "changed"  # noqa: S105 (a marker, not a secret)


class AuditEvent(models.Model):
    """One append-only record of a change (or a reveal of secrets), written by the services in
    the transaction of the change itself.

    `changes` maps a field (JSON key) to {"old": ..., "new": ...} for non-secret values and
    to "changed" for secrets; a reveal names the revealed fields under "revealed". The subject
    is named by value (integration id, type and primary key, token prefix), not by foreign
    key, so that events outlive what they describe (purge_deleted keeps them).
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=200)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    # No index of its own: audit_by_integration (Meta) leads with tenant and serves every
    # lookup by tenant (history pages, PROTECT's check); a second one would only cost every
    # event's INSERT, and every API write and read of secrets writes one.
    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        db_index=False,
    )
    integration_pk = models.BigIntegerField(null=True, blank=True)
    integration_ident = models.CharField("integration id", max_length=64, blank=True)
    integration_type = models.CharField(max_length=32, blank=True)
    api_token_prefix = models.CharField(max_length=tokens.PREFIX_LENGTH, blank=True)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(
                fields=["tenant", "integration_ident", "-id"], name="audit_by_integration"
            ),
        ]

    def __str__(self) -> str:
        subject = self.integration_ident or self.api_token_prefix or ""
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {subject}".strip()
