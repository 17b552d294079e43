"""Group memberships from Microsoft Graph, with an application token from MSAL.

Used when an id_token signals group overage (more than 200 groups: no ``groups`` claim, ``_claim_names`` or
``hasgroups`` instead) and whenever the hub re-checks a signed-in person's membership. The hub's app registration
needs the application permission ``GroupMember.Read.All`` (admin consent).
"""

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import msal
import requests

# Graph answers at most 999 items a page; the cap on pages bounds the work for one person (99,900 groups).
PAGE_SIZE = 999
MAX_PAGES = 100


class GraphError(Exception):
    """Graph could not tell us a person's groups. The message is safe to log (no tokens)."""


def has_group_overage(claims: dict) -> bool:
    """True when Entra left the groups out of the token because there are too many."""
    names = claims.get("_claim_names")
    return bool(claims.get("hasgroups")) or (isinstance(names, dict) and "groups" in names)


# fetch(url, headers) -> parsed JSON; injected so the HTTP client and its TLS settings are the caller's.
FetchJSON = Callable[[str, dict], Awaitable[dict]]


class _HTTPSession(requests.Session):
    """MSAL's HTTP session: a bounded timeout on every request, and the configured CA bundle kept.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment replace a session's ``verify``
    (psf/requests#3829), which would silently drop ``tls_ca_bundle``.
    """

    def __init__(self, ca_bundle: str | None, timeout_seconds: float):
        super().__init__()
        self._ca_bundle = ca_bundle
        self._timeout = timeout_seconds
        if ca_bundle:
            self.verify = ca_bundle

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, **kwargs)

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self._ca_bundle:
            settings["verify"] = self._ca_bundle
        return settings


class GraphClient:
    def __init__(
        self,
        *,
        authority: str,
        client_id: str,
        client_secret: str,
        graph_url: str,
        fetch_json: FetchJSON,
        ca_bundle: str | None = None,
        timeout_seconds: float = 10,
    ):
        self.graph_url = graph_url.rstrip("/")
        self._fetch_json = fetch_json
        self._scope = [f"{self.graph_url}/.default"]
        self._msal_settings = {
            "client_id": client_id,
            "client_credential": client_secret,
            "authority": authority,
            # The authority is the administrator's own configuration (public, sovereign or the local emulator),
            # already trusted for sign-in; MSAL's instance discovery would only work for the public clouds.
            "instance_discovery": False,
            "http_client": _HTTPSession(ca_bundle, timeout_seconds),
        }
        self._app = None  # created on first use: MSAL fetches the authority's metadata in its constructor

    async def _app_token(self) -> str:
        # MSAL is synchronous (requests): keep it off the event loop. It caches the token until shortly before expiry.
        if self._app is None:
            try:
                self._app = await asyncio.to_thread(lambda: msal.ConfidentialClientApplication(**self._msal_settings))
            except ValueError as e:  # MSAL's word for an authority whose metadata it cannot use
                raise GraphError(f"MSAL cannot use the authority {self._msal_settings['authority']}: {e}") from None
        result = await asyncio.to_thread(self._app.acquire_token_for_client, scopes=self._scope)
        if "access_token" not in result:
            raise GraphError(
                f"no application token for Microsoft Graph ({result.get('error', 'unknown error')}): check the "
                "client secret and that the app registration has GroupMember.Read.All with admin consent"
            )
        return result["access_token"]

    async def user(self, id_or_principal_name: str) -> dict:
        """The user's ``id`` and ``userPrincipalName``, by object id or user principal name."""
        headers = {"Authorization": f"Bearer {await self._app_token()}", "Accept": "application/json"}
        url = f"{self.graph_url}/v1.0/users/{quote(id_or_principal_name, safe='@')}?$select=id,userPrincipalName"
        return await self._fetch_json(url, headers)

    async def transitive_group_ids(self, object_id: str) -> set[str]:
        """Ids of every group the user ``object_id`` is a member of, directly or through nested groups."""
        headers = {"Authorization": f"Bearer {await self._app_token()}", "Accept": "application/json"}
        url = (
            f"{self.graph_url}/v1.0/users/{quote(object_id, safe='')}/transitiveMemberOf/microsoft.graph.group"
            f"?$select=id,displayName&$top={PAGE_SIZE}"
        )
        groups: set[str] = set()
        for _ in range(MAX_PAGES):
            page = await self._fetch_json(url, headers)
            try:
                groups.update(item["id"].lower() for item in page["value"])
            except (KeyError, TypeError, AttributeError):
                raise GraphError("Microsoft Graph answered transitiveMemberOf without a list of groups") from None
            url = page.get("@odata.nextLink")
            if not url:
                return groups
            # The next page must come from the same Graph: never send the application token anywhere else.
            if not url.startswith(f"{self.graph_url}/"):
                raise GraphError("Microsoft Graph's next page link points outside the configured graph_url")
        raise GraphError(f"more than {MAX_PAGES} pages of groups from Microsoft Graph; refusing to read further")
