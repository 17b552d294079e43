"""Keys made fresh at every start, never written anywhere but the state directory's public ``ca.pem``.

- A certificate authority and a server certificate for 127.0.0.1 and localhost (MSAL refuses plain http, so the
  emulator speaks HTTPS; clients trust ``ca.pem``).
- RS256 signing keys (RSA 2048), each with a self-signed certificate so the JWKS carries ``x5c``/``x5t`` like
  Entra's; the ``kid`` is the certificate's thumbprint, as Entra's is.
"""

import base64
import datetime
import hashlib
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=7)  # the emulator is restarted far more often than that


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64url(number: int) -> str:
    return b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, issuer, public_key, signing_key, *, ca: bool, extensions=()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


# ---- signing keys ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self, issuer: str) -> dict:
        """The public key as Entra publishes it in its JWKS."""
        numbers = self.public_key.public_numbers()
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _int_b64url(numbers.n),
            "e": _int_b64url(numbers.e),
            "x5c": [base64.b64encode(der).decode("ascii")],
            "issuer": issuer,
        }


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_signing_key() -> SigningKey:
    key = new_rsa_key()
    name = _name("accounts.emulated-entra.invalid")
    certificate = _certificate(name, name, key.public_key(), key, ca=False)
    kid = b64url(hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER)).digest())  # noqa: S324 - x5t is SHA-1
    return SigningKey(kid, key, certificate)


# ---- TLS -------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSMaterial:
    ca_certificate: x509.Certificate
    server_certificate: x509.Certificate
    server_key: ec.EllipticCurvePrivateKey

    def ca_pem(self) -> bytes:
        return self.ca_certificate.public_bytes(serialization.Encoding.PEM)

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side TLS context. The private key touches disk only for the instant ``ssl`` needs a file."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        key_pem = self.server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        chain_pem = self.server_certificate.public_bytes(serialization.Encoding.PEM) + self.ca_pem()
        fd, path = tempfile.mkstemp(suffix=".pem")  # created 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(chain_pem + key_pem)
            context.load_cert_chain(path)
        finally:
            os.unlink(path)
        return context


def new_tls_material(host_names: list[str]) -> TLSMaterial:
    """A CA and a server certificate it signs, valid for ``host_names`` (DNS names or IP addresses)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Entra ID emulator local CA")
    ca_usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)  # keyCertSign, cRLSign
    ca_certificate = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True, extensions=[(ca_usage, True)])
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)  # digitalSignature
    extensions = [
        (x509.SubjectAlternativeName([_general_name(h) for h in dict.fromkeys(host_names)]), False),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (server_usage, True),
    ]
    server_certificate = _certificate(
        _name(host_names[0]), ca_name, server_key.public_key(), ca_key, ca=False, extensions=extensions
    )
    return TLSMaterial(ca_certificate, server_certificate, server_key)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def write_ca(tls: TLSMaterial, state_dir: Path) -> Path:
    path = state_dir / "ca.pem"
    path.write_bytes(tls.ca_pem())
    return path
