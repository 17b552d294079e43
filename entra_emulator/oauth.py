"""The Microsoft identity platform v2.0 endpoints: discovery, keys, authorize (with a login form), token, logout.

Paths, parameters, answers and refusals follow the real service; where the emulator is stricter (PKCE S256 is
required, codes are strictly single use) the refusal says so.
"""

import base64
import hashlib
import hmac
import json
import re
import uuid
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from . import errors
from .directory import Person
from .errors import OAuthError
from .grants import AuthorizeRequest, GrantError
from .handlers import EmulatorHandler, log
from .keys import b64url
from .tokens import (
    GRAPH_APP_ID,
    app_token_claims,
    id_token_claims,
    login_hint,
    sign,
    user_access_token_claims,
)

# RFC 7636: a S256 challenge is 43 base64url characters; a verifier 43-128 unreserved characters.
_CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_CODE_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
WRONG_CREDENTIALS = "Your account or password is incorrect."
PAGE_TITLE = "Sign in to {org} (emulated Entra ID)"


def with_query(url: str, **params) -> str:
    """``url`` with ``params`` (those not None) added to its query string."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class DiscoveryHandler(EmulatorHandler):
    endpoint = "discovery"

    def get(self, tenant):
        self.check_tenant(tenant)
        self.write_json(self.emulator.discovery_document())


class KeysHandler(EmulatorHandler):
    endpoint = "keys"

    def get(self, tenant):
        self.check_tenant(tenant)
        self.write_json(self.emulator.jwks())


class PageHandler(EmulatorHandler):
    """Endpoints a browser visits: refusals are HTML pages, not JSON."""

    def show_page(self, heading: str, message: str, status: int = 200) -> None:
        self.set_status(status)
        title = PAGE_TITLE.format(org=self.emulator.directory.display_name)
        self.render("message.html", title=title, heading=heading, message=message)

    def write_error(self, status_code: int, **kwargs):
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, OAuthError):
            self.show_page("Sorry, but we're having trouble signing you in.", error.description, error.status)
        else:
            self.show_page("Something went wrong.", self._reason, status_code)


class AuthorizeHandler(PageHandler):
    endpoint = "authorize"

    def get(self, tenant):
        self.check_tenant(tenant)
        registration = self.emulator.registration
        client_id = self.get_query_argument("client_id", "")
        if not client_id:
            raise errors.missing_parameter("client_id")
        if client_id != registration.client_id:
            raise errors.application_not_found(client_id, self.emulator.tenant_id)
        redirect_uri = self.get_query_argument("redirect_uri", "")
        if not redirect_uri:
            raise errors.missing_parameter("redirect_uri")
        if redirect_uri not in registration.redirect_uris:
            # Never redirect to an unregistered address: that would hand codes to whoever asked.
            raise errors.redirect_uri_not_registered(redirect_uri, client_id)
        state = self.get_query_argument("state", None)
        try:
            request = self._authorize_request(client_id, redirect_uri, state)
        except OAuthError as e:
            log.info("authorize refused, redirecting back: %s", e)
            self.redirect(with_query(redirect_uri, error=e.error, error_description=e.description, state=state))
            return
        context = self.emulator.grants.begin_sign_in(request)
        self._show_login_form(context, request.login_hint)

    def _authorize_request(self, client_id: str, redirect_uri: str, state: str | None) -> AuthorizeRequest:
        arg = self.get_query_argument
        response_type = arg("response_type", "")
        if not response_type:
            raise errors.missing_parameter("response_type")
        if response_type != "code":
            raise errors.unsupported_response_type(response_type)
        if arg("response_mode", "query") != "query":
            raise errors.malformed("The emulator answers with response_mode=query only.")
        scopes = tuple(arg("scope", "").split())
        if not scopes:
            raise errors.missing_parameter("scope")
        challenge = arg("code_challenge", "")
        if not challenge:
            raise errors.pkce_required()
        if arg("code_challenge_method", "plain") != "S256":
            raise errors.invalid_code_challenge_method()
        if not _CODE_CHALLENGE.fullmatch(challenge):
            raise errors.invalid_code_challenge()
        nonce = arg("nonce", None)
        return AuthorizeRequest(client_id, redirect_uri, scopes, state, nonce, challenge, arg("login_hint", ""))

    def post(self, tenant):
        self.check_tenant(tenant)
        context = self.get_body_argument("ctx", "")
        request = self.emulator.grants.sign_in(context)
        if request is None:
            self.show_page(
                "This sign-in has expired.", "Go back to the application and start signing in again.", status=400
            )
            return
        username = self.get_body_argument("username", "").strip()
        person = self.emulator.directory.person(username)
        if person is None or not same_secret(self.get_body_argument("password", ""), self.emulator.password):
            log.info("sign-in refused for %r: %s", username, "no such person" if person is None else "wrong password")
            self._show_login_form(context, username, error=WRONG_CREDENTIALS)
            return
        self.emulator.grants.end_sign_in(context)
        session_id = str(uuid.uuid4())
        code = self.emulator.grants.issue_code(request, person.oid, session_id)
        log.info("%s signed in", person.username)
        self.redirect(with_query(request.redirect_uri, code=code, state=request.state, session_state=session_id))

    def _show_login_form(self, context: str, username: str, error: str = "") -> None:
        title = PAGE_TITLE.format(org=self.emulator.directory.display_name)
        self.render("login.html", title=title, context=context, username=username, error=error)


class LogoutHandler(PageHandler):
    """Sign-out. ``post_logout_redirect_uri`` is followed only when it equals a registered redirect URI exactly;
    ``logout_hint`` (a ``login_hint`` claim's value) names the account, so no account picker is needed.
    ref: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#send-a-sign-out-request
    """

    endpoint = "logout"

    def get(self, tenant):
        self.check_tenant(tenant)
        hint = self.get_query_argument("logout_hint", "")
        person = self._hinted_person(hint) if hint else None
        self.emulator.sign_outs.append(person.username if person else None)
        target = self.get_query_argument("post_logout_redirect_uri", "")
        if target and target in self.emulator.registration.redirect_uris:
            self.redirect(target)
            return
        account = f"{person.sign_in_name} signed out." if person else "You signed out of your account."
        self.show_page(account, "It's a good idea to close all browser windows.")

    def _hinted_person(self, hint: str) -> Person | None:
        tenant_id = self.emulator.tenant_id
        people = self.emulator.directory.people.values()
        return next((p for p in people if same_secret(hint, login_hint(p, tenant_id))), None)


class TokenHandler(EmulatorHandler):
    endpoint = "token"

    def post(self, tenant):
        self.check_tenant(tenant)
        grant_type = self._form("grant_type")
        if not grant_type:
            raise errors.missing_parameter("grant_type")
        grant = {
            "authorization_code": self._authorization_code,
            "refresh_token": self._refresh_token,
            "client_credentials": self._client_credentials,
        }.get(grant_type)
        if grant is None:
            raise errors.unsupported_grant_type(grant_type)
        client_id = self._authenticated_client()
        self.emulator.grant_counts[grant_type] += 1
        self.write_json(grant(client_id))

    def _form(self, name: str) -> str:
        return self.get_body_argument(name, "").strip()

    # ---- client authentication: client_secret in the body, or HTTP Basic (RFC 6749 section 2.3.1) ----

    def _authenticated_client(self) -> str:
        if self._form("client_assertion"):
            raise errors.malformed("The emulator accepts client secrets only, not client assertions (certificates).")
        client_id, secret = self._form("client_id"), self.get_body_argument("client_secret", "")
        basic = self._basic_credentials()
        if basic is not None:
            if secret:
                raise errors.malformed("Use one client authentication method: HTTP Basic or client_secret, not both.")
            if client_id and client_id != basic[0]:
                raise errors.malformed("The client_id in the body differs from the one in the Authorization header.")
            client_id, secret = basic
        registration = self.emulator.registration
        if not client_id:
            raise errors.missing_parameter("client_id")
        if client_id != registration.client_id:
            raise errors.application_not_found(client_id, self.emulator.tenant_id)
        if not secret:
            raise errors.missing_client_secret()
        if not same_secret(secret, registration.client_secret):
            raise errors.invalid_client_secret(client_id)
        return client_id

    def _basic_credentials(self) -> tuple[str, str] | None:
        header = self.request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            client_id, secret = decoded.split(":", 1)
        except ValueError:
            raise errors.malformed("The Authorization header is not valid HTTP Basic credentials.") from None
        return unquote_plus(client_id), unquote_plus(secret)

    # ---- grants ----

    def _authorization_code(self, client_id: str) -> dict:
        code, redirect_uri, verifier = self._form("code"), self._form("redirect_uri"), self._form("code_verifier")
        for name, value in (("code", code), ("redirect_uri", redirect_uri), ("code_verifier", verifier)):
            if not value:
                raise errors.missing_parameter(name)
        try:
            # Redeemed before the checks below, so a failed attempt also uses the code up.
            grant = self.emulator.grants.redeem_code(code)
        except GrantError as e:
            raise _grant_error(e) from None
        request = grant.request
        if request.client_id != client_id:
            raise errors.grant_of_another_client()
        if redirect_uri != request.redirect_uri:
            raise errors.redirect_uri_mismatch(redirect_uri, request.redirect_uri)
        if not _CODE_VERIFIER.fullmatch(verifier) or not hmac.compare_digest(s256(verifier), request.code_challenge):
            raise errors.code_verifier_mismatch()
        person = self._person(grant.oid)
        return self._user_tokens(client_id, person, request.scopes, grant.session_id, request.nonce)

    def _refresh_token(self, client_id: str) -> dict:
        token = self._form("refresh_token")
        if not token:
            raise errors.missing_parameter("refresh_token")
        try:
            grant = self.emulator.grants.redeem_refresh_token(token)
        except GrantError as e:
            raise _grant_error(e) from None
        if grant.client_id != client_id:
            raise errors.grant_of_another_client()
        person = self._person(grant.oid)
        # `scope` is optional; what is asked must be a subset of the original grant. An id_token comes back only when
        # `openid` is asked for in this request (and never in the "no id_token on refresh" test mode).
        # ref: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
        asked = tuple(self._form("scope").split())
        beyond = [s for s in asked if s not in grant.scopes]
        if beyond:
            raise errors.consent_required(beyond[0], client_id)
        with_id_token = "openid" in asked and self.emulator.id_token_on_refresh
        # A refreshed id_token carries no nonce, and today's groups.
        return self._user_tokens(
            client_id, person, asked or grant.scopes, grant.session_id, nonce=None, id_token=with_id_token,
            granted=grant.scopes,
        )  # fmt: skip

    def _client_credentials(self, client_id: str) -> dict:
        scope = self._form("scope")
        if not scope:
            raise errors.missing_parameter("scope")
        if len(scope.split()) != 1 or not scope.endswith("/.default"):
            raise errors.client_credentials_scope(scope)
        resource = scope.removesuffix("/.default")
        if resource.rstrip("/").lower() not in {a.lower() for a in self.emulator.graph_audiences}:
            raise errors.resource_not_found(resource, self.emulator.tenant_id)
        now = int(self.emulator.clock())
        roles = self.emulator.directory.app_registration.graph_permissions
        lifetime = self.emulator.token_lifetime_seconds
        claims = app_token_claims(
            tenant_id=self.emulator.tenant_id, client_id=client_id, audience=resource, roles=roles, now=now,
            lifetime=lifetime,
        )  # fmt: skip
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": sign(claims, self.emulator.signing_key),
        }

    def _person(self, oid: str) -> Person:
        person = self.emulator.directory.person_by_oid(oid)
        if person is None:
            raise errors.user_no_longer_exists(oid)
        return person

    def _user_tokens(
        self,
        client_id: str,
        person: Person,
        scopes: tuple[str, ...],
        session_id: str,
        nonce: str | None,
        *,
        id_token: bool | None = None,
        granted: tuple[str, ...] | None = None,
    ) -> dict:
        """The token response for ``scopes``. ``granted``: the original grant's scopes, when refreshing (the new
        refresh token keeps them); ``id_token``: whether to add one (default: when ``openid`` is asked for)."""
        granted = granted or scopes
        emulator = self.emulator
        now = int(emulator.clock())
        lifetime = emulator.token_lifetime_seconds
        access_claims = user_access_token_claims(
            tenant_id=emulator.tenant_id, client_id=client_id, audience=GRAPH_APP_ID, person=person, now=now,
            lifetime=lifetime,
        )  # fmt: skip
        response = {
            "token_type": "Bearer",
            "scope": " ".join(scopes),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": sign(access_claims, emulator.signing_key),
        }
        if "offline_access" in granted:
            response["refresh_token"] = emulator.grants.issue_refresh_token(client_id, person.oid, granted, session_id)
        if id_token if id_token is not None else "openid" in scopes:
            claims = id_token_claims(
                issuer=emulator.issuer,
                client_id=client_id,
                directory=emulator.directory,
                person=person,
                nonce=nonce,
                session_id=session_id,
                now=now,
                lifetime=lifetime,
            )
            response["id_token"] = emulator.issue_id_token(claims)
        if self._form("client_info") == "1":  # MSAL asks for this to key its cache
            response["client_info"] = b64url(json.dumps({"uid": person.oid, "utid": emulator.tenant_id}).encode())
        return response


def _grant_error(error: GrantError) -> OAuthError:
    return {
        "redeemed": errors.code_already_redeemed,
        "expired": errors.grant_expired,
        "revoked": errors.refresh_token_revoked,
    }.get(error.reason, errors.grant_malformed)()


def routes(emulator) -> list:
    args = {"emulator": emulator}
    tenant = r"/(?P<tenant>[^/]+)"
    return [
        (rf"{tenant}/v2\.0/\.well-known/openid-configuration", DiscoveryHandler, args),
        (rf"{tenant}/discovery/v2\.0/keys", KeysHandler, args),
        (rf"{tenant}/oauth2/v2\.0/authorize", AuthorizeHandler, args),
        (rf"{tenant}/oauth2/v2\.0/token", TokenHandler, args),
        (rf"{tenant}/oauth2/v2\.0/logout", LogoutHandler, args),
    ]
