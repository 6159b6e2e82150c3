from django.db import models
from django.utils import timezone

from tenants import tokens


class LiveManager(models.Manager):
    """The default manager: hides soft-deleted rows. `all_objects` sees them too."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Tenant(models.Model):
    name = models.SlugField(
        max_length=64,
        unique=True,
        help_text="Lower-case letters, digits and hyphens; the {tenant} in API URLs.",
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
        return self.display_name or self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def delete(self, using=None, keep_parents=False):
        """Soft delete: the tenant leaves `objects` (the API answers 422); its records stay."""
        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted_at", "updated_at"])
        return 0, {}

    def restore(self) -> None:
        self.deleted_at = None
        self.save(update_fields=["deleted_at", "updated_at"])


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
