"""Throughput of `manage.py verify_integrations` against the local fake providers.

Seeds N integrations (a quarter per provider, one in ten with refused credentials) in a fresh
SQLite file (or in the PostgreSQL database of --database-url, which must exist and be empty:
it is migrated here), starts tests/fake_providers.py on 127.0.0.1, and runs the real command
line once per concurrency given. Prints the command's table and summary line (per second).

    env SECRET_KEY=... FIELD_ENCRYPTION_KEYS=... .venv/bin/python tests/benchmarks/bench_verify.py \
        [--integrations 1000] [--concurrency 1 8 16] [--database-url postgres://...]

The fake server runs in this process and the command in another, on the same cores: the
figure is the registry's own cost per verification (HTTP client, database writes, audit),
not a provider's latency; real providers answer in 100-500 ms, so a nightly run is bound by
their latency and --concurrency, not by this.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests import fake_providers  # noqa: E402
from tests.integrations.support import fresh_database, manage  # noqa: E402

SEED = """
from tests.factories import PROVIDER_FACTORIES, TenantFactory
from tests.fake_providers import ACCEPTED, REFUSED
tenants = [TenantFactory(name=f"bench-{{n}}") for n in range({count} // 40 + 1)]
for n in range({count}):
    factory = PROVIDER_FACTORIES[n % 4]
    key = factory._meta.model.provider_key
    credentials = REFUSED[key] if n % 10 == 9 else ACCEPTED[key]
    factory(tenant=tenants[n // 40], ident=f"{{key}}-{{n}}", **credentials)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--integrations", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    fake = fake_providers.start()
    env = {**fake.settings(), "VERIFY_CONNECT_TIMEOUT": "5", "VERIFY_READ_TIMEOUT": "10"}
    with tempfile.TemporaryDirectory() as directory:
        database = Path(directory) / "bench.sqlite3"
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
            assert manage(database, "migrate", "--noinput", env=env).returncode == 0
        else:
            fresh_database(database)
        started = time.monotonic()
        seed = SEED.format(count=args.integrations)
        seeded = manage(database, "shell", "--no-imports", "-c", seed, env=env)
        assert seeded.returncode == 0, seeded.stderr
        print(f"seeded {args.integrations} integrations in {time.monotonic() - started:.1f} s")
        for concurrency in args.concurrency:
            result = manage(
                database, "verify_integrations", "--concurrency", str(concurrency), env=env
            )
            lines = [x for x in result.stdout.splitlines() if not x.startswith("Verifying:")]
            print("\n".join(lines) if lines else result.stderr)
    fake.stop()


if __name__ == "__main__":
    main()
