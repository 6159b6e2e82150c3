"""Work released at the same moment from several threads, each on its own database connection:
for races that only a real server (PostgreSQL) can run."""

import threading
from collections.abc import Callable
from typing import Any

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
