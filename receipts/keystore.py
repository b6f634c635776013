"""Where the private signing keys live: a setting or files, never the database.

- `KYODAKU_SIGNING_KEY`: the active key as a PKCS#8 PEM (for deployments that inject secrets as environment
  variables). It is the active key; rotating means changing the setting.
- Otherwise `KYODAKU_SIGNING_KEY_DIR/<kid>.pem` (mode 0600, directory 0700), written by `rotate_signing_key` or,
  when `KYODAKU_SIGNING_KEY_AUTOCREATE` is on (dev, test), on first use.

A key's id is its RFC 7638 JWK thumbprint, so a key file, a setting and the published JWKS always agree on it.
"""
import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from joserfc.jwk import OKPKey

CURVE = "Ed25519"


def key_dir() -> Path:
    return Path(settings.KYODAKU_SIGNING_KEY_DIR)


def key_path(kid: str) -> Path:
    if not kid or "/" in kid or "\\" in kid or kid.startswith("."):
        raise ValueError(f"not a key id: {kid!r}")
    return key_dir() / f"{kid}.pem"


def kid_of(key: OKPKey) -> str:
    return key.thumbprint()


def public_jwk(key: OKPKey) -> dict:
    return {"kty": "OKP", "crv": CURVE, "x": key.as_dict(private=False)["x"]}


def generate_key() -> OKPKey:
    return OKPKey.generate_key(CURVE)


def _import_private(pem: bytes | str, origin: str) -> OKPKey:
    try:
        key = OKPKey.import_key(pem)
    except Exception as exc:  # any parse failure is a configuration error, reported with its origin
        raise ImproperlyConfigured(f"{origin} is not a PEM-encoded Ed25519 private key ({exc}).") from exc
    if not key.is_private or key.as_dict(private=False).get("crv") != CURVE:
        raise ImproperlyConfigured(f"{origin} is not an Ed25519 private key.")
    return key


def setting_key() -> OKPKey | None:
    """The key given by the KYODAKU_SIGNING_KEY setting, if any."""
    pem = getattr(settings, "KYODAKU_SIGNING_KEY", "") or ""
    if not pem.strip():
        return None
    return _import_private(pem.replace("\\n", "\n"), "KYODAKU_SIGNING_KEY")


def write_key(key: OKPKey) -> Path:
    """Store a new private key as `<kid>.pem`, readable by this user only; never overwrites a file."""
    directory = key_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = key_path(kid_of(key))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.as_pem(private=True))
    return path


def load_key(kid: str) -> OKPKey | None:
    """The private key with this id, from the setting or the key directory; None when neither holds it."""
    from_setting = setting_key()
    if from_setting is not None and kid_of(from_setting) == kid:
        return from_setting
    path = key_path(kid)
    if not path.exists():
        return None
    key = _import_private(path.read_bytes(), str(path))
    if kid_of(key) != kid:
        raise ImproperlyConfigured(f"{path} holds key {kid_of(key)}, not {kid}.")
    return key


def discard_key(kid: str) -> bool:
    """Delete a retired key's private file (its public key stays published). True when a file was removed."""
    path = key_path(kid)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
