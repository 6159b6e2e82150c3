"""A bundle that decrypts (the passphrase is right) but holds a hostile payload is a clear
BundleError, never a crash with a traceback."""

import pytest

from integrations.bundles import BundleError, open_bundle, seal

PASSPHRASE = "a-long-enough-passphrase"


def test_a_payload_nested_past_the_parsers_depth_is_a_bundle_error(monkeypatch):
    import integrations.bundles as bundles

    real_dumps = bundles.json.dumps

    def deep_payload(value, **kwargs):
        # The header is written as usual; the payload is 100,000 nested lists.
        if "tenants" in value:
            return '{"tenants": ' + "[" * 100_000 + "]" * 100_000 + "}"
        return real_dumps(value, **kwargs)

    monkeypatch.setattr(bundles.json, "dumps", deep_payload)
    sealed = seal({"tenants": []}, PASSPHRASE, n=2**15)
    monkeypatch.undo()

    with pytest.raises(BundleError, match="holds no JSON payload"):
        open_bundle(sealed, PASSPHRASE)
