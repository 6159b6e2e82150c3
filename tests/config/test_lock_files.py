"""The lock files hold what pyproject.toml asks for: every dependency pinned within its range,
with hashes, production's and the dev tools' at the same versions (README: Dependencies).

A dependency added to pyproject.toml without `make lock` fails here (and `make install`
refuses it), so the lock can never silently lag behind."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def pins(name: str) -> dict[str, tuple[Version, list[str]]]:
    """{package: (version, [hash, ...])} of a lock file."""
    found: dict[str, tuple[Version, list[str]]] = {}
    current = None
    for line in (ROOT / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            found[current] = (Version(match[2]), [])
        elif current and line.strip().startswith("--hash=sha256:"):
            found[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        elif not line.startswith(" "):
            current = None
    return found


RUNTIME = pins("requirements.txt")
DEV = pins("requirements-dev.txt")


@pytest.mark.parametrize(
    ("requirement", "lock_name", "lock"),
    [
        *((r, "requirements.txt", RUNTIME) for r in PROJECT["dependencies"]),
        *((r, "requirements-dev.txt", DEV) for r in PROJECT["dependencies"]),
        *((r, "requirements-dev.txt", DEV) for r in PROJECT["optional-dependencies"]["dev"]),
    ],
)
def test_every_dependency_of_pyproject_is_pinned_in_its_range(requirement, lock_name, lock):
    wanted = Requirement(requirement)
    name = canonicalize_name(wanted.name)

    assert name in lock, f"{wanted.name} is not in {lock_name}: run `make lock`"
    version, _ = lock[name]
    assert wanted.specifier.contains(version, prereleases=True), (
        f"{lock_name} pins {wanted.name}=={version}, outside {wanted.specifier}: run `make lock`"
    )


@pytest.mark.parametrize("lock", [RUNTIME, DEV], ids=["requirements.txt", "requirements-dev.txt"])
def test_every_pinned_package_has_sha256_hashes(lock):
    assert lock
    unhashed = [name for name, (_, hashes) in lock.items() if not hashes]
    assert unhashed == []
    assert all(len(h) == 64 for _, hashes in lock.values() for h in hashes)


def test_the_dev_lock_has_productions_packages_at_the_same_versions():
    differing = {
        name: (version, DEV.get(name, (None,))[0])
        for name, (version, _) in RUNTIME.items()
        if DEV.get(name, (None,))[0] != version
    }

    assert differing == {}
