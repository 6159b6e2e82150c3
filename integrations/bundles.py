"""The encrypted bundle file that `export_integrations` writes and `import_integrations` reads.

A bundle holds secrets in clear inside, so the whole payload is encrypted under a key derived
from a passphrase. Two lines of ASCII:

    {"cipher":"fernet","format":"integration-registry-bundle","kdf":{...},"version":1}
    gAAAAAB...                     (the Fernet token of the payload, URL-safe base64)

The header says what is needed to derive the key again: the format version and the KDF with
its parameters and random salt (scrypt, n=2**17, r=8, p=1, 32 bytes). The key is Fernet's
(AES-128-CBC + HMAC-SHA256: authenticated), so a wrong passphrase, a changed byte or a cut
file fails to decrypt; the payload also holds the SHA-256 of the exact header line, so a
change to the header that leaves the key alone (its version, spacing) fails too.

`cryptography` only: no home-made crypto, no new dependency.
"""

import base64
import binascii
import getpass
import hashlib
import json
import os
import sys
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from django.views.decorators.debug import sensitive_variables

FORMAT = "integration-registry-bundle"
FORMAT_VERSION = 1
PASSPHRASE_ENV = "REGISTRY_BUNDLE_PASSPHRASE"  # noqa: S105 (a variable name)
MIN_PASSPHRASE_LENGTH = 12
# Written: OWASP's scrypt parameters (128 MiB, about a second). Read: bounded, so that a
# crafted header cannot ask for gigabytes of memory or hours of work.
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LENGTH, SALT_BYTES = 2**17, 8, 1, 32, 16
N_RANGE, R_RANGE, P_RANGE, SALT_RANGE = (2**15, 2**20), (1, 16), (1, 4), (16, 64)
HEADER_DIGEST_KEY = "header-sha256"

CANNOT_DECRYPT = (
    "Cannot decrypt the bundle: wrong passphrase, or the file was changed or cut short."
)


class BundleError(Exception):
    """The bundle cannot be written or read; the message is a sentence safe to show (it holds
    no passphrase and no secret)."""


def check_passphrase(passphrase: str) -> None:
    """Raises BundleError when `passphrase` is too short to protect secrets."""
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise BundleError(
            f"The passphrase must be at least {MIN_PASSPHRASE_LENGTH} characters long."
        )


@sensitive_variables("passphrase", "again")
def read_passphrase(*, confirm: bool) -> str:
    """The bundle passphrase: the environment variable REGISTRY_BUNDLE_PASSPHRASE if set and
    not empty, else asked on the terminal (twice when `confirm`). Never a command-line argument:
    those show in `ps`. Raises BundleError with no terminal to ask on, or when the two typed
    passphrases differ."""
    passphrase = os.environ.get(PASSPHRASE_ENV, "")
    if passphrase:
        return passphrase
    if not sys.stdin.isatty():
        raise BundleError(
            f"No passphrase: set the environment variable {PASSPHRASE_ENV}, or run the command "
            "on a terminal to be asked for it."
        )
    passphrase = getpass.getpass("Bundle passphrase: ")
    if confirm:
        again = getpass.getpass("The same passphrase again: ")
        if again != passphrase:
            raise BundleError("The two passphrases differ.")
    return passphrase


@sensitive_variables("passphrase", "payload", "plaintext", "key")
def seal(payload: dict[str, Any], passphrase: str, *, n: int = SCRYPT_N) -> bytes:
    """The bundle file's bytes for `payload` (a JSON-serialisable dict, secrets in clear),
    encrypted under a key derived from `passphrase` with a fresh random salt.

    Raises BundleError for a passphrase shorter than MIN_PASSPHRASE_LENGTH.
    """
    check_passphrase(passphrase)
    kdf = {
        "name": "scrypt",
        "n": n,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "length": KEY_LENGTH,
        "salt": base64.b64encode(os.urandom(SALT_BYTES)).decode(),
    }
    header = {"format": FORMAT, "version": FORMAT_VERSION, "kdf": kdf, "cipher": "fernet"}
    header_line = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    _check_kdf(kdf)
    key = _derive(passphrase, kdf)
    body = {HEADER_DIGEST_KEY: hashlib.sha256(header_line).hexdigest(), **payload}
    plaintext = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return header_line + b"\n" + Fernet(key).encrypt(plaintext) + b"\n"


def read_header(data: bytes) -> dict[str, Any]:
    """The header of the bundle `data`, checked (format, version, KDF bounds) but not
    authenticated yet (open_bundle does that). Raises BundleError for anything else."""
    header_line, newline, _ = data.partition(b"\n")
    if not newline:
        raise BundleError("Not a registry bundle, or cut short: it has no header line.")
    try:
        header = json.loads(header_line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BundleError("Not a registry bundle: its first line is not a JSON header.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BundleError(f"Not a registry bundle: its header does not say format '{FORMAT}'.")
    if header.get("version") != FORMAT_VERSION:
        raise BundleError(
            f"Bundle format version {header.get('version')!r} is not supported; this version "
            f"of the registry reads version {FORMAT_VERSION}."
        )
    if header.get("cipher") != "fernet":
        raise BundleError("The bundle's header names an unsupported cipher.")
    _check_kdf(header.get("kdf"))
    return header


@sensitive_variables("passphrase", "plaintext", "key")
def open_bundle(data: bytes, passphrase: str) -> dict[str, Any]:
    """The payload of the bundle `data` (the dict given to seal, secrets in clear).

    Raises BundleError when it is not a bundle, is of another format version, does not decrypt
    (wrong passphrase, a changed or missing byte anywhere) or holds no JSON object.
    """
    header = read_header(data)
    header_line, _, rest = data.partition(b"\n")
    token = rest.removesuffix(b"\n")
    if not rest.endswith(b"\n") or b"\n" in token or not _canonical_base64(token):
        # Fernet would refuse most of these too; a strict check also catches a change in the
        # unused bits of the last base64 character, which decodes to the same bytes.
        raise BundleError(CANNOT_DECRYPT)
    key = _derive(passphrase, header["kdf"])
    try:
        plaintext = Fernet(key).decrypt(token)
    except InvalidToken:
        raise BundleError(CANNOT_DECRYPT) from None
    try:
        body = json.loads(plaintext)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BundleError("The bundle decrypts but holds no JSON payload.") from None
    if not isinstance(body, dict):
        raise BundleError("The bundle decrypts but its payload is not a JSON object.")
    if body.pop(HEADER_DIGEST_KEY, None) != hashlib.sha256(header_line).hexdigest():
        raise BundleError("The bundle's header was changed after it was written.")
    return body


def _check_kdf(kdf: Any) -> None:
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise BundleError("The bundle's header names an unsupported key derivation.")
    for name, (low, high) in (("n", N_RANGE), ("r", R_RANGE), ("p", P_RANGE)):
        value = kdf.get(name)
        if type(value) is not int or not low <= value <= high:
            raise BundleError(f"The bundle's scrypt parameter {name} is out of bounds.")
    if kdf["n"] & (kdf["n"] - 1) or kdf.get("length") != KEY_LENGTH:
        raise BundleError("The bundle's scrypt parameters are not valid.")
    try:
        salt = base64.b64decode(kdf.get("salt", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise BundleError("The bundle's salt is not valid base64.") from None
    if not SALT_RANGE[0] <= len(salt) <= SALT_RANGE[1]:
        raise BundleError("The bundle's salt has a wrong length.")


@sensitive_variables("passphrase")
def _derive(passphrase: str, kdf: dict[str, Any]) -> bytes:
    """The Fernet key (URL-safe base64 of 32 bytes) for `passphrase` under checked `kdf`."""
    scrypt = Scrypt(
        salt=base64.b64decode(kdf["salt"]),
        length=kdf["length"],
        n=kdf["n"],
        r=kdf["r"],
        p=kdf["p"],
    )
    try:
        raw = scrypt.derive(passphrase.encode("utf-8"))
    except (MemoryError, UnsupportedAlgorithm):
        raise BundleError("Cannot derive the key: scrypt failed with these parameters.") from None
    return base64.urlsafe_b64encode(raw)


def _canonical_base64(token: bytes) -> bool:
    try:
        return base64.urlsafe_b64encode(base64.urlsafe_b64decode(token)) == token
    except (binascii.Error, ValueError):
        return False
