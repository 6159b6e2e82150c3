"""Verifying integrations and recording the outcome: what the API's `verify` route, the staff
pages' "Test connection" button, the admin's "Verify selected" action and the
`verify_integrations` command call.

A verification is not a change of the integration's values: it moves neither `version` (so
neither the ETag) nor `updated_at`/`updated_by`, and keeps no version. It stores the outcome on
the row (`last_verified_at`, `last_verification`, `last_verification_detail`) and writes one
`verify` audit event naming who asked and the outcome, never a secret. The provider is called
outside any transaction: no row or lock is held while the network is waited for.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import connections, transaction

from integrations import history, verification
from integrations.exceptions import IntegrationBusy, IntegrationNotFound
from integrations.models import Integration
from integrations.verification import NEVER, VerificationResult, VerificationStatus
from tenants.actors import Actor
from tenants.exceptions import TenantNotFound
from tenants.models import AuditAction
from tenants.services import tenant_hold_live

logger = logging.getLogger("integrations.verification")

DETAIL_MAX_LENGTH = Integration._meta.get_field("last_verification_detail").max_length or 300
# Bounds of a bulk run's concurrency (threads, each with its own database connection).
MAX_CONCURRENCY = 64


def integration_verify(*, integration: Integration, actor: Actor) -> VerificationResult:
    """Verify `integration`'s credentials with its provider and record the outcome.

    In: a live integration of a provider class (a downcast row), its `tenant` loaded; `actor`,
    who asked. Out: the VerificationResult (status ok / rejected / unreachable, a sentence,
    when). Waits at most about VERIFY_CONNECT_TIMEOUT + VERIFY_READ_TIMEOUT seconds for the
    provider. Raises IntegrationNotFound or TenantNotFound when the integration or its tenant
    was deleted before the outcome could be recorded, IntegrationBusy when its values changed
    meanwhile (the outcome is of credentials no longer stored); the outcome is then not
    stored. The `integration` instance gets the new last_* values.
    """
    result = verification.verify(integration)
    _record(integration, result, actor)
    logger.info(
        "integration verified tenant=%s id=%s type=%s status=%s by=%s",
        integration.tenant.name,
        integration.ident,
        integration.provider_key,
        result.status,
        actor.name,
    )
    return result


def _record(integration: Integration, result: VerificationResult, actor: Actor) -> None:
    detail = result.detail[:DETAIL_MAX_LENGTH]
    previous = integration.last_verification or NEVER
    previous_detail = integration.last_verification_detail
    with transaction.atomic():
        tenant_hold_live(tenant=integration.tenant)
        # Only over the values that were verified: a change that landed during the call (a
        # fixed password, a rollback) moved `version`, and this outcome is not about it.
        stored = (
            Integration.objects.non_polymorphic()
            .filter(pk=integration.pk, version=integration.version)
            .update(
                last_verified_at=result.checked_at,
                last_verification=result.status,
                last_verification_detail=detail,
            )
        )
        if not stored:
            if Integration.objects.filter(pk=integration.pk).exists():
                raise IntegrationBusy(integration.ident)
            raise IntegrationNotFound(integration.ident)
        history.record_event(
            integration,
            action=AuditAction.VERIFY,
            actor=actor,
            changes={
                "last_verification": {"old": previous, "new": str(result.status)},
                "last_verification_detail": {"old": previous_detail, "new": detail},
            },
        )
    integration.last_verified_at = result.checked_at
    integration.last_verification = result.status
    integration.last_verification_detail = detail


@dataclass
class VerificationSummary:
    """What a bulk verification did: `counts[(provider_key, status)]`, where status is a
    VerificationStatus value or "skipped" (deleted, or its values changed, while the run went
    on: no outcome stored); `seconds` of wall time."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_status(self) -> Counter[str]:
        """How many ended in each status, over every provider."""
        totals: Counter[str] = Counter()
        for (_, status), count in self.counts.items():
            totals[status] += count
        return totals

    @property
    def failed(self) -> int:
        """How many were rejected or unreachable."""
        by_status = self.by_status()
        return by_status[VerificationStatus.REJECTED] + by_status[VerificationStatus.UNREACHABLE]

    @property
    def rate(self) -> float:
        """Integrations verified per second (0 when nothing ran)."""
        return self.total / self.seconds if self.seconds > 0 else 0.0


SKIPPED = "skipped"
# Called after each integration with its outcome, None when skipped; called from the worker
# threads, one call at a time.
OnResult = Callable[[Integration, VerificationResult | None], None]


def integration_verify_many(
    *,
    integrations: Iterable[Integration],
    actor: Actor,
    concurrency: int = 8,
    on_result: OnResult | None = None,
) -> VerificationSummary:
    """Verify and record each of `integrations` (downcast rows, tenants loaded, e.g. from
    selectors.integrations_to_verify), `concurrency` at a time (1 to MAX_CONCURRENCY; 1 runs
    in the calling thread). Each worker thread closes its database connections when done.

    Out: the VerificationSummary. `on_result(integration, result)` is called after each one
    (result None: deleted or changed meanwhile, counted as skipped), serialised by a lock. Raises
    ValueError for a concurrency out of bounds; a failure to record (the database) propagates
    after the running verifications end.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be from 1 to {MAX_CONCURRENCY}.")
    summary = VerificationSummary()
    lock = threading.Lock()
    started = time.monotonic()

    def one(integration: Integration) -> None:
        try:
            result: VerificationResult | None = integration_verify(
                integration=integration, actor=actor
            )
        except (IntegrationNotFound, IntegrationBusy, TenantNotFound):
            result = None
        with lock:
            status = SKIPPED if result is None else str(result.status)
            summary.counts[(integration.provider_key, status)] += 1
            if on_result is not None:
                on_result(integration, result)

    if concurrency == 1:
        for integration in integrations:
            one(integration)
    else:
        work: queue.SimpleQueue[Integration] = queue.SimpleQueue()
        for integration in integrations:
            work.put(integration)
        stop = threading.Event()  # set by a worker that failed: the others stop taking work

        def worker() -> None:
            try:
                while not stop.is_set():
                    try:
                        integration = work.get_nowait()
                    except queue.Empty:
                        return
                    one(integration)
            except BaseException:
                stop.set()
                raise
            finally:
                connections.close_all()  # this thread's connections only

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="verify") as pool:
            futures = [pool.submit(worker) for _ in range(concurrency)]
        for future in futures:
            future.result()  # re-raise a worker's failure
    summary.seconds = time.monotonic() - started
    return summary
