import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tenants.actors import Actor
from tenants.models import ApiToken, Tenant
from tenants.services import api_token_create, tenant_create, tenant_restore

DEMO_TENANT = "demo"
DEMO_TOKEN_LABEL = "demo token (make run)"  # noqa: S105 (a label, not a secret)
ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Development only: make sure the demo tenant exists, give the 'admin' user a fresh "
        "password and the demo a fresh API token, and print how to use them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1:8000")

    @transaction.atomic
    def handle(self, *args, host: str, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo resets the admin password: it runs only with DEBUG=true.")
        actor = Actor.for_command("seed_demo")
        tenant = Tenant.all_objects.filter(name=DEMO_TENANT).first()
        if tenant is None:
            tenant = tenant_create(name=DEMO_TENANT, display_name="Demo tenant", actor=actor)
        elif tenant.is_deleted:
            tenant_restore(tenant=tenant, actor=actor)

        password = secrets.token_urlsafe(12)
        admin, _ = get_user_model().objects.get_or_create(
            username=ADMIN_USERNAME, defaults={"email": "admin@example.com"}
        )
        admin.is_staff = admin.is_superuser = admin.is_active = True
        admin.set_password(password)
        admin.save()

        # One demo token at a time: the previous run's is deleted.
        ApiToken.objects.filter(label=DEMO_TOKEN_LABEL, revoked_at__isnull=True).delete()
        _, token = api_token_create(label=DEMO_TOKEN_LABEL, tenant=tenant, actor=actor)

        self.stdout.write(
            f"""
Demo ready.
  Staff pages:  http://{host}/          user: {ADMIN_USERNAME}   password: {password}
  Admin:        http://{host}/admin/
  API token for tenant '{DEMO_TENANT}' (all scopes): {token}

Try the API:
  curl -sS -XPOST http://{host}/1.0/tenants/{DEMO_TENANT}/integrations/twilio \\
       -H 'Authorization: Bearer {token}' \\
       -H 'Content-Type: application/json; charset=utf-8' \\
       -d '{{"id": "twilio", "type": "twilio", "account": "SID", "password": "Token"}}'
"""
        )
