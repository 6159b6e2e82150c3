"""pip-audit over the locked set (requirements-dev.txt holds every locked package: production's
requirements.txt and the dev tools, at the same versions). Run by `make audit` and .ci/run.

Exit 1 when a locked package has a known vulnerability (or pip-audit fails for another
reason). When the advisory service cannot be reached (no network, DNS failure, timeout, or it
answers for no package at all), it warns loudly and exits 0: a CI run is not failed by an
outage elsewhere, and the warning says plainly that nothing was audited.

PIP_AUDIT_SERVICE picks the advisory service (pip-audit's `pypi`, the default, or `osv`).
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-dev.txt"
TIMEOUT_SECONDS = 600
UNREACHABLE = (
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "Max retries exceeded",
    "NameResolutionError",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Connection refused",
    "ProxyError",
    "SSLError",
    "ServiceError",
)


def warn(message: str) -> int:
    print(f"WARNING: pip-audit: {message}", file=sys.stderr)
    print("WARNING: the locked set was NOT audited in this run.", file=sys.stderr)
    return 0


def main() -> int:
    service = os.environ.get("PIP_AUDIT_SERVICE", "pypi")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        command = [
            str(Path(sys.executable).with_name("pip-audit")),
            "--requirement",
            str(LOCK),
            "--require-hashes",
            "--disable-pip",  # audit the lock as written; nothing is installed
            "--vulnerability-service",
            service,
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(report),
        ]
        print(f"== pip-audit ({service}) of {LOCK.name}", flush=True)
        try:
            done = subprocess.run(  # noqa: S603 (a fixed command)
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired:
            return warn(f"no answer within {TIMEOUT_SECONDS} s")
        found = json.loads(report.read_text()) if report.exists() else None

    if found is None:
        if any(sign in done.stderr for sign in UNREACHABLE):
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            return warn(f"the advisory service could not be reached ({last[:300]})")
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
        return done.returncode or 1

    dependencies = found["dependencies"]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    audited = [d for d in dependencies if "skip_reason" not in d]
    skipped = [d for d in dependencies if "skip_reason" in d]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(
                f"VULNERABLE {dependency['name']}=={dependency['version']}: {vuln['id']} "
                f"(fixed in: {fixed}) {vuln.get('description', '')[:200]}"
            )
    if vulnerable:
        print(
            f"{len(vulnerable)} locked package(s) with known vulnerabilities: upgrade them "
            "(make lock UPGRADE_PACKAGES=...) or record why not."
        )
        return 1
    if not audited:
        reason = skipped[0]["skip_reason"] if skipped else "no package in the lock"
        return warn(f"the advisory service answered for no package (e.g. {reason})")
    print(f"No known vulnerabilities in {len(audited)} locked packages.")
    if skipped:
        print(f"Not audited ({len(skipped)}): " + ", ".join(d["name"] for d in skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
