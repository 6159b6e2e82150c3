"""Before/after of a change: `make bench-compare BASE=<revision>`.

`make bench` compares the app with floors in the same run, so its ratios hold while the
machine's speed drifts; its req/s do not: on the 2-core machines this project is measured on,
one run's req/s differed from the next one's by up to 3x. Two `make bench` runs, one before and
one after a change, compare those hours as much as the change.

Here the two versions run in the same run instead: the working tree ("after", uncommitted
changes included) and BASE ("before", checked out with `git worktree add` into a temporary
directory), each served by gunicorn with its own config/gunicorn.conf.py on one database that
this tree migrates and seeds (bench/run.py's `prepare`). Every round runs each operation
against both, alternating which goes first, for `--duration` seconds each under wrk; the result
per operation is the median over rounds of after/before req/s, of each side's worker CPU per
request and of the PostgreSQL processes serving its database (both from /proc; the database's
only when it runs on this machine: procs.DatabaseCpu). Then bench/calls.py runs in each side's
tree, `--calls-rounds` times (3), the sides alternating: Python function calls per request
(cProfile; the same code makes the same calls on any machine at any hour, the one figure the
machine's drift cannot move; the median) and in-process CPU per request (the least over the
rounds). How much one run tells of the rest: comparing a revision with itself in runs of 3 to 5
rounds, after/before came out from 0.68 to 1.19 for req/s (single rounds from 0.63 to 1.51) and
from 0.84 to 1.02 for worker CPU per request; a smaller change needs more `--rounds`. Both
sides use this tree's virtualenv (a change of dependencies is not compared). BASE runs on this
tree's schema: when their migrations differ, the run is refused (the difference would not be
measured) unless `--allow-other- migrations`.

A run fails (exit status 1, gunicorn logs kept) when an answer was not 2xx, in the warm-up,
the rounds or in process, or when a run got no answer at all; otherwise the logs are removed.
SIGTERM and SIGHUP end it as Ctrl-C does, servers stopped and the worktree removed; a run
killed outright (SIGKILL) takes its servers with it (procs' PR_SET_PDEATHSIG), and its
worktree, which it no longer holds (`owned`), is removed by the next run; no other worktree
of the repository is touched.

Prints a table and writes bench/compare.json. Timings are reported, never asserted.
"""

import argparse
import fcntl
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

from bench import procs
from bench.ops import OPS, requests_for
from bench.run import (
    CACHES,
    auth_for,
    cache_for,
    database_url,
    environment,
    median,
    prepare,
    rounded,
)

ROOT = procs.ROOT
DEFAULT_OUTPUT = ROOT / "bench" / "compare.json"
SIDES = ("before", "after")
API_OPS = [op.name for op in OPS if op.kind == "api" and op.default]


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the git revision to compare with")
    parser.add_argument("--ops", help=f"comma-separated (default: {','.join(API_OPS)})")
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument(
        "--calls-requests", type=int, default=200, help="in-process requests per operation"
    )
    parser.add_argument("--calls-rounds", type=int, default=3, help="in-process runs per side")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--keep-logs", action="store_true", help="keep the gunicorn logs")
    parser.add_argument(
        "--cache",
        choices=CACHES,
        default="redis",
        help="the rate-limit store of both sides: a private redis-server (default) or memory",
    )
    parser.add_argument(
        "--allow-other-migrations",
        action="store_true",
        help="measure BASE although its migrations differ from this tree's (BASE then runs on "
        "this tree's schema: the difference in schema is not measured)",
    )
    args = parser.parse_args(argv)
    names = [op.name for op in OPS]
    args.ops = args.ops.split(",") if args.ops else API_OPS
    unknown = set(args.ops) - set(names)
    if unknown:
        parser.error(f"unknown operations {sorted(unknown)}; known: {', '.join(names)}")
    if min(args.rounds, args.duration, args.tenants, args.calls_rounds) < 1:
        parser.error("--rounds, --duration, --tenants and --calls-rounds must be at least 1")
    if args.calls_requests < 2:
        parser.error("--calls-requests must be at least 2")
    return args


def resolve(revision: str) -> str:
    """The commit `revision` names; SystemExit if none. A name starting with "-" is refused
    before git sees it, which would take it for an option."""
    if revision.startswith("-") or not revision.strip():
        raise SystemExit(f"bench-compare: {revision!r} names no commit of this repository")
    found = git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    if found.returncode != 0:
        raise SystemExit(f"bench-compare: {revision!r} names no commit of this repository")
    return found.stdout.strip()


WORKTREE_PREFIX = "bench-base-"
OWNER_FILE = "owner.lock"


@contextmanager
def owned(parent: Path):
    """Holds an exclusive lock on `parent`'s OWNER_FILE while the block runs: how another run
    tells that this one is alive (the kernel drops the lock when the process dies, however it
    dies; a pid could name another process by then)."""
    with (parent / OWNER_FILE).open("a") as owner:
        fcntl.flock(owner, fcntl.LOCK_EX)
        yield


def is_owned(parent: Path) -> bool:
    try:
        with (parent / OWNER_FILE).open("a") as owner:
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no such file: not a run's, or its folder is gone
        return False
    return False


@contextmanager
def checked_out(commit: str):
    """A temporary worktree of `commit`, removed afterwards (also when the run fails, is
    interrupted or is sent SIGTERM or SIGHUP: see main). One left by a run that was killed
    outright (SIGKILL) is removed by the next run (remove_abandoned_worktrees)."""
    remove_abandoned_worktrees()
    parent = Path(tempfile.mkdtemp(prefix=WORKTREE_PREFIX))
    tree = parent / "tree"
    try:
        with owned(parent):
            git("worktree", "add", "--detach", "--quiet", str(tree), commit)
            yield tree
    finally:
        forget_worktree(tree)
        shutil.rmtree(parent, ignore_errors=True)


def remove_abandoned_worktrees() -> list[Path]:
    """Remove the base worktrees of earlier runs that no live run holds (`owned`); returns
    them. Nothing else: no other worktree is touched (not even pruned)."""
    removed = []
    listing = git("worktree", "list", "--porcelain").stdout
    for line in listing.splitlines():
        tree = Path(line.removeprefix("worktree ")) if line.startswith("worktree ") else None
        if tree is None or tree.name != "tree" or not tree.parent.name.startswith(WORKTREE_PREFIX):
            continue
        if is_owned(tree.parent):
            continue  # a run still going
        forget_worktree(tree)
        shutil.rmtree(tree.parent, ignore_errors=True)
        removed.append(tree)
    return removed


def forget_worktree(tree: Path) -> None:
    """Remove the worktree at `tree` and git's record of it, even when its folder is gone
    (where `git worktree remove` refuses): that record only, never a global prune, which would
    also drop the records of a developer's worktrees moved or on an unmounted disk."""
    git("worktree", "remove", "--force", str(tree), check=False)
    common = Path(git("rev-parse", "--git-common-dir").stdout.strip())
    records = (ROOT / common / "worktrees").glob("*/gitdir")
    for gitdir in records:
        if Path(gitdir.read_text().strip()) == tree / ".git":
            shutil.rmtree(gitdir.parent, ignore_errors=True)


def other_migrations(commit: str) -> list[str]:
    """The migration files in which this tree (uncommitted and untracked files included)
    differs from `commit`: BASE would run on a schema that is not its own."""
    changed = git("diff", "--name-only", commit, "--", "*/migrations/*.py").stdout.split()
    untracked = git(
        "ls-files", "--others", "--exclude-standard", "--", "*/migrations/*.py"
    ).stdout.split()
    return sorted(set(changed) | set(untracked))


def git(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    """git with `arguments` in this repository, its output captured as text;
    CalledProcessError when it fails and `check`."""
    return subprocess.run(  # noqa: S603 (our own command line)
        ["git", *arguments],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=check,
    )


def rounds_order(round_: int) -> tuple[str, ...]:
    """Which side runs first in a round: alternating, so neither always follows the other."""
    return SIDES if round_ % 2 == 0 else SIDES[::-1]


def summarise(
    runs: dict[tuple[str, str], list[dict]], ops: list[str], measured: dict | None = None
) -> dict:
    """Per operation: each side's median req/s, worker and database CPU ms per request and p50
    ms, and the medians over rounds of after/before req/s (`speedup`), worker CPU
    (`cpu_ratio`) and database CPU (`db_cpu_ratio`)."""
    results = {}
    for name in ops:
        every = {side: runs.get((name, side), []) for side in SIDES}
        # Runs in which no answer came back in time (wrk counts no error for them): flagged,
        # and left out of every median.
        empty = {side: sum(1 for run in every[side] if not run["requests"]) for side in SIDES}
        before, after = ([run for run in every[side] if run["requests"]] for side in SIDES)
        pairs = [(b, a) for b, a in zip(every["before"], every["after"], strict=False)]
        pairs = [(b, a) for b, a in pairs if b["requests"] and a["requests"]]
        results[name] = {
            **{
                f"{side}_{key}": rounded(median([run[field] for run in side_runs]), digits)
                for side, side_runs in (("before", before), ("after", after))
                for key, field, digits in (
                    ("rps", "rps", 1),
                    ("worker_cpu_ms", "server_cpu_ms_per_request", 3),
                    ("db_cpu_ms", "db_cpu_ms_per_request", 3),
                    ("p50_ms", "p50_ms", 2),
                )
            },
            "speedup": _median_ratio([(a["rps"], b["rps"]) for b, a in pairs]),
            "cpu_ratio": _paired_ratio(pairs, "server_cpu_ms_per_request"),
            "db_cpu_ratio": _paired_ratio(pairs, "db_cpu_ms_per_request"),
            **_in_process_figures(name, measured or {}),
            "rounds": [
                {"before": round(b["rps"], 1), "after": round(a["rps"], 1)} for b, a in pairs
            ],
            "non2xx": {
                side: sum(
                    run["non2xx"] + sum(run["socket_errors"].values())
                    for run in [*every[side], *runs.get((name, f"warm_up_{side}"), [])]
                )
                + _failed_in_process((measured or {}).get((name, side), {}))
                for side in SIDES
            },
            "empty_runs": empty,
        }
    return results


def _in_process_figures(name: str, measured: dict) -> dict:
    before, after = (measured.get((name, side), {}) for side in SIDES)
    return {
        "before_calls": rounded(before.get("calls"), 1),
        "after_calls": rounded(after.get("calls"), 1),
        "calls_ratio": _ratio(after.get("calls"), before.get("calls")),
        "before_inprocess_cpu_ms": rounded(before.get("cpu_ms"), 3),
        "after_inprocess_cpu_ms": rounded(after.get("cpu_ms"), 3),
        "inprocess_cpu_ratio": _ratio(after.get("cpu_ms"), before.get("cpu_ms")),
    }


def _ratio(after: float | None, before: float | None) -> float | None:
    return round(after / before, 3) if after and before else None


def _failed_in_process(values: dict) -> int:
    return sum(
        n for status, n in values.get("statuses", {}).items() if not 200 <= int(status) < 300
    )


def _paired_ratio(pairs: list[tuple[dict, dict]], field: str) -> float | None:
    """The median over rounds of after/before `field`, of the rounds where both sides have it."""
    return _median_ratio(
        [(after[field], before[field]) for before, after in pairs if after[field] and before[field]]
    )


def _median_ratio(pairs: list[tuple[float, float]]) -> float | None:
    ratios = [after / before for after, before in pairs if before]
    return round(statistics.median(ratios), 3) if ratios else None


def table(results: dict, base: str) -> str:
    """Per operation, before → after (after/before): under load, req/s, worker and database
    CPU ms per request; in process, Python calls and CPU ms per request."""
    lines = [
        f"| operation (before: {base[:7]}) | req/s | worker CPU ms | database CPU ms "
        "| Python calls | in-process CPU ms | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        bad = r["non2xx"]["before"] + r["non2xx"]["after"]
        flags = " ⚠ errors" if bad else ""
        if any(r["empty_runs"].values()):
            flags += f" ⚠ runs without an answer {r['empty_runs']}"
        cells = [
            _change(r["before_rps"], r["after_rps"], r["speedup"], ",.1f"),
            _change(r["before_worker_cpu_ms"], r["after_worker_cpu_ms"], r["cpu_ratio"], ".3f"),
            _change(r["before_db_cpu_ms"], r["after_db_cpu_ms"], r["db_cpu_ratio"], ".3f"),
            _change(r["before_calls"], r["after_calls"], r["calls_ratio"], ",.0f"),
            _change(
                r["before_inprocess_cpu_ms"],
                r["after_inprocess_cpu_ms"],
                r["inprocess_cpu_ratio"],
                ".3f",
            ),
        ]
        lines.append(f"| {name}{flags} | {' | '.join(cells)} | {bad} |")
    return "\n".join(lines)


def _change(before, after, ratio, spec: str) -> str:
    return f"{_fmt(before, spec)} → {_fmt(after, spec)} ({_fmt(ratio, '.3f')})"


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def drive(servers, ops, args, state, log) -> dict[tuple[str, str], list[dict]]:
    """The wrk runs, by (operation, side): a warm-up of each (its failures count as the
    rounds' do, under `warm_up`), then the rounds."""
    runs: dict[tuple[str, str], list[dict]] = {}
    for op in ops:  # warm-up: connections, prepared statements, caches
        for side in SIDES:
            run = procs.wrk(servers[side], method=op.method, path=op.path, body=op.body,
                            tenants=args.tenants, prefix=f"w{side[0]}", auth=auth_for(op, state),
                            seconds=1)  # fmt: skip
            runs.setdefault((op.name, f"warm_up_{side}"), []).append(run)
    for round_ in range(args.rounds):
        for op in ops:
            for side in rounds_order(round_):
                run = procs.wrk(servers[side], method=op.method, path=op.path, body=op.body,
                                tenants=args.tenants, prefix=f"r{round_}{side[0]}",
                                auth=auth_for(op, state), seconds=args.duration)  # fmt: skip
                run["p50_ms"] = run["p50_us"] / 1000 if run["requests"] else None
                runs.setdefault((op.name, side), []).append(run)
                log(
                    f"  round {round_ + 1}/{args.rounds} {op.name:<24} {side:<7}"
                    f"{run['rps']:9.1f} req/s  CPU ms {run['server_cpu_ms_per_request'] or 0:6.3f}"
                    f" app, {run['db_cpu_ms_per_request'] or 0:6.3f} database"
                    f"{'  non-2xx ' + str(run['non2xx']) if run['non2xx'] else ''}"
                )
    return runs


# Enough for one-time costs (statements compiled on first use, caches filled) to stay out.
CALLS_WARM_UP = 20


def in_process(trees: dict[str, Path], ops, args, env: dict[str, str], state, log) -> dict:
    """bench/calls.py in each side's tree (its working directory and PYTHONPATH, so its app is
    that tree's), `--calls-rounds` times, the sides alternating as in the wrk rounds: per
    (operation, side), Python function calls per request (the median over rounds, a count that
    barely moves) and in-process CPU ms per request (the least over rounds: the run least
    disturbed by the machine's drift), and every round's statuses."""
    found: dict[tuple[str, str], list[dict]] = {}
    for round_ in range(args.calls_rounds):
        for side in rounds_order(round_):
            payload = {
                "warm_up": CALLS_WARM_UP,
                "ops": {
                    op.name: {
                        "auth": auth_for(op, state),
                        "requests": list(
                            islice(
                                requests_for(
                                    op, tenants=args.tenants, prefix=f"calls{round_}{side}", seed=11
                                ),
                                CALLS_WARM_UP + args.calls_requests,
                            )
                        ),
                    }
                    for op in ops
                },
            }
            tree = trees[side]
            measured = procs.run_json(
                [sys.executable, str(ROOT / "bench" / "calls.py")],
                what=f"bench/calls.py ({side})",
                cwd=tree,
                env={**env, "PYTHONPATH": str(tree), "DJANGO_SETTINGS_MODULE": "config.settings"},
                stdin=json.dumps(payload),
            )
            for name, values in measured.items():
                found.setdefault((name, side), []).append(values)
                log(
                    f"  in-process {round_ + 1}/{args.calls_rounds} {name:<24} {side:<7}"
                    f"{values['calls']:8.0f} calls {values['cpu_ms']:7.3f} ms CPU per request"
                )
    return {
        key: {
            "calls": statistics.median(r["calls"] for r in rounds),
            "cpu_ms": min(r["cpu_ms"] for r in rounds),
            "statuses": dict(
                sum((Counter(r["statuses"]) for r in rounds), Counter())  # every round's
            ),
        }
        for key, rounds in found.items()
    }


def main(argv: list[str] | None = None) -> dict:
    args = options(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    commit = resolve(args.base)
    differing = other_migrations(commit)
    if differing and not args.allow_other_migrations:
        raise SystemExit(
            "bench-compare: BASE's migrations differ from this tree's, and BASE would run on "
            f"this tree's schema (the difference would not be measured): {', '.join(differing)}. "
            "Pass --allow-other-migrations to measure it so anyway."
        )
    # SIGTERM and SIGHUP (a cancelled job, a closed terminal) end the run as Ctrl-C does:
    # through the `finally`s that stop the servers and remove the base worktree.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}" if message else "", flush=True)

    url = database_url()
    # Connections kept for the whole run (production: 60 s), as a deployment under steady load
    # keeps them: no backend started, or ended, in the middle of a measure.
    env = {**environment(url), "CONN_MAX_AGE": "86400"}
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["LOG_LEVEL"] = "WARNING"
    ops = [op for op in OPS if op.name in args.ops]
    state = prepare(args, url, log)
    logs = Path(tempfile.mkdtemp(prefix="bench-compare-logs-"))
    servers: dict[str, procs.Server] = {}
    with checked_out(commit) as base_tree, cache_for(args.cache, logs) as cache_env:
        env = {**env, **cache_env}
        try:
            for side, root in (("before", base_tree), ("after", ROOT)):
                servers[side] = procs.start_gunicorn(side, "config.wsgi", env, logs, root=root)
            for server in servers.values():
                procs.wait_until_up(server, int(env.get("GUNICORN_WORKERS", "2")))
            log(f"before ({commit[:7]}) and after (this tree) up; logs in {logs}")
            runs = drive(servers, ops, args, state, log)
        finally:
            for server in servers.values():
                server.stop()
        measured = in_process({"before": base_tree, "after": ROOT}, ops, args, env, state, log)
    results = summarise(runs, args.ops, measured)
    flagged = [
        name
        for name, r in results.items()
        if sum(r["non2xx"].values()) or sum(r["empty_runs"].values())
    ]
    output = {
        "base": commit,
        "migrations_differ": differing,
        "flagged": flagged,
        "results": results,
        "settings": {
            "tenants": args.tenants,
            "rounds": args.rounds,
            "seconds_per_run": args.duration,
            "wrk": "wrk -t2 -c8 --timeout 30s, bench/wrk/ops.lua",
            "cache": CACHES[args.cache],
        },
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "total_seconds": round(time.monotonic() - started, 1),
    }
    args.output.write_text(json.dumps(output, indent=2) + "\n")
    log("")
    log(table(results, commit))
    log(f"wrote {args.output}")
    if flagged:
        raise SystemExit(
            f"bench-compare: {', '.join(flagged)}: answers not 2xx, or runs without an answer "
            f"(see the table); gunicorn logs kept in {logs}"
        )
    if not args.keep_logs:
        shutil.rmtree(logs, ignore_errors=True)
    return output


def _exit_on_signal(signum: int, frame) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
