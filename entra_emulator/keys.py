"""Keys made fresh at every start, never written anywhere but the state directory's public ``ca.pem``.

- A certificate authority and a server certificate for 127.0.0.1 and localhost (MSAL refuses plain http, so the
  emulator speaks HTTPS; clients trust ``ca.pem``), made with trustme.
- RS256 signing keys (RSA 2048), each with a certificate so the JWKS carries ``x5c``/``x5t`` like Entra's; the
  ``kid`` is the certificate's thumbprint, as Entra's is.
"""

import base64
import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_ORGANIZATION = "Entra ID emulator"
_SIGNING_NAME = "accounts.emulated-entra.invalid"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64url(number: int) -> str:
    return b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


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
    leaf = trustme.CA(organization_name=_ORGANIZATION).issue_cert(_SIGNING_NAME, key_type=trustme.KeyType.RSA)
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    certificate = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    kid = b64url(hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER)).digest())  # noqa: S324 - x5t is SHA-1
    return SigningKey(kid, key, certificate)


# ---- TLS -------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSMaterial:
    ca: trustme.CA
    server: trustme.LeafCert

    def ca_pem(self) -> bytes:
        return self.ca.cert_pem.bytes()

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side TLS context. The private key touches disk only for the instant ``ssl`` needs a file."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.server.configure_cert(context)
        return context


def new_tls_material(host_names: list[str]) -> TLSMaterial:
    """A CA and a server certificate it signs, valid for ``host_names`` (DNS names or IP addresses)."""
    ca = trustme.CA(organization_name=_ORGANIZATION)
    return TLSMaterial(ca, ca.issue_cert(*dict.fromkeys(host_names)))


def write_ca(tls: TLSMaterial, state_dir: Path) -> Path:
    path = state_dir / "ca.pem"
    path.write_bytes(tls.ca_pem())
    return path
