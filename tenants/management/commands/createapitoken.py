from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tenants.actors import Actor
from tenants.models import Scope, Tenant
from tenants.services import api_token_create


class Command(BaseCommand):
    help = (
        "Create an API token for one tenant or for all. The token is printed once, alone on "
        "the last line; only its digest is stored."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--tenant", metavar="NAME")
        which.add_argument("--all-tenants", action="store_true")
        parser.add_argument("--label", default="")
        parser.add_argument("--scopes", default=",".join(Scope.values), help="read,write,secrets")
        parser.add_argument("--expires-days", type=int, default=None, metavar="N")

    def handle(self, *args, **options):
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(name=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No live tenant named '{options['tenant']}'.")
        days = options["expires_days"]
        if days is not None and days <= 0:
            raise CommandError("--expires-days must be a positive number of days.")
        label = options["label"] or f"{tenant.name if tenant else 'all tenants'} token"
        try:
            api_token, plaintext = api_token_create(
                label=label,
                tenant=tenant,
                scopes=options["scopes"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                actor=Actor.for_command("createapitoken"),
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        scope = f"tenant '{tenant.name}'" if tenant else "all tenants"
        self.stdout.write(
            f"Created token '{api_token.label}' for {scope} with scopes {api_token.scopes}. "
            "Copy it now; it is not shown again:"
        )
        self.stdout.write(plaintext)
