"""Mutation testing of the core modules with cosmic-ray, plus hand-written mutants.

    make mutation                                   # every module in tests/mutation/config.toml
    make mutation MUTATION_ARGS="--modules tenants/tokens.py,tenants/authentication.py"
    make mutation MUTATION_ARGS="--ref HEAD"         # the committed tree, not the work tree

Mutants are made and tested in copies of the tree under a temporary folder (one per worker),
never in the work tree: a run that is stopped leaves no mutated file behind, and other work
in the tree is left alone. Each module is one cosmic-ray session; its operators' mutants
inside type annotations (evaluated at import, not behaviour) and those listed as equivalent
in config.toml are skipped. Hand-written mutants (`[[targeted]]`) cover the dangerous changes
cosmic-ray has no operator for (a removed `select_for_update()`, a dropped `tenant=` filter);
those marked `postgres` run against MUTATION_DATABASE_URL (PostgreSQL) and are reported as
not run without it.

The report (per module: mutants, killed, survived, score; then every survivor with its line)
is printed and written to artifacts/mutation/report.md. Exit status 1 when a mutant survives
in a module marked `security = true` or a hand-written one survives, 2 when the unmutated
tests fail (the baseline), else 0.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("config.toml")
BIN = Path(sys.executable).parent
TEST_ENV = {
    "SECRET_KEY": "test-only-secret-key",
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmISE=",
    "DEBUG": "false",
    "DATABASE_URL": "sqlite:///:memory:",
    "PYTHONDONTWRITEBYTECODE": "1",  # a mutant of the same size and second must not reuse a .pyc
    "CI": "",
}


@dataclass
class ModuleResult:
    path: str
    security: bool
    counts: Counter = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", help="comma-separated module paths (default: all)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("MUTATION_WORKERS", 2)))
    parser.add_argument("--ref", help="mutate this commit (git archive) instead of the work tree")
    parser.add_argument("--no-targeted", action="store_true", help="skip hand-written mutants")
    parser.add_argument(
        "--only-targeted", action="store_true", help="run the hand-written mutants only"
    )
    parser.add_argument("--report", default=str(ROOT / "artifacts" / "mutation" / "report.md"))
    args = parser.parse_args()

    config = tomllib.loads(CONFIG.read_text())
    modules = config["module"]
    if args.modules:
        wanted = args.modules.split(",")
        unknown = set(wanted) - {m["path"] for m in modules}
        if unknown:
            parser.error(f"not in {CONFIG.name}: {', '.join(sorted(unknown))}")
        modules = [m for m in modules if m["path"] in wanted]
    targeted = (
        []
        if args.no_targeted
        else [t for t in config.get("targeted", []) if t["module"] in {m["path"] for m in modules}]
    )

    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        base = Path(tmp) / "base"
        _copy_tree(base, args.ref)
        workers = [Path(tmp) / f"w{i}" for i in range(max(1, args.workers))]
        for worker in workers:
            shutil.copytree(base, worker, symlinks=True)

        for module in modules:
            # Tests named in config.toml but absent from this tree (an older --ref) are left out.
            module["tests"] = [t for t in module["tests"] if (base / t).exists()]
        tests = sorted({t for m in modules for t in m["tests"]})
        print(f"== baseline: unmutated tests ({len(tests)} paths)", flush=True)
        failing = _failing_tests(workers[0], tests, config)
        if failing is None:
            print("The unmutated tests cannot run: fix them first (see the output above).")
            return 2
        if failing:
            # Work in progress elsewhere in the tree: those tests cannot judge a mutant.
            print(f"== left out, failing unmutated: {', '.join(failing)}", flush=True)
            config["run"]["pytest-options"] += [f"--deselect={nodeid}" for nodeid in failing]
        _check_imports_from_the_copy(workers[0])

        results = [] if args.only_targeted else _run_sessions(modules, workers, config)
        outcomes = _run_targeted(targeted, workers, config, modules)

    report = _report(results, outcomes, failing)
    print(report)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(report)
    print(f"Written to {os.path.relpath(args.report, ROOT)}")
    bad = any(r.security and r.survivors for r in results) or any(
        o["outcome"] == "survived" for o in outcomes
    )
    return 1 if bad else 0


# --- the copies --------------------------------------------------------------------------------


def _copy_tree(destination: Path, ref: str | None) -> None:
    destination.mkdir(parents=True)
    if ref:
        archive = subprocess.run(
            ["git", "archive", ref],  # noqa: S607 (git from PATH, as a developer runs it)
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(destination, filter="data")
        return
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            target = destination / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _check_imports_from_the_copy(worker: Path) -> None:
    """The project is installed editable from the work tree: make sure the copy's modules
    are the ones imported (pytest runs from the copy, which comes first on sys.path)."""
    found = subprocess.run(
        [str(BIN / "python"), "-c", "import integrations; print(integrations.__file__)"],
        cwd=worker,
        env=_env(None),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(worker.resolve()):
        sys.exit(f"integrations is imported from {found}, not from the mutated copy {worker}")


def _env(database_url: str | None) -> dict[str, str]:
    env = {**os.environ, **TEST_ENV}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _pytest_command(tests: list[str], config: dict) -> list[str]:
    return [str(BIN / "python"), "-m", "pytest", *config["run"]["pytest-options"], *tests]


def _failing_tests(worker: Path, tests: list[str], config: dict) -> list[str] | None:
    """The tests that fail without any mutant (None when pytest itself cannot run)."""
    options = [o for o in config["run"]["pytest-options"] if o != "-x"]
    done = subprocess.run(
        [str(BIN / "python"), "-m", "pytest", *options, "-rfE", *tests],
        cwd=worker,
        env=_env(None),
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 1):
        print(done.stdout[-5000:], done.stderr[-3000:])
        return None
    return [
        line.split(" ", 1)[1].split(" - ")[0]
        for line in done.stdout.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    ]


def _tests_pass(worker: Path, tests, config, *, database_url, timeout) -> bool:
    try:
        done = subprocess.run(
            _pytest_command(tests, config),
            cwd=worker,
            env=_env(database_url),
            timeout=timeout,
            capture_output=True,
            text=True,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


# --- cosmic-ray sessions -----------------------------------------------------------------------


def _run_sessions(modules: list[dict], workers: list[Path], config: dict) -> list[ModuleResult]:
    queue = list(modules)
    results: dict[str, ModuleResult] = {}
    lock = threading.Lock()

    def work(worker: Path) -> None:
        while True:
            with lock:
                if not queue:
                    return
                module = queue.pop(0)
            results[module["path"]] = _session(worker, module, config)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[m["path"]] for m in modules]


def _session(worker: Path, module: dict, config: dict) -> ModuleResult:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    started = time.monotonic()
    name = module["path"].replace("/", "_").removesuffix(".py")
    session_config = worker / f"{name}.toml"
    session = worker / f"{name}.sqlite"
    test_command = shlex.join(_pytest_command(module["tests"], config))
    session_config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module['path'])}\n"
        f"timeout = {float(config['run']['timeout'])}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command)}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = {json.dumps(config['run']['exclude-operators'])}\n"
    )
    run = dict(cwd=worker, env=_env(None), check=True, capture_output=True)
    subprocess.run([str(BIN / "cosmic-ray"), "init", str(session_config), str(session)], **run)
    subprocess.run([str(BIN / "cr-filter-operators"), str(session), str(session_config)], **run)

    source = (worker / module["path"]).read_text()
    lines = source.splitlines()
    annotations = _annotation_lines(source)
    scope = _lines_of(source, module["only"]) if "only" in module else None
    equivalents = [e for e in config.get("equivalent", []) if e["module"] == module["path"]]
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            mutation = item.mutations[0]
            line = lines[mutation.start_pos[0] - 1]
            reason = None
            if mutation.start_pos[0] in annotations:
                reason = "inside a type annotation"
            elif scope is not None and mutation.start_pos[0] not in scope:
                reason = "outside the functions listed in `only`"
            for equivalent in equivalents:
                inside = equivalent.get("functions")
                if (
                    equivalent["line"] in line
                    and _matches(equivalent["operator"], mutation)
                    and (not inside or mutation.start_pos[0] in _lines_of(source, inside, True))
                ):
                    reason = f"equivalent: {equivalent['why']}"
            if reason:
                db.set_result(
                    item.job_id, WorkResult(output=reason, worker_outcome=WorkerOutcome.SKIPPED)
                )
    print(f"== {module['path']}: running its mutants", flush=True)
    done = subprocess.run(
        [str(BIN / "cosmic-ray"), "exec", str(session_config), str(session)],
        **{**run, "check": False},
    )
    if done.returncode != 0:  # stopped from outside: report what was run
        print(f"== {module['path']}: cosmic-ray exec ended with {done.returncode}", flush=True)

    result = ModuleResult(module["path"], module.get("security", False))
    with use_db(str(session), WorkDB.Mode.open) as db:
        result.counts["not run"] = len(list(db.pending_work_items))
        for item, outcome in db.completed_work_items:
            if outcome.worker_outcome == WorkerOutcome.SKIPPED:
                result.counts["skipped"] += 1
                continue
            mutation = item.mutations[0]
            if outcome.test_outcome == TestOutcome.SURVIVED:
                result.counts["survived"] += 1
                number = mutation.start_pos[0]
                result.survivors.append(
                    f"{module['path']}:{number} {mutation.operator_name.removeprefix('core/')} "
                    f"#{mutation.occurrence}: `{lines[number - 1].strip()}`"
                )
            elif outcome.test_outcome == TestOutcome.INCOMPETENT:
                result.counts["incompetent"] += 1
            else:
                result.counts["killed"] += 1
    result.seconds = time.monotonic() - started
    print(f"== {module['path']}: {dict(result.counts)} in {result.seconds:.0f}s", flush=True)
    return result


def _matches(pattern: str, mutation) -> bool:
    import re

    return re.fullmatch(pattern, mutation.operator_name) is not None


def _lines_of(source: str, names: list[str], decorators: bool = False) -> set[int]:
    """The lines of the functions named `function` or `Class.method` in `source`, with their
    decorators or without."""
    lines: set[int] = set()

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif (
                isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                and f"{prefix}{child.name}" in names
            ):
                # `only` starts at the `def` line: decorators (the OpenAPI schema...) are not
                # the check.
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                lines.update(range(first if decorators else child.lineno, child.end_lineno + 1))

    visit(ast.parse(source), "")
    return lines


def _annotation_lines(source: str) -> set[int]:
    """Line numbers holding a type annotation (arguments, returns, annotated assignments)."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        annotations = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [a for a in (arguments.vararg, arguments.kwarg) if a]
            annotations = [a.annotation for a in every if a.annotation] + [node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        for annotation in filter(None, annotations):
            lines.update(range(annotation.lineno, annotation.end_lineno + 1))
    return lines


# --- hand-written mutants ----------------------------------------------------------------------


def _run_targeted(targeted, workers, config, modules) -> list[dict]:
    tests_of = {m["path"]: m["tests"] for m in modules}
    database_url = os.environ.get("MUTATION_DATABASE_URL")
    outcomes: list[dict] = []
    queue = list(targeted)
    lock = threading.Lock()

    def work(worker: Path) -> None:
        while True:
            with lock:
                if not queue:
                    return
                mutant = queue.pop(0)
            outcomes.append(_targeted(worker, mutant, tests_of, config, database_url))

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    order = {id(t): i for i, t in enumerate(targeted)}
    return sorted(outcomes, key=lambda o: order[o["id"]])


def _targeted(worker: Path, mutant: dict, tests_of, config, database_url) -> dict:
    outcome = {"id": id(mutant), "module": mutant["module"], "why": mutant["why"]}
    path = worker / mutant["module"]
    original = path.read_text()
    if original.count(mutant["find"]) != 1:
        return {**outcome, "outcome": "stale (its text is not in the module once)"}
    if mutant.get("postgres") and not database_url:
        return {**outcome, "outcome": "not run (needs MUTATION_DATABASE_URL=postgres://...)"}
    tests = [t for t in mutant.get("tests", tests_of[mutant["module"]]) if (worker / t).exists()]
    if not tests:  # pytest without paths would run the whole suite
        return {**outcome, "outcome": "survived"}
    if mutant.get("postgres"):
        # One database per worker: pytest-django's test_<name> databases must not collide.
        database_url = f"{database_url.rstrip('/')}_{worker.name}"
    path.write_text(original.replace(mutant["find"], mutant["replace"]))
    try:
        survived = _tests_pass(
            worker,
            tests,
            config,
            database_url=database_url if mutant.get("postgres") else None,
            timeout=float(config["run"]["timeout"]),
        )
    finally:
        path.write_text(original)
    print(
        f"== targeted {mutant['module']}: {mutant['why']}: {'SURVIVED' if survived else 'killed'}",
        flush=True,
    )
    return {**outcome, "outcome": "survived" if survived else "killed"}


# --- the report --------------------------------------------------------------------------------


def _report(results: list[ModuleResult], outcomes: list[dict], failing: list[str]) -> str:
    rows = [
        "| module | security | mutants | killed | survived | score | skipped | not run | time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        killed = r.counts["killed"] + r.counts["incompetent"]
        tested = killed + r.counts["survived"]
        score = f"{100 * killed / tested:.0f}%" if tested else "-"
        rows.append(
            f"| {r.path} | {'yes' if r.security else 'no'} | {tested} | {killed} | "
            f"{r.counts['survived']} | {score} | {r.counts['skipped']} | {r.counts['not run']} | "
            f"{r.seconds:.0f}s |"
        )
    survivors = [s for r in results for s in r.survivors]
    lines = ["# Mutation testing", "", *rows, ""]
    lines += ["## Survivors", "", *(f"- {s}" for s in survivors or ["none"]), ""]
    if outcomes:
        lines += ["## Hand-written mutants", ""]
        lines += [f"- {o['outcome']}: {o['module']}: {o['why']}" for o in outcomes]
        lines.append("")
    if failing:
        lines += ["## Left out: failing without any mutant", ""]
        lines += [f"- {nodeid}" for nodeid in failing]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
