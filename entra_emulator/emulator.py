"""The emulated tenant as a whole: its directory, the one app registration, signing keys, grants and test controls.

Pure state: the handlers (``oauth``, ``graph``, ``controls``) read and change it; ``app.make_app`` wires them to
the paths the real services use.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .directory import Directory
from .grants import Grants
from .keys import SigningKey, new_signing_key
from .tokens import GRAPH_APP_ID, TOKEN_LIFETIME_SECONDS, Tamper, sign

# Names of the endpoints, as used by the stats and delay controls.
ENDPOINTS = ("discovery", "keys", "authorize", "token", "logout", "graph")
MAX_DELAY_SECONDS = 300
CLAIMS_SUPPORTED = (
    "sub iss aud exp iat nbf nonce preferred_username name tid oid ver groups sid idp email upn acct login_hint".split()
)


@dataclass
class Registration:
    """The application registration the hub uses (one client, one secret, its redirect URIs)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]


def valid_redirect_uri(uri: str) -> bool:
    """Entra's rule: https, except http for the loopback host."""
    parts = urlsplit(uri)
    if not parts.netloc or parts.fragment:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1"))


class Emulator:
    def __init__(
        self,
        *,
        directory: Directory,
        registration: Registration,
        password: str,
        base_url: str,
        test_controls: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        self.loaded_directory = directory
        self.directory = directory.copy()
        self.registration = registration
        self.password = password
        self.base_url = base_url.rstrip("/")
        self.test_controls = test_controls
        self.clock = clock
        self.grants = Grants(clock)
        self.original_key = new_signing_key()
        self.signing_key = self.original_key
        self.published_keys: list[SigningKey] = [self.original_key]
        # Every key this emulator made: Graph trusts its own tokens even after a key leaves the JWKS.
        self.own_keys: dict[str, SigningKey] = {self.original_key.kid: self.original_key}
        self.tamper: Tamper | None = None
        self.delays: dict[str, float] = {}
        self.requests: Counter = Counter()
        self.grant_counts: Counter = Counter()
        self.id_tokens_issued = 0
        self.sign_outs: list[str | None] = []  # who each sign-out named through logout_hint (None: nobody)
        self._set_documented_behaviour()

    def _set_documented_behaviour(self) -> None:
        """The test modes, off: behave as documented."""
        self.id_token_on_refresh = True  # off: no id_token on refresh, as some deployments report
        self.token_lifetime_seconds = TOKEN_LIFETIME_SECONDS
        self.throttle_count = 0  # the next this many Graph requests answer 429 ...
        self.throttle_retry_after = 0  # ... with this Retry-After (seconds)

    # ---- names and documents ----

    @property
    def tenant_id(self) -> str:
        return self.directory.tenant_id

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def issuer(self) -> str:
        return f"{self.authority}/v2.0"

    @property
    def graph_url(self) -> str:
        return self.base_url

    @property
    def graph_audiences(self) -> set[str]:
        return {self.graph_url, "https://graph.microsoft.com", GRAPH_APP_ID}

    def discovery_document(self) -> dict:
        oauth = f"{self.authority}/oauth2/v2.0"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{oauth}/authorize",
            "token_endpoint": f"{oauth}/token",
            "jwks_uri": f"{self.authority}/discovery/v2.0/keys",
            "end_session_endpoint": f"{oauth}/logout",
            "userinfo_endpoint": f"{self.graph_url}/oidc/userinfo",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": CLAIMS_SUPPORTED,
            "request_uri_parameter_supported": False,
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "tenant_region_scope": "EU",
            "cloud_instance_name": "emulated-entra.invalid",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": self.graph_url.split("://", 1)[1],
        }

    def jwks(self) -> dict:
        return {"keys": [key.jwk(self.issuer) for key in self.published_keys]}

    # ---- tokens ----

    def issue_id_token(self, claims: dict) -> str:
        """Sign an id_token, corrupted as the pending tamper control asks (if any)."""
        self.id_tokens_issued += 1
        tamper = self.tamper
        if tamper is None:
            return sign(claims, self.signing_key)
        tamper.count -= 1
        if tamper.count <= 0:
            self.tamper = None
        return tamper.apply(claims, self.signing_key)

    # ---- controls ----

    def throttled(self) -> int | None:
        """The Retry-After for this Graph request when it is to be throttled, else None."""
        if self.throttle_count <= 0:
            return None
        self.throttle_count -= 1
        return self.throttle_retry_after

    def rotate_key(self, keep_old: bool) -> SigningKey:
        key = new_signing_key()
        self.own_keys[key.kid] = key
        self.published_keys = [key, *self.published_keys] if keep_old else [key]
        self.signing_key = key
        return key

    def set_delay(self, seconds: float, endpoints: list[str]) -> None:
        for endpoint in endpoints:
            if seconds > 0:
                self.delays[endpoint] = seconds
            else:
                self.delays.pop(endpoint, None)

    def reset(self) -> None:
        """Back to how the emulator started: the file's memberships, names and app registration, the documented
        behaviour (no modes, no throttling), the first key, no tamper, delay or counts.

        Registered redirect URIs and issued grants stay: they belong to the clients, not to a test.
        """
        self.directory = self.loaded_directory.copy()
        self.signing_key = self.original_key
        self.published_keys = [self.original_key]
        self.tamper = None
        self.delays.clear()
        self.requests.clear()
        self.grant_counts.clear()
        self.id_tokens_issued = 0
        self.sign_outs.clear()
        self._set_documented_behaviour()

    def stats(self) -> dict:
        return {
            "requests": {name: self.requests[name] for name in ENDPOINTS},
            "grants": dict(self.grant_counts),
            "id_tokens_issued": self.id_tokens_issued,
            "signing_kid": self.signing_key.kid,
            "sign_outs": list(self.sign_outs),
            "throttled_left": self.throttle_count,
        }
