"""What the tests of bench/ share: wrk's presence, git in this repository, and the environment
of a bench run on a throw-away database of the tests' server."""

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def need_wrk() -> None:
    """Skip without wrk; in CI (CI=true), fail instead: CI must run these."""
    if shutil.which("wrk") is None:
        if IN_CI:
            pytest.fail("needs wrk (apt-get install wrk); CI=true: fails instead of skipping")
        pytest.skip("needs wrk (apt-get install wrk)")


def git(*arguments: str, env=None, input_=None) -> str:
    """git's output in this repository (stripped); CalledProcessError if it fails."""
    return subprocess.run(
        ["git", *arguments],  # noqa: S607 (git from PATH, as the harness runs it)
        cwd=ROOT,
        env=env,
        input=input_,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def worktrees() -> set[str]:
    """The paths of this repository's worktrees."""
    return {
        line.removeprefix("worktree ")
        for line in git("worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    }


def bench_env(database: str, **extra: str) -> dict[str, str]:
    """This process's environment with BENCH_DATABASE_URL naming `database` on the tests'
    PostgreSQL server (DATABASE_URL's), plus `extra`."""
    server = urlsplit(os.environ["DATABASE_URL"])
    return {
        **os.environ,
        "BENCH_DATABASE_URL": urlunsplit(server._replace(path=f"/{database}")),
        **extra,
    }
