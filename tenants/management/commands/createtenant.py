from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.actors import Actor
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant: NAME is the slug used in API URLs."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--display-name", default="")

    def handle(self, *args, name: str, display_name: str, **options):
        try:
            tenant = tenant_create(
                name=name, display_name=display_name, actor=Actor.for_command("createtenant")
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"Created tenant '{tenant.name}'.")
