"""Progress of a long-running management command: a tqdm bar on a terminal, plain lines
(every 10% and at the end) otherwise, so that logs of cron jobs and CI stay readable."""

import sys

from tqdm import tqdm


class Progress:
    """Counts `total` units of work: `progress(n)` after each n done; a context manager.

    In: `total`, the command's `stdout` (where plain lines go), `unit` ("row" prints
    "5/20 rows"), `bar` (a tqdm bar on stderr; defaults to whether stderr is a terminal) and
    `desc` (the bar's label and the plain lines' prefix). Raises nothing of its own.
    """

    def __init__(self, total: int, stdout, *, unit: str = "row", bar: bool | None = None, desc=""):
        self.total, self.done, self.stdout, self.unit, self.desc = total, 0, stdout, unit, desc
        if bar is None:
            bar = sys.stderr.isatty()
        self.bar = tqdm(total=total, unit=unit, desc=desc or None, file=sys.stderr) if bar else None
        self.next_line = max(total // 10, 1)

    def __enter__(self):
        return self

    def __call__(self, done: int = 1) -> None:
        self.done += done
        if self.bar is not None:
            self.bar.update(done)
        elif self.done >= self.next_line or self.done == self.total:
            prefix = f"{self.desc}: " if self.desc else ""
            self.stdout.write(f"{prefix}{self.done}/{self.total} {self.unit}s")
            self.next_line = self.done + max(self.total // 10, 1)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
