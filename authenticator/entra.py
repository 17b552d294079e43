"""JupyterHub sign-in with Microsoft Entra ID, verified, deciding each person's AWS roles from the access policy.

What it fixes in oauthenticator's stock ``AzureAdOAuthenticator``:

- Microsoft identity platform v2.0 endpoints from OpenID discovery, for any authority (public cloud, sovereign
  clouds, the local emulator); PKCE on; a ``nonce`` bound to each sign-in attempt.
- The id_token is verified (RS256 signature against the tenant's JWKS, ``iss``, ``aud``, ``tid``, ``exp``/``nbf``/
  ``iat``, ``nonce``). Any failure refuses sign-in with a 403 and creates or changes nothing.
- Groups come from Microsoft Graph at sign-in and at every re-check (one source of truth, every group type, no
  overage limit): the token's groups claim is not used, so a role cannot appear or vanish between the two.
- Membership is re-checked while people work (``refresh_user``), so removing someone from an Entra group takes their
  role away, and removing them from every mapped group signs them out. A refresh answer without an id_token (as
  Entra gives when ``openid`` is not asked for, and some deployments always) keeps the stored identity.
- A person is found by their immutable object id (``oid``): a changed user principal name keeps the account and its
  S3 home. Guests are recognised by the ``idp`` claim and named from their own address.

Override points used, as oauthenticator documents them: ``get_token_info``, ``token_to_user``,
``user_info_to_username``, ``build_auth_state_dict``, ``update_auth_model``, ``get_user_groups``, ``check_allowed``,
``refresh_user``; never ``authenticate``.
"""

import os
import secrets
import time

from cryptography.fernet import InvalidToken
from jupyterhub import crypto, orm
from jupyterhub.utils import url_path_join
from oauthenticator.azuread import AzureAdOAuthenticator
from oauthenticator.oauth2 import (
    OAuthCallbackHandler,
    OAuthLoginHandler,
    OAuthLogoutHandler,
    _deserialize_state,
    _serialize_state,
)
from tornado import web
from tornado.httpclient import HTTPClientError
from tornado.httputil import url_concat
from traitlets import Bool, Dict, Float, Integer, List, TraitError, Unicode, default, validate

from hub.broker.contract import purpose_scope

from .access_policy import AccessDecision, AccessPolicy, is_guid
from .auth_state import ELIGIBLE_ROLES, eligible_roles
from .graph import (
    GraphClient,
    GraphError,
    GraphPermissionError,
    GraphRefused,
    GraphThrottled,
    retry_after_seconds,
)
from .oidc import IdTokenError, OpenIDProvider
from .policy_file import AccessPolicyFile
from .safe_names import is_safe_name, safe_name

_GUEST_MARKER = "#ext#"
SIGN_IN_FAILED = (
    "Sign-in failed: Microsoft Entra ID's answer could not be verified. Start again from the hub's home page; "
    "if this keeps happening, contact your administrator."
)
SIGN_IN_OVER = (
    "This sign-in is over: its page was reloaded or its link opened again, and a sign-in link works once. If your "
    "sign-in was refused, the reason was on the page before; to try again (for example after being added to a "
    "group), start from the hub's home page and sign in."
)
# The claims kept in auth_state["user"]; the rest of the id_token (group lists, overage pointers) is not needed later.
_KEPT_CLAIMS = ("oid", "tid", "sub", "preferred_username", "upn", "email", "name")


_WHO_SIGNS_IN = (
    "who may sign in is decided by the access policy file (AccessPolicyFile.path): add the person's Entra ID group "
    "to an access group there"
)
_WHO_IS_ADMIN = (
    "hub admins are the members of access groups marked `hub_admin: true` in the access policy; they hold the "
    "hub-admin role, not JupyterHub's built-in admin role (HubAdmins.may_open_peoples_servers)"
)
# Options of the base classes this authenticator does not honour: set, they would be silently ignored (or, for the
# allow switches, skip the access policy), so start-up is refused with the replacement.
_NOT_HONOURED = {
    "allow_all": _WHO_SIGNS_IN,
    "allow_existing_users": _WHO_SIGNS_IN,
    "allowed_users": _WHO_SIGNS_IN,
    "allowed_groups": _WHO_SIGNS_IN,
    "allowed_scopes": _WHO_SIGNS_IN,
    "admin_users": _WHO_IS_ADMIN,
    "admin_groups": _WHO_IS_ADMIN,
    "blocked_users": (
        "to stop someone, remove them from the access groups' Entra ID groups or disable their Entra ID account: "
        "the hub re-checks membership every auth_refresh_age and signs them out"
    ),
    "user_groups_claim": "groups come from Microsoft Graph, at sign-in and at every re-check",
    "auth_state_groups_key": "groups come from Microsoft Graph, at sign-in and at every re-check",
    "graph_url": "use EntraIDOAuthenticator.microsoft_graph_url (oauthenticator's graph_url is a sign-in host)",
    "authorize_url": "endpoints come from OpenID discovery: set EntraIDOAuthenticator.authority",
    "token_url": "endpoints come from OpenID discovery: set EntraIDOAuthenticator.authority",
    "username_map": (
        "names come from username_claim and username_strip_domains; to give a person an existing account, use "
        "EntraIDOAuthenticator.adopt_accounts"
    ),
    "refresh_user_hook": "membership is re-checked by the authenticator itself (auth_refresh_age)",
    "validate_server_cert": "TLS is always verified; for a private CA set EntraIDOAuthenticator.tls_ca_bundle",
}
# http_request_kwargs keys that have a setting of their own (so that setting http_request_kwargs, for a proxy say,
# never drops the CA bundle or the timeouts).
_OWN_SETTINGS = {
    "ca_certs": "tls_ca_bundle",
    "connect_timeout": "http_timeout_seconds",
    "request_timeout": "http_timeout_seconds",
    "validate_cert": "tls_ca_bundle (TLS is always verified)",
}


class ConfigurationError(TraitError):
    """The authenticator's configuration cannot work; the message names the option and the fix."""


def is_guest(claims: dict, tenant_id: str) -> bool:
    """A guest (B2B) of this tenant: ``idp`` names another identity provider than this tenant (members have no
    ``idp``, or this tenant's), or the optional ``acct`` claim says 1, or the name is a ``#EXT#`` UPN.
    ref: https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference (idp)
    ref: https://learn.microsoft.com/entra/identity-platform/optional-claims-reference (acct)
    """
    idp = str(claims.get("idp") or "").lower()
    names = (str(claims.get("preferred_username") or ""), str(claims.get("upn") or ""))
    return (
        bool(idp and tenant_id.lower() not in idp)
        or claims.get("acct") == 1
        or any(_GUEST_MARKER in n.lower() for n in names)
    )


def hub_username(claim_value: str, strip_domains=(), guest: bool = False) -> str:
    """The JupyterHub username for a person, from the value of the username claim.

    Lowercased; a guest becomes ``<their UPN here, before #EXT#>-guest``, readable and stable: from their own address
    (``gus@fabrikam.example``, their ``preferred_username``) as from their UPN here
    (``gus_fabrikam.example#EXT#@contoso.example``, what Graph and the admin command see), both give
    ``gus_fabrikam.example-guest``. Guests are never stripped of a domain, so they cannot collide with a member. A
    member's domain listed in ``strip_domains`` is removed (``ana@contoso.example`` becomes ``ana``); then the
    safe-name rule of :mod:`authenticator.safe_names` applies.
    """
    name = claim_value.strip().lower()
    if _GUEST_MARKER in name:
        name = name.split(_GUEST_MARKER, 1)[0] + "-guest"
    elif guest:
        name = name.replace("@", "_") + "-guest"  # Entra makes a guest's UPN here the same way
    else:
        for domain in strip_domains:
            suffix = "@" + domain.lower().lstrip("@")
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                break
    return safe_name(name)


class EntraLoginHandler(OAuthLoginHandler):
    """Adds OpenID discovery before the redirect and a ``nonce`` kept in the signed state cookie."""

    async def get(self):
        await self.authenticator.discover()
        return super().get()

    def set_state_cookie(self, state_cookie_value):
        state = _deserialize_state(state_cookie_value)
        self._nonce = state["nonce"] = secrets.token_urlsafe(24)
        super().set_state_cookie(_serialize_state(state))

    def authorize_redirect(self, *args, extra_params=None, **kwargs):
        extra_params = {**(extra_params or {}), "nonce": self._nonce}
        return super().authorize_redirect(*args, extra_params=extra_params, **kwargs)


class EntraCallbackHandler(OAuthCallbackHandler):
    """The sign-in's return from Entra ID: a repeated visit says what to do, and no log line carries its URL (the
    authorization code and state are in its query)."""

    def check_state(self):
        if not self.get_state_cookie():
            # The attempt is over (its cookie is cleared at the first visit): the result page was reloaded, or the
            # link opened again. Say so, instead of oauthenticator's "OAuth state missing from cookies".
            raise web.HTTPError(400, SIGN_IN_OVER)
        super().check_state()

    def log_exception(self, typ, value, tb):
        # tornado's own line would show the request's full URL, with the code and state in it.
        where = f"{self.request.method} {self.request.path} ({self.request.remote_ip})"
        if isinstance(value, web.HTTPError):
            if value.log_message:
                self.log.warning("%d %s: %s", value.status_code, where, value.get_message())
        else:
            self.log.error("Uncaught exception in %s", where, exc_info=(typ, value, tb))


class EntraLogoutHandler(OAuthLogoutHandler):
    """After the hub's own logout, end the Entra ID session too, then come back to the hub's login page."""

    async def render_logout_page(self):
        auth = self.authenticator
        if auth.logout_redirect_url or not auth.sign_out_of_entra:
            return await super().render_logout_page()
        try:
            end_session = (await auth.discover()).get("end_session_endpoint")
        except web.HTTPError:
            end_session = None  # Entra unreachable: the hub session is over anyway
        if not end_session:
            return await super().render_logout_page()
        login = url_path_join(self.hub.base_url, "login")
        if auth.oauth_callback_url:
            origin = auth.oauth_callback_url.split("/", 3)[:3]
            back = "/".join(origin) + login
        else:
            back = f"{self.request.protocol}://{self.request.host}{login}"
        self.redirect(url_concat(end_session, {"post_logout_redirect_uri": back, "client_id": auth.client_id}))


class EntraIDOAuthenticator(AzureAdOAuthenticator):
    """Microsoft Entra ID (Azure AD) sign-in with verified tokens and access decided by the access policy file."""

    login_handler = EntraLoginHandler
    callback_handler = EntraCallbackHandler
    logout_handler = EntraLogoutHandler
    user_auth_state_key = "user"

    @default("login_service")
    def _login_service_default(self):
        return "Microsoft Entra ID"

    authority = Unicode(
        "https://login.microsoftonline.com",
        config=True,
        help="""
        The Microsoft identity platform host, without the tenant.

        Public cloud (default): https://login.microsoftonline.com. Azure US Government:
        https://login.microsoftonline.us. Azure operated by 21Vianet (China): https://login.chinacloudapi.cn.
        The local emulator: its https URL. Endpoints come from OpenID discovery at
        `{authority}/{tenant_id}/v2.0/.well-known/openid-configuration`; `authorize_url` and `token_url` are set
        from it and should not be configured.
        """,
    )

    tenant_id = Unicode(
        config=True,
        help="""
        Your Directory (tenant) ID, a GUID (Entra admin center, Overview). Required. Only this tenant's accounts
        can sign in: multi-tenant values (`common`, `organizations`, `consumers`) are refused, since anyone's account
        could then sign in. Endpoints come from this tenant's OpenID discovery document under `authority`.
        """,
    )

    microsoft_graph_url = Unicode(
        "https://graph.microsoft.com",
        config=True,
        help="""
        Microsoft Graph, for group memberships at sign-in and re-checks. Use https://graph.microsoft.us (US
        Government) or https://microsoftgraph.chinacloudapi.cn (China) with the matching `authority`.

        (oauthenticator's `graph_url` is the sign-in host despite its name; here that is `authority`.)
        """,
    )

    tls_ca_bundle = Unicode(
        "",
        config=True,
        help="""
        A CA bundle (PEM) to trust for TLS to `authority` and `microsoft_graph_url`, instead of the system's.
        Only for a private CA or the local emulator. Never turn TLS verification off instead: tokens and the
        client secret travel on these connections.
        """,
    )

    http_timeout_seconds = Float(
        10,
        config=True,
        help="""
        Limit for each request to Entra ID and Graph. A sign-in never waits longer than about three of these
        (discovery, token, Graph) before the person sees a clear error.
        """,
    )

    id_token_leeway_seconds = Integer(
        120,
        config=True,
        help="Clock skew tolerated when checking an id_token's exp, nbf and iat.",
    )

    jwks_min_refetch_seconds = Float(
        60,
        config=True,
        help="""
        A token signed with an unknown key id makes the hub fetch the tenant's keys again (key rotation), but at
        most once per this many seconds, so forged tokens cannot make every sign-in download the keys.
        """,
    )

    username_strip_domains = List(
        Unicode(),
        config=True,
        help="""
        Domains removed from usernames: with ["contoso.com"], ana@contoso.com signs in as `ana`.

        Only list domains verified in your own tenant: two people whose names differ only in a stripped domain
        would share one hub account (and one S3 home). Guests are never stripped: the guest ana@fabrikam.com is
        `ana_fabrikam.com-guest`, never `ana`.
        """,
    )

    graph_retry_budget_seconds = Float(
        10,
        config=True,
        help="""
        When Microsoft Graph throttles the hub (429), wait as its Retry-After says and try again, for at most this
        long per lookup. Past it, a sign-in answers 503 (try again in a minute) and a re-check keeps the person's
        roles within `membership_grace_seconds`. Keep it below the proxy's and the browser's patience.
        """,
    )

    membership_grace_seconds = Integer(
        3600,
        config=True,
        help="""
        When Microsoft Graph cannot be reached to re-check someone's groups, they keep their current roles for
        at most this long after the last successful check; after that they must sign in again (fail closed).
        """,
    )

    sign_out_of_entra = Bool(
        True,
        config=True,
        help="""
        Signing out of the hub also signs out of Entra ID (the tenant's end_session_endpoint), then returns to the
        hub's login page. Without it, on a shared computer the next "Sign in" would log the previous person straight
        back in through single sign-on. The hub's login URL (https://<hub>/hub/login) should be registered as a
        front-channel logout / redirect URI of the app registration. `logout_redirect_url`, when set, wins.
        """,
    )

    adopt_accounts = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        config=True,
        help="""
        Existing hub accounts given to Entra ID identities: `{"<hub username>": "<Entra object id>"}`.

        A hub account stays bound to the Entra identity (object id, `oid`) that first signed in to it. An account
        bound to none (created by hand, kept from another authenticator, or whose auth_state could not be decrypted
        after a key change) is never taken over by whoever's name maps to it: that sign-in is refused, and the
        refusal names the person's object id. To give such an account to that person, add it here: they then sign
        in to that account (its servers and S3 home), whatever name their `username_claim` would give, and it is
        bound to them from then on. Also the way to keep names when moving from another authenticator (README).
        An account bound to another identity is never adopted. Names must be safe names (lowercase `a-z 0-9 . _ -`,
        see authenticator/safe_names.py); object ids are GUIDs (Entra admin center, the user's Object ID).
        """,
    )

    @default("username_claim")
    def _username_claim_default(self):
        return "preferred_username"

    @default("scope")
    def _scope_default(self):
        return ["openid", "profile", "offline_access"]

    @default("enable_pkce")
    def _enable_pkce_default(self):
        return True

    @default("enable_auth_state")
    def _enable_auth_state_default(self):
        return True

    @default("manage_groups")
    def _manage_groups_default(self):
        return True

    @default("any_allow_config")
    def _any_allow_config_default(self):
        # Who may sign in is the access policy's decision (check_allowed), not allowed_users/allow_all.
        return True

    # Settings that are not secret come from the hub config only (Helm: hub.config.EntraIDOAuthenticator), never
    # from environment variables the base classes would read (AAD_TENANT_ID, OAUTH_CLIENT_ID, OAUTH_CALLBACK_URL):
    # one place to look. The client secret stays in the environment (OAUTH_CLIENT_SECRET, from a Secret).
    @default("tenant_id")
    def _tenant_id_default(self):
        return ""

    @default("client_id")
    def _client_id_default(self):
        return ""

    @default("oauth_callback_url")
    def _oauth_callback_url_default(self):
        return ""

    @default("auth_refresh_age")
    def _auth_refresh_age_default(self):
        # Re-check group membership with Microsoft Graph at most every 5 minutes while people work ...
        return 300

    @default("refresh_pre_spawn")
    def _refresh_pre_spawn_default(self):
        # ... and before each server starts.
        return True

    @validate("tenant_id")
    def _valid_tenant_id(self, proposal):
        value = proposal.value.strip().lower()
        if not is_guid(value):
            raise ConfigurationError(
                f"EntraIDOAuthenticator.tenant_id must be your Directory (tenant) ID, a GUID (got {proposal.value!r}). "
                "Multi-tenant values such as 'common' or 'organizations' are refused: anyone's account could "
                "sign in."
            )
        return value

    @validate("adopt_accounts")
    def _valid_adopt_accounts(self, proposal):
        adopted = {}
        for name, oid in proposal.value.items():
            if not is_safe_name(name):
                raise ConfigurationError(
                    f"EntraIDOAuthenticator.adopt_accounts: {name!r} is not a name this hub can use (S3 keys, "
                    f"Kubernetes labels, STS session names); its safe form is {safe_name(name)!r}. Rename the account "
                    'first (hub API: PATCH /hub/api/users/<name> with {"name": ...}), then adopt the new name'
                )
            if not is_guid(oid.strip().lower()):
                raise ConfigurationError(
                    f"EntraIDOAuthenticator.adopt_accounts[{name!r}] must be the person's Entra object id, a GUID "
                    f"(got {oid!r})"
                )
            adopted[name] = oid.strip().lower()
        owners = list(adopted.values())
        twice = sorted({oid for oid in owners if owners.count(oid) > 1})
        if twice:
            raise ConfigurationError(
                f"EntraIDOAuthenticator.adopt_accounts gives object id {twice[0]} more than one account: a person "
                "signs in to one account"
            )
        return adopted

    @validate("authority", "microsoft_graph_url")
    def _valid_https_url(self, proposal):
        if not proposal.value.startswith("https://"):
            raise ConfigurationError(
                f"EntraIDOAuthenticator.{proposal.trait.name} must be an https:// URL (got {proposal.value!r})"
            )
        return proposal.value.rstrip("/")

    @validate("enable_auth_state")
    def _auth_state_stays_on(self, proposal):
        if not proposal.value:
            raise ConfigurationError(
                "EntraIDOAuthenticator.enable_auth_state must stay True: the eligible roles live in the encrypted "
                "auth_state"
            )
        return proposal.value

    @default("http_request_kwargs")
    def _http_request_kwargs_default(self):
        return self._own_request_settings()

    def _own_request_settings(self) -> dict:
        return {
            "connect_timeout": self.http_timeout_seconds,
            "request_timeout": self.http_timeout_seconds,
            "ca_certs": self.tls_ca_bundle or None,
        }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._check_required_settings()
        self._refuse_options_not_honoured()
        self._keep_own_request_settings()
        self._policy_file = AccessPolicyFile(parent=self)
        self._policy_file.policy  # noqa: B018 - a missing or invalid policy file stops start-up here
        self._provider = OpenIDProvider(
            f"{self.authority}/{self.tenant_id}/v2.0/.well-known/openid-configuration",
            self._fetch_json,
            jwks_min_refetch_seconds=self.jwks_min_refetch_seconds,
        )
        self._graph = None
        self._accounts_by_oid: dict[str, str] | None = None  # read on first use (see _account_of)

    def _check_required_settings(self):
        """Settings without a usable default (formats are checked as each is set, by the validators above)."""
        if not self.tenant_id:
            raise ConfigurationError(
                "EntraIDOAuthenticator.tenant_id is not set: use your Directory (tenant) ID, a GUID (Helm: "
                "hub.config.EntraIDOAuthenticator.tenant_id)"
            )
        if not self.client_id:
            raise ConfigurationError(
                "EntraIDOAuthenticator.client_id is not set: use the app registration's Application (client) ID "
                "(Helm: hub.config.EntraIDOAuthenticator.client_id)"
            )
        if not self.client_secret:
            raise ConfigurationError(
                "EntraIDOAuthenticator.client_secret is not set: give it through the OAUTH_CLIENT_SECRET environment "
                "variable (on Kubernetes from a Secret, never in a values file)"
            )
        # JupyterHub's CryptKeeper takes its keys from JUPYTERHUB_CRYPT_KEY (a secret) or from CryptKeeper.keys.
        if not (os.environ.get("JUPYTERHUB_CRYPT_KEY") or self.config.get("CryptKeeper", {}).get("keys")):
            raise ConfigurationError(
                "JUPYTERHUB_CRYPT_KEY is not set: auth_state (tokens and eligible roles) must be encrypted. "
                "Generate one with `openssl rand -hex 32` and set it in the hub's environment"
            )

    def _refuse_options_not_honoured(self):
        """Options of the base classes that would be ignored here (or skip the access policy) stop start-up."""
        sections = [cls.__name__ for cls in type(self).mro() if cls.__name__ in self.config]
        for option, replacement in _NOT_HONOURED.items():
            for section in sections:
                if f"{section}.{option}" in self.config:
                    raise ConfigurationError(
                        f"{section}.{option} is not supported by EntraIDOAuthenticator: {replacement}"
                    )
        if not self.validate_server_cert:  # oauthenticator reads OAUTH_TLS_VERIFY=0 from the environment
            raise ConfigurationError(
                "OAUTH_TLS_VERIFY=0 would turn off TLS verification of the code exchange, where the client secret and "
                "people's tokens travel: refused. Unset it; for a private CA set EntraIDOAuthenticator.tls_ca_bundle"
            )

    def _keep_own_request_settings(self):
        """``http_request_kwargs`` (a proxy, say) adds to the CA bundle and timeouts; it never replaces them."""
        for key, setting in _OWN_SETTINGS.items():
            if key in self.http_request_kwargs and self.http_request_kwargs[key] != self._own_request_settings().get(
                key
            ):
                raise ConfigurationError(
                    f"EntraIDOAuthenticator.http_request_kwargs must not set {key!r}: use "
                    f"EntraIDOAuthenticator.{setting}"
                )
        self.http_request_kwargs = {**self.http_request_kwargs, **self._own_request_settings()}

    # ---- the access policy, reloaded when the file changes --------------------------------------------------------

    @property
    def policy(self) -> AccessPolicy:
        return self._policy_file.policy

    # ---- I/O helpers ------------------------------------------------------------------------------------------------

    async def _fetch_json(self, url, headers=None):
        return await self.httpfetch(url, label="fetching from Entra ID", method="GET", headers=headers or {})

    async def _graph_fetch_json(self, url, headers):
        """Graph's answer; an HTTP error answer as :class:`GraphRefused` (status, Retry-After) for the client."""
        try:
            return await self.httpfetch(url, label="reading Microsoft Graph", method="GET", headers=headers)
        except HTTPClientError as e:
            if e.response is None or e.code == 599:
                raise
            raise GraphRefused(e.code, retry_after_seconds(e.response.headers.get("Retry-After"))) from None

    def _unavailable(self, what: str, error: Exception) -> web.HTTPError:
        reason = "did not answer in time" if getattr(error, "code", None) == 599 else "could not be reached"
        self.log.error("Sign-in unavailable: %s %s (%s)", what, reason, type(error).__name__)
        return web.HTTPError(
            503,
            f"Sign-in is unavailable right now: {what} {reason}. Try again in a minute; if it persists, "
            "tell your administrator.",
        )

    async def discover(self):
        """Fetch (or reuse) the discovery document and point the OAuth endpoints at it."""
        try:
            config = await self._provider.configuration()
        except (HTTPClientError, OSError) as e:
            raise self._unavailable("Microsoft Entra ID", e) from None
        except ValueError as e:  # it answered, but not with a usable discovery document (not JSON, keys missing)
            self.log.error("Sign-in unavailable: Microsoft Entra ID's OpenID discovery document is unusable: %s", e)
            raise web.HTTPError(
                503,
                "Sign-in is unavailable right now: Microsoft Entra ID answered, but not with a usable sign-in "
                "configuration. Tell your administrator (the hub's log says what is wrong with it).",
            ) from None
        self.authorize_url = config["authorization_endpoint"]
        self.token_url = config["token_endpoint"]
        return config

    @property
    def graph(self) -> GraphClient:
        if self._graph is None:
            self._graph = GraphClient(
                authority=f"{self.authority}/{self.tenant_id}",
                client_id=self.client_id,
                client_secret=self.client_secret,
                graph_url=self.microsoft_graph_url,
                fetch_json=self._graph_fetch_json,
                ca_bundle=self.tls_ca_bundle or None,
                timeout_seconds=self.http_timeout_seconds,
                retry_budget_seconds=self.graph_retry_budget_seconds,
            )
        return self._graph

    # ---- sign-in: tokens, verification, identity -------------------------------------------------------------------

    async def get_token_info(self, handler, params):
        """Exchange the code (or refresh token), then verify the id_token, binding it to this attempt's nonce."""
        await self.discover()
        try:
            token_info = await super().get_token_info(handler, params)
        except HTTPClientError as e:
            if e.code == 599 or e.response is None:
                raise self._unavailable("Microsoft Entra ID", e) from None
            self.log.warning("Entra ID's token endpoint refused the %s grant (HTTP %s)", params["grant_type"], e.code)
            raise web.HTTPError(
                403,
                "Sign-in failed: Microsoft Entra ID did not accept the sign-in (the link may have been used already "
                "or have expired). Start again from the hub's home page.",
            ) from None
        token_info["obtained_at"] = int(time.time())
        if "id_token" not in token_info:
            if params["grant_type"] == "refresh_token":
                return token_info  # the identity stays the stored one; membership is re-read from Graph
            self.log.warning("Refused sign-in: the token response has no id_token (is 'openid' in scope?)")
            raise web.HTTPError(403, SIGN_IN_FAILED)
        nonce = None
        if params["grant_type"] == "authorization_code":
            # A missing nonce in the state cookie must fail, never skip the check.
            nonce = _deserialize_state(handler.get_state_cookie() or "").get("nonce") or secrets.token_hex(16)
        await self._verify(token_info["id_token"], nonce)
        return token_info

    def build_refresh_token_request_params(self, refresh_token):
        # Entra returns an id_token on refresh only when `openid` is asked for in this request.
        # ref: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
        return {**super().build_refresh_token_request_params(refresh_token), "scope": " ".join(self.scope)}

    async def _verify(self, id_token, nonce):
        try:
            return await self._provider.verify(
                id_token, self.client_id, self.tenant_id, nonce, self.id_token_leeway_seconds
            )
        except IdTokenError as e:
            self.log.warning("Refused sign-in: %s", e.reason)
            raise web.HTTPError(403, SIGN_IN_FAILED) from None
        except (HTTPClientError, OSError) as e:
            raise self._unavailable("Microsoft Entra ID's signing keys", e) from None

    async def token_to_user(self, token_info):
        """The verified claims of the id_token: who this is (``oid``, ``tid``, names; guests also ``idp``)."""
        # get_token_info has verified this token already (with the nonce); verifying again is cheap (keys cached) and
        # keeps oauthenticator's entry point from ever trusting a token_info it did not check itself.
        return await self._verify(token_info["id_token"], None)

    def user_info_to_username(self, user_info):
        adopted = self._adopted_account(user_info.get("oid"))
        if adopted:
            return adopted
        claim = self.username_claim
        value = claim(user_info) if callable(claim) else user_info.get(claim)
        if not value or not isinstance(value, str):
            self.log.warning("Refused sign-in: the id_token has no %r claim", self.username_claim)
            raise web.HTTPError(
                403,
                f"Sign-in failed: your account has no {self.username_claim!r} to name you by. Ask your "
                "administrator to check the hub's username_claim setting.",
            )
        return hub_username(value, self.username_strip_domains, guest=is_guest(user_info, self.tenant_id))

    def _adopted_account(self, oid) -> str | None:
        """The existing account ``adopt_accounts`` gives this Entra identity, if any."""
        return next((name for name, owner in self.adopt_accounts.items() if owner == str(oid).lower()), None)

    def normalize_username(self, username):
        # hub_username already produced the final, safe form; JupyterHub's lowercasing is a no-op on it.
        return username

    def build_auth_state_dict(self, token_info, user_info):
        auth_state = super().build_auth_state_dict(token_info, user_info)
        auth_state[self.user_auth_state_key] = {k: user_info[k] for k in _KEPT_CLAIMS if k in user_info}
        auth_state["entra"] = {
            "oid": user_info["oid"],
            "tid": user_info["tid"],
            "tokens_expire_at": token_info.get("obtained_at", int(time.time())) + int(token_info.get("expires_in", 0)),
        }
        auth_state["_claims"] = user_info  # consumed by update_auth_model, never stored
        return auth_state

    # ---- groups and the access decision ---------------------------------------------------------------------------

    async def _sign_in_group_ids(self, oid) -> set[str]:
        """The person's groups from Microsoft Graph, or a 503 that says why sign-in cannot go on."""
        try:
            return await self.graph.transitive_group_ids(oid)
        except GraphPermissionError as e:
            self.log.error("Sign-in unavailable: %s", e)
            raise web.HTTPError(
                503,
                "Sign-in is unavailable: the hub may not read group memberships from Microsoft Graph (its app "
                f"registration lacks the application permission {e.permission}). Tell your administrator.",
            ) from None
        except GraphThrottled as e:
            self.log.error("Sign-in unavailable: %s", e)
            raise web.HTTPError(
                503,
                "Sign-in is unavailable right now: Microsoft Graph is throttling the hub's requests. Try again in a "
                "minute; if it persists, tell your administrator.",
            ) from None
        except (GraphError, HTTPClientError, OSError) as e:
            self.log.error("Could not read groups from Microsoft Graph: %s", getattr(e, "message", None) or e)
            raise web.HTTPError(
                503,
                "Sign-in is unavailable right now: your group memberships could not be read from Microsoft Graph. "
                "Try again in a minute; if it persists, tell your administrator.",
            ) from None

    def _apply_decision(self, auth_model, decision: AccessDecision, checked_at: float):
        auth_state = auth_model["auth_state"]
        auth_state["entra"]["groups_checked_at"] = checked_at
        auth_state[ELIGIBLE_ROLES] = decision.eligible_roles()
        # Nobody is a JupyterHub admin: that built-in role opens everyone's servers, tokens and auth_state. Hub admins
        # hold the `hub-admin` role through their access group's JupyterHub group (hub/admin_role.py). Set False
        # explicitly, so that an account made admin before (or by hand) loses it at its next sign-in or re-check.
        auth_model["admin"] = False
        auth_model["groups"] = decision.group_names
        return auth_model

    async def update_auth_model(self, auth_model):
        claims = auth_model["auth_state"].pop("_claims")
        account = await self._account_of(claims["oid"])
        if account and account != auth_model["name"] and self._adopted_account(claims["oid"]) is None:
            # The user principal name changed (a rename): the person keeps their account and S3 home. (An account
            # given to this identity by adopt_accounts wins: that is the administrator's explicit choice.)
            self.log.info("%s signs in to their account %s (found by object id)", auth_model["name"], account)
            auth_model["name"] = account
        decision = self.policy.decide(await self._sign_in_group_ids(claims["oid"]))
        auth_model = self._apply_decision(auth_model, decision, time.time())
        # Enforced here, not in check_allowed: JupyterHub skips check_allowed when an allow switch (allow_all) is
        # set, and nothing skips update_auth_model (authenticate() always calls it).
        await self._refuse_unless_entitled(auth_model["name"], auth_model["auth_state"])
        return auth_model

    async def get_user_groups(self, auth_state):
        """JupyterHub groups mirror the person's access groups (``manage_groups``)."""
        return {role["access_group"] for role in eligible_roles(auth_state)}

    async def check_allowed(self, username, auth_model):
        # Decided already, in update_auth_model (_refuse_unless_entitled), where no allow switch can skip it.
        return True

    async def _refuse_unless_entitled(self, username, auth_state):
        if not eligible_roles(auth_state):
            self.log.warning("Refused sign-in of %s: in no access group of the access policy", username)
            raise web.HTTPError(
                403,
                "You have no access to this hub: you are not in any of the Entra ID groups that grant it. "
                f"Ask to be added to one of: {self.policy.granting_groups_text}.",
            )
        oid = auth_state["entra"]["oid"]
        await self._check_identity_binding(username, oid)
        if self._accounts_by_oid is not None:
            self._accounts_by_oid[oid] = username

    # ---- accounts and Entra identities (object ids) ---------------------------------------------------------------

    def _hub(self):
        """The JupyterHub application, when running inside one (not in unit tests)."""
        app = self.parent
        return app if app is not None and hasattr(app, "users") else None

    def _account_row(self, username):
        """``(encrypted_auth_state,)`` of the account ``username``, or None when there is no such account."""
        # Only that column: loading the whole account (its roles, groups and shares, each a query of its own) cost
        # more than the rest of the authenticator's part of a sign-in together.
        return self._hub().db.query(orm.User.encrypted_auth_state).filter(orm.User.name == username).first()

    async def _bound_oid(self, username) -> str | None:
        """The Entra object id the account ``username`` is bound to (in its auth_state), if any."""
        row = self._account_row(username)
        return await self._oid_in(username, row[0]) if row else None

    async def _oid_in(self, username, encrypted) -> str | None:
        if encrypted is None:
            return None
        try:
            state = await crypto.decrypt(encrypted) or {}
        except (ValueError, InvalidToken, crypto.EncryptionUnavailable) as e:
            # as JupyterHub's User.get_auth_state does: an unreadable auth_state is treated as none
            self.log.warning("Could not read the auth_state of %s (%s)", username, type(e).__name__)
            return None
        return state.get("entra", {}).get("oid")

    async def _account_of(self, oid) -> str | None:
        """The hub account bound to the Entra object id ``oid``, if any.

        The index is read once from the accounts' auth_state (the oldest account wins if an earlier rename left two)
        and kept current by each sign-in; an entry whose account was deleted or re-bound since is dropped.
        """
        app = self._hub()
        if app is None:
            return None
        if self._accounts_by_oid is None:
            index: dict[str, str] = {}
            rows = app.db.query(orm.User.name, orm.User.encrypted_auth_state).order_by(orm.User.id).all()
            for name, encrypted in rows:
                bound = await self._oid_in(name, encrypted)
                if bound:
                    index.setdefault(bound, name)
            self._accounts_by_oid = index
        name = self._accounts_by_oid.get(oid)
        if name is None or await self._bound_oid(name) != oid:
            self._accounts_by_oid.pop(oid, None)
            return None
        return name

    async def _check_identity_binding(self, username, oid):
        """Refuse a sign-in whose name belongs to a different Entra identity (a reused or re-assigned UPN).

        Without this, a new employee given a former employee's user principal name would inherit that person's
        hub account, notebooks and S3 home.
        """
        if self._hub() is None:
            return
        row = self._account_row(username)
        if row is None:
            return
        bound = await self._oid_in(username, row[0])
        if bound and bound != oid:
            self.log.warning("Refused sign-in of %s: the account is bound to another Entra object id", username)
            raise web.HTTPError(
                403,
                f"Sign-in refused: the hub account {username!r} belongs to a different Entra ID identity. "
                "An administrator must remove the old account before this name can be used again.",
            )
        if not bound and self.adopt_accounts.get(username) != oid:
            # Fail closed: an account bound to no one (made by hand, or its auth_state unreadable after a key change)
            # is not taken over by whoever's name maps to it.
            self.log.warning(
                "Refused sign-in of %s: the account is bound to no Entra identity and not adopted", username
            )
            raise web.HTTPError(
                403,
                f"Sign-in refused: the hub account {username!r} is not bound to an Entra ID identity yet, so it is not "
                f"given to anyone automatically. Ask a hub administrator to adopt it for you: "
                f"EntraIDOAuthenticator.adopt_accounts = {{{username!r}: {oid!r}}} in the hub config (your Entra "
                "object id), or to delete the account if it is not yours.",
            )
        if not bound:
            self.log.info("Sign-in of %s adopts the account for Entra object id %s (adopt_accounts)", username, oid)

    # ---- while people work: re-check membership, refresh tokens, fail closed --------------------------------------

    async def refresh_user(self, user, handler=None, **kwargs):
        """Re-read membership from Graph (JupyterHub calls this at most every ``auth_refresh_age``).

        Returns False (sign in again) when the person is in no mapped group any more, when expired tokens cannot be
        refreshed, or when Graph has been unreachable for longer than ``membership_grace_seconds``.

        A request made with a token for one purpose only (a laptop's or a scheduled run's, :func:`purpose_scope`) has
        no Entra sign-in behind it: its owner may not have signed in for weeks, so their Entra tokens are not
        refreshed (they may be long gone). Membership is still read from Graph with the hub's own application token
        and decided; a person in no access group keeps no role (the broker then refuses saying so) rather than being
        signed out by a request they did not make in a browser.
        """
        auth_state = await user.get_auth_state()
        if not auth_state or "entra" not in auth_state:
            return False
        now = time.time()
        entra = auth_state["entra"]
        without_sign_in = _purpose_of(handler) is not None
        refreshed = not without_sign_in and entra.get("tokens_expire_at", 0) <= now + 60
        if refreshed:
            auth_state = await self._refreshed_tokens(user, auth_state)
            if auth_state is None:
                return False
        try:
            group_ids = await self.graph.transitive_group_ids(entra["oid"])
        except (GraphError, HTTPClientError, OSError) as e:
            age = now - entra.get("groups_checked_at", 0)
            if age > self.membership_grace_seconds:
                self.log.warning("Signing %s out: groups unverifiable for %ds (%s)", user.name, age, type(e).__name__)
                return False
            self.log.warning("Keeping %s's roles for now: Graph unavailable (%s)", user.name, type(e).__name__)
            return {"name": user.name, "auth_state": auth_state} if refreshed else True
        decision = self.policy.decide(group_ids)
        if not decision.allowed and not without_sign_in:
            self.log.info("Signing %s out: no longer in any access group", user.name)
            return False
        auth_model = {"name": user.name, "admin": None, "auth_state": auth_state}
        return self._apply_decision(auth_model, decision, now)

    async def _refreshed_tokens(self, user, auth_state):
        refresh_token = auth_state.get("refresh_token")
        if not refresh_token:
            return None
        try:
            token_info = await self.get_token_info(None, self.build_refresh_token_request_params(refresh_token))
        except web.HTTPError as e:
            self.log.info("Signing %s out: tokens could not be refreshed (%s)", user.name, e.status_code)
            return None
        if not token_info.get("refresh_token"):
            token_info["refresh_token"] = refresh_token
        if "id_token" not in token_info:
            return _with_new_tokens(auth_state, token_info)
        claims = await self.token_to_user(token_info)
        if claims["oid"] != auth_state["entra"]["oid"]:
            self.log.warning("Signing %s out: refreshed tokens belong to another identity", user.name)
            return None
        refreshed = self.build_auth_state_dict(token_info, claims)
        refreshed.pop("_claims")
        refreshed["entra"]["groups_checked_at"] = auth_state["entra"].get("groups_checked_at", 0)
        return refreshed


def _purpose_of(handler) -> str | None:
    """The purpose (LAPTOP_SCOPE, JOB_SCOPE) of the token that authenticated ``handler``'s request, if it is a token
    for one purpose only; None for a browser session, a server's token or a personal token with wider scopes.
    (JupyterHub's ``BaseHandler.get_token`` is the API token of the request's Authorization header.)"""
    get_token = getattr(handler, "get_token", None)
    token = get_token() if callable(get_token) else None
    return purpose_scope(token.scopes or ()) if token is not None else None


def _with_new_tokens(auth_state: dict, token_info: dict) -> dict:
    """auth_state after a refresh answer without an id_token: new tokens, the same identity and decision."""
    expires_at = token_info["obtained_at"] + int(token_info.get("expires_in", 0))
    entra = {**auth_state["entra"], "tokens_expire_at": expires_at}
    return {
        **auth_state,
        "access_token": token_info["access_token"],
        "refresh_token": token_info["refresh_token"],
        "token_response": token_info,
        "entra": entra,
    }
