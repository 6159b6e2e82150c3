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


def base_commit(tmp_path: Path, changes: dict[str, str | None]) -> str:
    """A commit of HEAD's tree with `changes` (path: new text, or None: removed), parent HEAD,
    referenced by no branch: written with `git commit-tree` and a temporary index in
    `tmp_path`, so the working tree, the index and every branch stay as they are."""
    env = {
        **os.environ,
        "GIT_INDEX_FILE": str(tmp_path / "base-index"),
        "GIT_AUTHOR_NAME": "bench-test",
        "GIT_AUTHOR_EMAIL": "bench-test@example.invalid",
        "GIT_COMMITTER_NAME": "bench-test",
        "GIT_COMMITTER_EMAIL": "bench-test@example.invalid",
    }
    git("read-tree", "HEAD", env=env)
    for path, text in changes.items():
        if text is None:
            git("rm", "--cached", "--quiet", path, env=env)
        else:
            blob = git("hash-object", "-w", "--stdin", env=env, input_=text)
            git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
    tree = git("write-tree", env=env)
    return git("commit-tree", tree, "-p", "HEAD", "-m", "bench-compare test base", env=env)
