from typing import ClassVar
from urllib.parse import quote

from django.db import models
from django.views.decorators.debug import sensitive_variables

from integrations.fields import SecretField
from integrations.models import Integration
from integrations.verification import (
    VerificationResult,
    base_url,
    exchange,
    host_of,
    ok,
    outcome_of_status,
    rejected,
    unreachable,
)

CONSUMER_KEY_HELP = (
    '<a href="http://www.salesforce.com/us/developer/docs/api_streaming/Content/'
    'code_sample_auth_oauth.htm" target="_blank" rel="noopener">'
    "Get Salesforce Consumer key/secret</a>"
)


class LoginHost(models.TextChoices):
    """Where the org logs in. Each maps to a configured URL (settings), never to the value
    itself: a record picks one of these, it cannot send the call elsewhere."""

    PRODUCTION = "login.salesforce.com", "login.salesforce.com (production and developer orgs)"
    SANDBOX = "test.salesforce.com", "test.salesforce.com (sandboxes)"


LOGIN_URL_SETTINGS = {
    LoginHost.PRODUCTION: "SALESFORCE_LOGIN_URL",
    LoginHost.SANDBOX: "SALESFORCE_TEST_LOGIN_URL",
}
# The token endpoint's error codes that mean "these credentials do not log in", in our words
# (the provider's error_description is never passed on). Salesforce, "OAuth 2.0 Username-
# Password Flow" and "OAuth Flow Errors":
# https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_username_password_flow.htm
# https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_flow_errors.htm
REFUSALS = {
    "invalid_grant": "Salesforce refused the username, password or security token",
    "invalid_client_id": "Salesforce does not know the consumer key",
    "invalid_client": "Salesforce refused the consumer key or consumer secret",
    "unauthorized_client": "The connected app may not use this login flow",
    "unsupported_grant_type": "The org does not allow the username-password login flow",
    "inactive_user": "The Salesforce user is inactive",
    "inactive_org": "The Salesforce org is inactive",
}


class SalesforceIntegration(Integration):
    provider_key = "salesforce"
    label = "Salesforce"

    consumer_key = models.CharField("Consumer key", max_length=255, help_text=CONSUMER_KEY_HELP)
    consumer_secret = SecretField("Consumer secret", max_length=255, help_text=CONSUMER_KEY_HELP)
    username = models.EmailField("Username", max_length=254, help_text="Salesforce username")
    password = SecretField("Password", max_length=255, help_text="Salesforce password")
    secret_token = SecretField(
        "Secret token",
        max_length=255,
        help_text=(
            '<a href="https://help.salesforce.com/apex/HTViewHelpDoc?'
            'id=user_security_token.htm&amp;language=en" target="_blank" rel="noopener">'
            "Get Salesforce secret token</a>"
        ),
    )
    login_host = models.CharField(
        "Login host",
        max_length=32,
        choices=LoginHost.choices,
        default=LoginHost.PRODUCTION,
        help_text="Where the org logs in: login.salesforce.com, or test.salesforce.com for "
        "sandboxes.",
    )

    # The API document's "Salesforce Example" body (credential keys only): the OpenAPI examples.
    api_example: ClassVar[dict[str, str]] = {
        "consumer-key": "consumerkey",
        "consumer-secret": "consumersecret",
        "username": "dev@userevents.com",
        "secret-token": "secret-token",
        "password": "password",
    }

    class Meta:
        verbose_name = "Salesforce integration"

    @sensitive_variables("form")
    def verify(self) -> VerificationResult:
        """OAuth 2.0 username-password token request: `POST {login URL}/services/oauth2/token`
        (form: grant_type=password, client_id, client_secret, username, password + security
        token). The login URL is SALESFORCE_LOGIN_URL or SALESFORCE_TEST_LOGIN_URL, after
        `login_host`. 200 with an access token → ok (the token is dropped unread); 400 with
        an error code of REFUSALS, or 401/403 → rejected; else unreachable. Raises
        verification.Unreachable for transport failures, SecretDecryptionError for an
        unreadable secret. Docs: see REFUSALS."""
        setting = LOGIN_URL_SETTINGS.get(self.login_host)  # type: ignore[call-overload]
        if setting is None:
            return rejected(f"'{self.login_host}' is not an allowed Salesforce login host.")
        url = f"{base_url(setting)}/services/oauth2/token"
        form = {
            "grant_type": "password",
            "client_id": self.consumer_key,
            "client_secret": self.consumer_secret.reveal(),
            "username": self.username,
            "password": self.password.reveal() + self.secret_token.reveal(),
        }
        answer = exchange(
            "POST", url, label=self.label, data=form, headers={"Accept": "application/json"}
        )
        host = host_of(url)
        body = answer.json()
        if answer.status_code == 200:
            if isinstance(body, dict) and isinstance(body.get("access_token"), str):
                return ok(f"Salesforce ({host}) accepted the credentials.")
            return unreachable(f"{host} answered 200 without an access token.")
        error = body.get("error") if isinstance(body, dict) else None
        if answer.status_code == 400 and isinstance(error, str) and error in REFUSALS:
            return rejected(f"{REFUSALS[error]} ({quote(error)}).")
        return outcome_of_status(
            answer,
            label=self.label,
            host=host,
            accepted=f"Salesforce ({host}) accepted the credentials.",
            refused="Salesforce refused the credentials",
        )
