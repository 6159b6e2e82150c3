"""What both floors do per request: parse the path (and the JSON body), run ONE statement on
the bench-only table `bench_floor` (bench/seed.py fills it with the same 40,000 records the app
holds), answer JSON. No token check, no validation beyond parsing, no audit: the floor of the
stack, not a rival implementation. Used by bench/floor_wsgi.py (psycopg) and
bench/floor_django_settings.py (Django's connection); never routed in the app.
"""

import json
import re

TABLE = "bench_floor"
ROUTE = re.compile(r"^/1\.0/tenants/([^/]+)/integrations(?:/([^/]+))?/?$")
RECORD = "(jsonb_build_object('id', ident, 'type', provider) || data)::text"

CREATE_TABLE = f"""
CREATE TABLE {TABLE} (
    tenant text NOT NULL,
    ident text NOT NULL,
    provider text NOT NULL,
    data jsonb NOT NULL,
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, ident)
)"""

UPSERT = f"""
INSERT INTO {TABLE} AS f (tenant, ident, provider, data) VALUES (%s, %s, %s, %s::jsonb)
ON CONFLICT (tenant, ident) DO UPDATE
    SET provider = EXCLUDED.provider, data = EXCLUDED.data, version = f.version + 1,
        updated_at = now()
RETURNING (xmax = 0), {RECORD}"""  # noqa: S608 (constant names only)

PATCH = f"""
UPDATE {TABLE} SET data = data || %s::jsonb, version = version + 1, updated_at = now()
WHERE tenant = %s AND ident = %s RETURNING {RECORD}"""  # noqa: S608

GET_ONE = f"SELECT {RECORD} FROM {TABLE} WHERE tenant = %s AND ident = %s"  # noqa: S608
GET_LIST = f"""
SELECT coalesce(json_agg({RECORD}::json ORDER BY ident), '[]')::text
FROM {TABLE} WHERE tenant = %s"""  # noqa: S608


def handle(cursor, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """(status, JSON body) of one request; `cursor` is a DB-API cursor in autocommit mode."""
    match = ROUTE.match(path)
    if match is None:
        return 404, b'{"error": "Not found."}'
    tenant, ident = match.groups()
    if method == "GET":
        if ident is None:
            cursor.execute(GET_LIST, (tenant,))
        else:
            cursor.execute(GET_ONE, (tenant, ident))
        row = cursor.fetchone()
        return (200, row[0].encode()) if row else (404, b'{"error": "Not found."}')
    if ident is None:
        return 405, b'{"error": "Method not allowed."}'
    try:
        data = json.loads(body)
    except ValueError:
        return 400, b'{"error": "Invalid JSON."}'
    if not isinstance(data, dict):
        return 400, b'{"error": "Invalid JSON."}'
    if method == "POST":
        provider = data.pop("type", ident)
        cursor.execute(UPSERT, (tenant, ident, provider, json.dumps(data)))
        created, record = cursor.fetchone()
        return (201 if created else 200), record.encode()
    if method == "PATCH":
        cursor.execute(PATCH, (json.dumps(data), tenant, ident))
        row = cursor.fetchone()
        return (200, row[0].encode()) if row else (404, b'{"error": "Not found."}')
    return 405, b'{"error": "Method not allowed."}'
