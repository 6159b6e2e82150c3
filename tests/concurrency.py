"""Work released at the same moment from several threads, each on its own database connection:
for races that only a real server (PostgreSQL) can run."""

import threading
from collections.abc import Callable
from typing import Any

import psycopg
from django.db import connection


def run_together(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run each job (a function of nothing) in its own thread and database connection,
    released together by a barrier. Returns what each job returned, in order, or
    ("exception", repr(error)) for one that raised (for the caller's assertions, not lost in a
    thread). Fails the test when a job is still running after 60 s."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = jobs[index]()
        except Exception as error:
            results[index] = ("exception", repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a job hung"
    return results


def from_another_session(sql: str, params: list, *, lock_timeout: str = "300ms") -> str:
    """Run `sql` in a separate session (PostgreSQL), committed at once: "done", or "waits"
    when it waited for a lock longer than `lock_timeout` (and so did nothing)."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute(f"SET lock_timeout = '{lock_timeout}'")
        try:
            other.execute(sql, params)
        except psycopg.errors.LockNotAvailable:
            return "waits"
    return "done"


def between_read_and_write(monkeypatch, sql: str, params: list) -> None:
    """Commit `sql` from another session once a write without a lock has read its row, before
    its guarded statement (integrations.services._change with guarded=True); it must not wait
    (that write holds nothing yet)."""
    from integrations import services

    change = services._change

    def meanwhile(integration, data, **kwargs):
        if kwargs.get("guarded"):
            assert from_another_session(sql, params, lock_timeout="2s") == "done"
        return change(integration, data, **kwargs)

    monkeypatch.setattr(services, "_change", meanwhile)


# Another writer's change, committed: a Twilio integration's account set to 'AC-other' and its
# version counted; SQL for from_another_session or between_read_and_write, params [pk, pk].
ANOTHER_TWILIO_WRITE = (
    "WITH parent AS (UPDATE integrations_integration SET version = version + 1 "
    "WHERE id = %s) UPDATE integrations_twiliointegration SET account = 'AC-other' "
    "WHERE integration_ptr_id = %s"
)
