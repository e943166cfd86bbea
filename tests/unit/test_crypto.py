"""mlkit.crypto: a certificate clients can verify, encryption at rest, signed artifacts."""

from __future__ import annotations

import http.server
import ssl
import stat
import threading
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlkit._runtime.net import http_ok
from mlkit.crypto import (
    CertPair,
    DecryptionError,
    MissingKeyError,
    TamperedArtifactError,
    decrypt_file,
    encrypt_file,
    generate_key,
    make_self_signed_cert,
    make_tls_certs,
    read_encrypted,
    sign_file,
    verify_file,
)

SECRET = "a-shared-secret-of-32-characters"


def test_certificate_names_loopback_and_protects_its_key(tmp_path):
    pair = make_self_signed_cert(tmp_path, days=3)
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 3
    assert stat.S_IMODE(pair.key.stat().st_mode) == 0o600


def test_certificate_rejects_a_host_name(tmp_path):
    with pytest.raises(ValueError, match="host: got 'example.org'"):
        make_self_signed_cert(tmp_path, host="example.org")


class OkHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def https_server(tmp_path) -> Iterator[tuple[str, CertPair]]:
    pair = make_self_signed_cert(tmp_path)
    server = http.server.HTTPServer(("127.0.0.1", 0), OkHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", pair
    finally:
        server.shutdown()
        server.server_close()


def test_client_trusting_the_certificate_connects_and_default_trust_refuses(https_server):
    url, pair = https_server
    trusting = ssl.create_default_context(cafile=pair.cert)
    assert httpx.get(url, verify=trusting).text == "ok"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url)


def test_encrypted_file_round_trips_and_hides_the_bytes(tmp_path):
    plain = tmp_path / "model.bin"
    plain.write_bytes(b"weights " * 100)
    key = generate_key()
    encrypt_file(plain, tmp_path / "model.enc", key)
    assert b"weights" not in (tmp_path / "model.enc").read_bytes()
    decrypt_file(tmp_path / "model.enc", tmp_path / "back.bin", key)
    assert (tmp_path / "back.bin").read_bytes() == plain.read_bytes()


def test_wrong_key_raises_decryption_error(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"weights")
    encrypt_file(tmp_path / "model.bin", tmp_path / "model.enc", generate_key())
    with pytest.raises(DecryptionError, match="cannot be decrypted with this key"):
        decrypt_file(tmp_path / "model.enc", tmp_path / "back.bin", generate_key())
    assert not (tmp_path / "back.bin").exists()


def test_malformed_key_is_named(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"weights")
    with pytest.raises(ValueError, match="key: expected a key from generate_key"):
        encrypt_file(tmp_path / "model.bin", tmp_path / "model.enc", "hunter2")


def test_read_encrypted_takes_its_key_from_the_environment(tmp_path, monkeypatch):
    plain = b"weights " * 100
    (tmp_path / "model.bin").write_bytes(plain)
    key = generate_key()
    encrypted = encrypt_file(tmp_path / "model.bin", tmp_path / "model.enc", key)
    (tmp_path / "model.bin").unlink()
    monkeypatch.delenv("TEST_MODEL_KEY", raising=False)
    with pytest.raises(MissingKeyError, match="TEST_MODEL_KEY is missing or empty") as missing:
        read_encrypted(encrypted, "TEST_MODEL_KEY")
    assert missing.value.variable == "TEST_MODEL_KEY" and key not in str(missing.value)
    monkeypatch.setenv("TEST_MODEL_KEY", generate_key())
    with pytest.raises(DecryptionError, match="with the key in TEST_MODEL_KEY"):
        read_encrypted(encrypted, "TEST_MODEL_KEY")
    monkeypatch.setenv("TEST_MODEL_KEY", "hunter2")
    with pytest.raises(ValueError, match="TEST_MODEL_KEY: key: expected a key from generate_key"):
        read_encrypted(encrypted, "TEST_MODEL_KEY")
    monkeypatch.setenv("TEST_MODEL_KEY", key)
    assert read_encrypted(encrypted, "TEST_MODEL_KEY") == plain
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.enc"]  # nothing plain on disk


def test_tls_certs_name_their_authority(tmp_path):
    files = make_tls_certs(tmp_path, roles=("server",), authority="churn service CA")
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    assert ca.subject.rfc4514_string() == "CN=churn service CA"
    with pytest.raises(ValueError, match="authority: got ' '"):
        make_tls_certs(tmp_path / "again", roles=("server",), authority=" ")


def flip_one_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_hmac_signature_accepts_the_file_and_refuses_one_changed_byte(tmp_path):
    model = tmp_path / "model.skops"
    model.write_bytes(bytes(range(256)))
    signature = sign_file(model, SECRET)
    assert signature.startswith("hmac-sha256:")
    verify_file(model, signature, SECRET)
    flip_one_byte(model)
    with pytest.raises(TamperedArtifactError, match="model.skops: signature check failed") as err:
        verify_file(model, signature, SECRET)
    assert err.value.expected == signature.split(":")[1]
    assert err.value.actual != err.value.expected


def test_ed25519_signature_needs_the_matching_public_key(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"graph" * 50)
    publisher = Ed25519PrivateKey.generate()
    signature = sign_file(model, publisher)
    verify_file(model, signature, publisher.public_key())
    with pytest.raises(TamperedArtifactError):
        verify_file(model, signature, Ed25519PrivateKey.generate().public_key())
    flip_one_byte(model)
    with pytest.raises(TamperedArtifactError):
        verify_file(model, signature, publisher.public_key())


def test_signature_and_key_must_match_in_kind(tmp_path):
    model = tmp_path / "model.skops"
    model.write_bytes(b"x" * 10)
    signature = sign_file(model, SECRET)
    with pytest.raises(ValueError, match="signature/key: got a 'hmac-sha256' signature"):
        verify_file(model, signature, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ValueError, match="key: got 5 bytes"):
        sign_file(model, "short")


def test_readiness_polling_trusts_only_the_given_certificate(https_server):
    url, pair = https_server
    assert http_ok(url, cafile=str(pair.cert))
    assert not http_ok(url)


def test_tls_certs_are_signed_by_their_ca_and_serve_both_ways(tmp_path):
    files = make_tls_certs(tmp_path, hosts=("127.0.0.1", "grader.example.edu"))
    assert sorted(files.pairs) == ["client", "scheduler", "worker"]
    assert not (tmp_path / "ca-key.pem").exists()  # nobody can sign another trusted cert
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    for pair in files.pairs.values():
        assert stat.S_IMODE(pair.key.stat().st_mode) == 0o600
        cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
        cert.verify_directly_issued_by(ca)
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert set(usages) == {
            x509.ExtendedKeyUsageOID.SERVER_AUTH,
            x509.ExtendedKeyUsageOID.CLIENT_AUTH,
        }
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "grader.example.edu" in names.get_values_for_type(x509.DNSName)
        context = ssl.create_default_context(cafile=str(files.ca))
        context.load_cert_chain(pair.cert, pair.key)  # the key matches its certificate


@pytest.mark.parametrize("hosts", [("10.0.0.5:8786",), ("",), ("two words",)])
def test_tls_certs_refuse_a_host_that_is_no_name(tmp_path, hosts):
    with pytest.raises(ValueError, match="hosts: got"):
        make_tls_certs(tmp_path, hosts=hosts)
