import factory

from integrations.providers import (
    DataSiftIntegration,
    SalesforceIntegration,
    SendGridIntegration,
    TwilioIntegration,
)
from tenants.actors import Actor
from tenants.models import ApiToken, Channel, Tenant


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tenant-{n}")
    display_name = factory.LazyAttribute(lambda t: t.name.replace("-", " ").title())


class IntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    tenant = factory.SubFactory(TenantFactory)
    # ident defaults to the provider key, like the API document's examples.
    ident = factory.LazyFunction(lambda: None)
    updated_by = "factory"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs["ident"] = kwargs["ident"] or model_class.provider_key
        return super()._create(model_class, *args, **kwargs)


class SalesforceFactory(IntegrationFactory):
    class Meta:
        model = SalesforceIntegration

    consumer_key = "consumerkey"
    consumer_secret = factory.Sequence(lambda n: f"sf-consumer-secret-{n}")
    username = "dev@userevents.com"
    password = factory.Sequence(lambda n: f"sf-password-{n}")
    secret_token = factory.Sequence(lambda n: f"sf-secret-token-{n}")


class TwilioFactory(IntegrationFactory):
    class Meta:
        model = TwilioIntegration

    account = "AC0123456789"
    password = factory.Sequence(lambda n: f"twilio-auth-token-{n}")


class SendGridFactory(IntegrationFactory):
    class Meta:
        model = SendGridIntegration

    account = "sendgrid-user"
    password = factory.Sequence(lambda n: f"sendgrid-password-{n}")


class DataSiftFactory(IntegrationFactory):
    class Meta:
        model = DataSiftIntegration

    username = "datasift-user"
    api_key = factory.Sequence(lambda n: f"datasift-api-key-{n}")


PROVIDER_FACTORIES = [SalesforceFactory, TwilioFactory, SendGridFactory, DataSiftFactory]
# The factory of each provider, by its key ("twilio": TwilioFactory).
FACTORY_FOR_PROVIDER = {f._meta.model.provider_key: f for f in PROVIDER_FACTORIES}


def actor_named(name: str = "tests") -> Actor:
    """An actor for services called directly by a test (as a management command would)."""
    return Actor(name=name, channel=Channel.COMMAND)


def token_actor_name(label: str) -> str:
    """How `updated_by` and audit events name the (only) API token labelled `label`."""
    return f"token:{label} ({ApiToken.objects.get(label=label).prefix}…)"
