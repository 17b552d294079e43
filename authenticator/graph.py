"""Group memberships and users from Microsoft Graph, with an application token from MSAL.

The hub reads a person's groups here at every sign-in and every re-check (one source of group truth: Graph's
``transitiveMemberOf`` sees every group type, nested ones included, whatever the token's groups claim carries).
Application permissions (admin consent), each named in the refusal when it is missing:

- ``GroupMember.Read.All``: memberships (``transitive_group_ids``), for sign-in and re-checks;
- ``User.ReadBasic.All``: looking a person up by name (``user``), for ``entra-access explain --user`` only.

A throttled request (429) is retried after its ``Retry-After`` while a time budget lasts, then given up as
:class:`GraphThrottled`. ref: https://learn.microsoft.com/graph/throttling
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import msal
import requests

# Graph answers at most 999 items a page; the cap on pages bounds the work for one person (99,900 groups).
PAGE_SIZE = 999
MAX_PAGES = 100
# The least-privileged application permission for each call the hub makes.
# ref: https://learn.microsoft.com/graph/api/user-list-transitivememberof
MEMBERSHIP_PERMISSION = "GroupMember.Read.All"
# ref: https://learn.microsoft.com/graph/api/user-get
USER_LOOKUP_PERMISSION = "User.ReadBasic.All"
# Graph's advice when a 429 carries no Retry-After: back off; this is the first wait.
DEFAULT_RETRY_AFTER_SECONDS = 1.0


class GraphError(Exception):
    """Graph could not answer. The message is safe to log and to show (no tokens)."""


class GraphRefused(GraphError):
    """Graph answered with an HTTP error. Raised by the injected fetch function; the client turns 403 and 429 into
    :class:`GraphPermissionError` and :class:`GraphThrottled`."""

    def __init__(self, status: int, retry_after: float | None = None):
        self.status, self.retry_after = status, retry_after
        super().__init__(f"Microsoft Graph answered {status}")


class GraphPermissionError(GraphError):
    """The app registration lacks the application permission a call needs."""

    def __init__(self, permission: str, purpose: str):
        self.permission = permission
        super().__init__(
            f"Microsoft Graph refused to {purpose}: the app registration lacks the application permission "
            f"{permission}. Add it under API permissions (Microsoft Graph, Application) and grant admin consent"
        )


class GraphThrottled(GraphError):
    """Graph kept answering 429 for longer than the retry budget."""

    def __init__(self, budget_seconds: float):
        super().__init__(f"Microsoft Graph is throttling this application (429) beyond {budget_seconds:g} s of retries")


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (Graph sends a number of seconds); None when absent or not a number."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


# fetch(url, headers) -> parsed JSON, raising GraphRefused for an HTTP error answer; injected so the HTTP client and
# its TLS settings are the caller's.
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
        retry_budget_seconds: float = 10,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.graph_url = graph_url.rstrip("/")
        self._fetch_json = fetch_json
        self.retry_budget_seconds = retry_budget_seconds
        self._sleep = sleep
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
                "client ID and secret of the app registration"
            )
        return result["access_token"]

    def _deadline(self) -> float:
        """Until when one operation (all its pages) may wait for a throttled Graph."""
        return time.monotonic() + self.retry_budget_seconds

    async def _get(self, url: str, headers: dict, permission: str, purpose: str, deadline: float) -> dict:
        """GET with 429 retried after ``Retry-After`` until ``deadline``; 403 names the missing permission."""
        backoff = DEFAULT_RETRY_AFTER_SECONDS
        while True:
            try:
                return await self._fetch_json(url, headers)
            except GraphRefused as e:
                if e.status == 403:
                    raise GraphPermissionError(permission, purpose) from None
                if e.status != 429:
                    raise
                if e.retry_after is not None:
                    wait = e.retry_after
                else:
                    wait, backoff = backoff, backoff * 2
                if time.monotonic() + wait > deadline:
                    raise GraphThrottled(self.retry_budget_seconds) from None
                await self._sleep(wait)

    async def user(self, id_or_principal_name: str) -> dict:
        """The user's ``id`` and ``userPrincipalName``, by object id or user principal name."""
        headers = {"Authorization": f"Bearer {await self._app_token()}", "Accept": "application/json"}
        url = f"{self.graph_url}/v1.0/users/{quote(id_or_principal_name, safe='@')}?$select=id,userPrincipalName"
        return await self._get(url, headers, USER_LOOKUP_PERMISSION, "look up users", self._deadline())

    async def transitive_group_ids(self, object_id: str) -> set[str]:
        """Ids of every group the user ``object_id`` is a member of, directly or through nested groups."""
        headers = {"Authorization": f"Bearer {await self._app_token()}", "Accept": "application/json"}
        url = (
            f"{self.graph_url}/v1.0/users/{quote(object_id, safe='')}/transitiveMemberOf/microsoft.graph.group"
            f"?$select=id,displayName&$top={PAGE_SIZE}"
        )
        groups: set[str] = set()
        deadline = self._deadline()
        for _ in range(MAX_PAGES):
            page = await self._get(url, headers, MEMBERSHIP_PERMISSION, "read group memberships", deadline)
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
