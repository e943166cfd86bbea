"""Certificates, file encryption and artifact signatures with `cryptography` (module 08).

`make_self_signed_cert` makes a key and certificate for HTTPS on 127.0.0.1;
`make_tls_certs` makes a certificate authority and a certificate for each role of a
mutual-TLS deployment (a Dask grading cluster's scheduler, workers and client);
`encrypt_file`/`decrypt_file` protect a model at rest (Fernet: AES-128-CBC with an
HMAC-SHA256 tag, so a wrong key or a changed byte is refused), and `read_encrypted`
gives a server the plain bytes in memory with the key from an environment variable;
`sign_file`/`verify_file` refuse a model whose bytes changed since it was signed, with a
shared secret (HMAC-SHA256) or a key pair (Ed25519: only the publisher can sign, anyone
can verify).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.x509.oid import NameOID

from mlkit.errors import MlkitError

HMAC_METHOD = "hmac-sha256"
ED25519_METHOD = "ed25519"


class DecryptionError(MlkitError, ValueError):
    """A file could not be decrypted: the key is wrong or the file was changed."""


class MissingKeyError(MlkitError, LookupError):
    """The environment variable that should hold a key is not set (or is empty)."""

    def __init__(self, variable: str, path: Path):
        self.variable, self.path = variable, path
        super().__init__(
            f"{path.name} is encrypted and the key to read it is not set: the environment "
            f"variable {variable} is missing or empty. Set {variable} from your secret store "
            "(the key that encrypted it, as generate_key() printed it) and start again; never "
            "keep the key next to the file."
        )


class TamperedArtifactError(MlkitError, ValueError):
    """A file's bytes do not match its signature; do not load it."""

    def __init__(self, path: Path, expected: str, actual: str):
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"{path}: signature check failed, the file changed since it was signed "
            f"(expected {expected[:16]}…, got {actual[:16]}…). Refusing to load it; "
            "get the artifact again from a source you trust."
        )


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


def make_self_signed_cert(
    folder: str | os.PathLike, host: str = "127.0.0.1", days: int = 7
) -> CertPair:
    """A self-signed certificate for `host` (and `localhost`) with its key, in `folder`.

    The key file gets mode 0600. A client trusts it when told to, with
    `httpx.Client(verify=ssl.create_default_context(cafile=pair.cert))`; a client with
    the default trust refuses it.
    """
    if days < 1:
        raise ValueError(f"days: got {days}, expected a whole number of days >= 1.")
    try:
        host_ip = ipaddress.ip_address(host)
    except ValueError as err:
        raise ValueError(f"host: got {host!r}, expected an IP address such as 127.0.0.1.") from err
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlkit local service")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(host_ip), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pair = CertPair(cert=folder / "cert.pem", key=folder / "key.pem")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private_key(pair.key, key)
    return pair


@dataclass(frozen=True)
class TLSFiles:
    """A certificate authority's certificate and, per role, a certificate it signed."""

    ca: Path
    pairs: dict[str, CertPair]


def make_tls_certs(
    folder: str | os.PathLike,
    roles: tuple[str, ...] = ("scheduler", "worker", "client"),
    hosts: tuple[str, ...] = ("127.0.0.1",),
    days: int = 365,
    authority: str = "mlkit grading cluster CA",
) -> TLSFiles:
    """A new certificate authority (`ca.pem`) and, for each role, `ROLE.pem` and
    `ROLE-key.pem` signed by it, in `folder` (module 08's TLS: its HTTPS service with
    `roles=("server",)`, and a grading cluster).

    Each certificate serves and authenticates both ways (mutual TLS: every party checks
    the other's certificate against ca.pem) and names `hosts` (IP addresses or DNS
    names) and `localhost`. The authority's own key is not kept: nobody can sign another
    certificate it would trust; run this again for a new set. `authority` is the CA's
    common name. Keys get mode 0600.
    """
    if days < 1:
        raise ValueError(f"days: got {days}, expected a whole number of days >= 1.")
    if not roles or any(not role.isidentifier() for role in roles):
        raise ValueError(f"roles: got {roles!r}, expected names such as 'scheduler', 'worker'.")
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c.isspace() or c in "/:" for c in host):
                raise ValueError(
                    f"hosts: got {host!r}, expected IP addresses or DNS names (e.g. 10.0.0.5)."
                ) from None
            names.append(x509.DNSName(host))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    if not (isinstance(authority, str) and authority.strip()):
        raise ValueError(
            f"authority: got {authority!r}, expected a name such as 'churn service CA'."
        )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, authority)])
    ca_cert = (
        _certificate(ca_name, ca_name, ca_key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = folder / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pairs = {}
    for role in roles:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"mlkit {role}")])
        cert = (
            _certificate(subject, ca_name, key.public_key(), now, days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        pair = CertPair(cert=folder / f"{role}.pem", key=folder / f"{role}-key.pem")
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private_key(pair.key, key)
        pairs[role] = pair
    return TLSFiles(ca=ca_path, pairs=pairs)


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    days: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write key as unencrypted PKCS8 PEM, readable by its owner only (mode 0600)."""
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_pem)
    os.chmod(path, 0o600)


def generate_key() -> str:
    """A new random key for `encrypt_file`, as text to keep in an environment variable."""
    return Fernet.generate_key().decode()


def _fernet(key: str | bytes) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError) as err:
        raise ValueError(
            "key: expected a key from generate_key() (32 bytes, url-safe base64, 44 characters); "
            f"got {type(key).__name__} of length {len(key) if hasattr(key, '__len__') else '?'}."
        ) from err


def encrypt_file(src: str | os.PathLike, dst: str | os.PathLike, key: str | bytes) -> Path:
    """Write `src` encrypted with `key` to `dst` and return `dst`."""
    token = _fernet(key).encrypt(Path(src).read_bytes())
    Path(dst).write_bytes(token)
    return Path(dst)


def decrypt_file(src: str | os.PathLike, dst: str | os.PathLike, key: str | bytes) -> Path:
    """Write `src` decrypted with `key` to `dst` and return `dst`.

    Raises `DecryptionError` when the key is not the one it was encrypted with or the
    encrypted file was changed (Fernet checks an HMAC before decrypting anything).
    """
    try:
        plain = _fernet(key).decrypt(Path(src).read_bytes())
    except InvalidToken as err:
        raise DecryptionError(
            f"src: {src} cannot be decrypted with this key: the key is wrong or the file was "
            "changed after encryption. Check the key variable that was used to encrypt it."
        ) from err
    Path(dst).write_bytes(plain)
    return Path(dst)


def read_encrypted(path: str | os.PathLike, key_env: str) -> bytes:
    """The plain bytes of `path`, encrypted by `encrypt_file`, with the key in the environment
    variable `key_env`; nothing plain is written to disk (module 08).

    Raises `MissingKeyError` naming the variable when it is not set, and `DecryptionError`
    when the key is not the one that encrypted the file or the file changed.
    """
    if not (isinstance(key_env, str) and key_env.isidentifier()):
        raise ValueError(
            f"key_env: got {key_env!r}, expected a variable name such as 'CHURN_MODEL_KEY'."
        )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no encrypted file at '{path}'.")
    key = os.environ.get(key_env, "")
    if not key:
        raise MissingKeyError(key_env, path)
    try:
        fernet = _fernet(key)
    except ValueError as err:
        raise ValueError(f"{key_env}: {err}") from None
    try:
        return fernet.decrypt(path.read_bytes())
    except InvalidToken as err:
        raise DecryptionError(
            f"path: {path.name} cannot be decrypted with the key in {key_env}: the key is wrong "
            "or the file was changed after encryption."
        ) from err


def _hmac_hex(path: Path, key: str | bytes) -> str:
    secret = key.encode() if isinstance(key, str) else key
    if len(secret) < 16:
        raise ValueError(f"key: got {len(secret)} bytes, expected a secret of at least 16 bytes.")
    return hmac.new(secret, path.read_bytes(), hashlib.sha256).hexdigest()


def sign_file(path: str | os.PathLike, key: str | bytes | Ed25519PrivateKey) -> str:
    """A signature of the file's bytes: `hmac-sha256:<hex>`, or `ed25519:<hex>` with a key pair.

    Keep the signature next to the artifact (or in its metadata) and check it with
    `verify_file` before loading.
    """
    path = Path(path)
    if isinstance(key, Ed25519PrivateKey):
        return f"{ED25519_METHOD}:{key.sign(path.read_bytes()).hex()}"
    if isinstance(key, str | bytes):
        return f"{HMAC_METHOD}:{_hmac_hex(path, key)}"
    raise TypeError(
        f"key: got {type(key).__name__}, expected a shared secret (str or bytes) "
        "or an Ed25519PrivateKey."
    )


def verify_file(
    path: str | os.PathLike, signature: str, key: str | bytes | Ed25519PublicKey
) -> None:
    """Check the file against `signature` from `sign_file`; raise `TamperedArtifactError` if not.

    HMAC signatures are compared in constant time (`hmac.compare_digest`); Ed25519 ones
    are checked with the publisher's public key.
    """
    path = Path(path)
    method, _, expected = str(signature).partition(":")
    if method == HMAC_METHOD and isinstance(key, str | bytes):
        actual = _hmac_hex(path, key)
        if not hmac.compare_digest(actual, expected):
            raise TamperedArtifactError(path, expected, actual)
    elif method == ED25519_METHOD and isinstance(key, Ed25519PublicKey):
        try:
            key.verify(bytes.fromhex(expected), path.read_bytes())
        except (InvalidSignature, ValueError) as err:
            actual = "sha256 " + hashlib.sha256(path.read_bytes()).hexdigest()
            raise TamperedArtifactError(path, expected, actual) from err
    else:
        raise ValueError(
            f"signature/key: got a {method or 'unlabelled'!r} signature with a "
            f"{type(key).__name__} key; expected '{HMAC_METHOD}:…' with a shared secret, "
            f"or '{ED25519_METHOD}:…' with an Ed25519PublicKey."
        )
