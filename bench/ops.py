"""The measured operations, defined once: wrk's Lua script (bench/wrk/ops.lua) and the
in-process CPU measurement (bench/cpu.py) both fill in these templates.

`{tenant}` is a random seeded tenant (t000001 ... tNNNNNN, see bench/seed.py), `{n}` a value
unique within the run (so "create" makes a new id every time and writes change something).
"""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str
    body: str = ""
    # "api": the app and both floors serve it; "page": the app only, with a staff session.
    kind: str = "api"
    # The scopes of the token an "api" operation sends (bench/seed.py, api_token): "every",
    # so secrets are answered in clear and each reveal is audited, as the API documents them;
    # "read" alone, so secrets are masked and nothing is revealed.
    scopes: str = "every"
    # In a run without --ops; the others only when named.
    default: bool = True


TWILIO = '{"type": "twilio", "account": "AC{n}", "password": "pw-{n}"}'
INTEGRATIONS = "/1.0/tenants/{tenant}/integrations"

OPS = [
    Op("post_replace", "POST", INTEGRATIONS + "/twilio", TWILIO),
    Op("post_create", "POST", INTEGRATIONS + "/twilio-{n}", TWILIO),
    Op("get_one", "GET", INTEGRATIONS + "/twilio"),
    Op("get_list", "GET", INTEGRATIONS),
    # GET one without a reveal: what recording each reveal in the read's statement costs.
    Op("get_one_masked", "GET", INTEGRATIONS + "/twilio", scopes="read", default=False),
    Op("patch_secret", "PATCH", INTEGRATIONS + "/twilio", '{"password": "rotated-{n}"}'),
    Op("staff_tenant_list", "GET", "/", kind="page"),
    Op("staff_search", "GET", "/?q=corp", kind="page"),
    Op("staff_tenant_page", "GET", "/tenants/{tenant}/", kind="page"),
    Op("admin_integration_list", "GET", "/admin/integrations/integration/", kind="page"),
    Op("admin_tenant_list", "GET", "/admin/tenants/tenant/", kind="page"),
]
BY_NAME = {op.name: op for op in OPS}
DEFAULT_OPS = [op.name for op in OPS if op.default]


def auth_for(op: Op, tokens: dict[str, str], cookie: str) -> str:
    """What `op`'s requests carry: "Bearer <token>" for the API (`tokens`: the plaintext of a
    token by its scopes, "every" and "read": Op.scopes), the staff session's Cookie value for a
    page."""
    return f"Bearer {tokens[op.scopes]}" if op.kind == "api" else cookie


def tenant_name(number: int) -> str:
    return f"t{number:06d}"


def fill(template: str, *, tenant: str, n: str) -> str:
    return template.replace("{tenant}", tenant).replace("{n}", n)


def requests_for(op: Op, *, tenants: int, prefix: str, seed: int = 1):
    """Endless (method, path, body) of `op`, as the Lua script makes them."""
    rng = random.Random(seed)  # noqa: S311 (load generation, not security)
    counter = 0
    while True:
        counter += 1
        tenant = tenant_name(rng.randint(1, tenants))
        n = f"{prefix}-0-{counter}"
        yield op.method, fill(op.path, tenant=tenant, n=n), fill(op.body, tenant=tenant, n=n)
