"""The staff pages' "Test connection": verify one integration's credentials with its provider
(integrations.verification_services) and come back to its card, which shows the outcome.

Also what a card (and the admin's status column) says of the last verification
(`verification_line`): the status in words, when, and the detail sentence. Never a secret: the
detail is a sentence written by the provider's module, naming none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse

from integrations.exceptions import IntegrationBusy, RegistryError
from integrations.models import Integration
from integrations.verification import NEVER, VerificationResult, VerificationStatus
from integrations.verification_services import integration_verify
from integrations.web.views import TenantScopedView

# Each status's word, the symbol shown beside it (the word is what tells them apart: never
# the colour alone) and the message level of a test that ended so.
STATUS_WORDS: dict[str, str] = {
    VerificationStatus.OK: "OK",
    VerificationStatus.REJECTED: "Rejected",
    VerificationStatus.UNREACHABLE: "Unreachable",
    NEVER: "Never tested",
}
STATUS_SYMBOLS: dict[str, str] = {
    VerificationStatus.OK: "✓",
    VerificationStatus.REJECTED: "✕",
    VerificationStatus.UNREACHABLE: "!",
    NEVER: "○",
}
MESSAGE_LEVELS: dict[str, int] = {
    VerificationStatus.OK: messages.SUCCESS,
    VerificationStatus.REJECTED: messages.ERROR,
    VerificationStatus.UNREACHABLE: messages.WARNING,
}


@dataclass(frozen=True)
class VerificationLine:
    """What a card shows of the last verification: `status` (ok, rejected, unreachable or
    never), its `word` and `symbol`, `when` (None if never) and the `detail` sentence."""

    status: str
    word: str
    symbol: str
    when: datetime | None
    detail: str

    @property
    def failed(self) -> bool:
        return self.status in (VerificationStatus.REJECTED, VerificationStatus.UNREACHABLE)


def verification_line(integration: Integration) -> VerificationLine:
    """The card's status line of `integration` (its stored last_* values; no query)."""
    status = integration.last_verification or NEVER
    if status not in STATUS_WORDS:  # a value no longer known: shown as never tested
        status = NEVER
    return VerificationLine(
        status=status,
        word=STATUS_WORDS[status],
        symbol=STATUS_SYMBOLS[status],
        when=integration.last_verified_at if status != NEVER else None,
        detail=integration.last_verification_detail if status != NEVER else "",
    )


def result_message(integration: Integration, result: VerificationResult) -> str:
    """The message after a test: which integration, the outcome's word and its sentence."""
    word = STATUS_WORDS.get(result.status, str(result.status))
    return f"Connection test of {integration.label} '{integration.ident}': {word}. {result.detail}"


class IntegrationVerifyView(TenantScopedView):
    """POST only: test the integration's credentials with its provider, record the outcome
    (with an audit event naming the staff user), and go back to its card with a message.
    Needs the permission to change integrations: view-only staff get a 403, nothing sent."""

    permission_required = "integrations.change_integration"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        integration = self.get_integration()
        try:
            result = integration_verify(integration=integration, actor=self.actor())
        except IntegrationBusy:  # its values changed while it was tested: not their outcome
            messages.warning(
                request,
                f"{integration.label} '{integration.ident}' was changed while it was tested; "
                "nothing was recorded. Test it again.",
            )
            return self.to_card(integration)
        except RegistryError as error:  # deleted (it or its tenant) while it was tested
            raise Http404(str(error)) from None
        messages.add_message(
            request,
            MESSAGE_LEVELS.get(result.status, messages.INFO),
            result_message(integration, result),
        )
        return self.to_card(integration)
