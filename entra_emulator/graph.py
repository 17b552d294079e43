"""Microsoft Graph, the little of it the hub uses: a user, and the groups a user is in (transitively), paged.

Served at the emulator's root, so the hub's Graph base URL is the emulator's URL. Every request needs a bearer token
this emulator issued for Graph (client credentials) carrying an application permission the endpoint accepts, as
listed on the endpoint's Graph reference page; the app has only the permissions its directory file grants.
"""

import base64
import binascii
from urllib.parse import quote

from . import errors
from .directory import GRAPH_PERMISSIONS, Group, Person
from .handlers import EmulatorHandler
from .tokens import BearerError, verify_bearer

DEFAULT_PAGE_SIZE = 100  # Graph's default for transitiveMemberOf
MAX_PAGE_SIZE = 999
GROUP_PROPERTIES = ("id", "displayName", "description", "securityEnabled", "mailEnabled")
USER_PROPERTIES = ("id", "displayName", "userPrincipalName", "mail", "userType")
# OData options real Graph supports that the emulator does not: refused rather than silently ignored.
_UNSUPPORTED_OPTIONS = ("$filter", "$search", "$orderby", "$expand", "$count")
# Application permissions each endpoint accepts (any one of them).
# ref: https://learn.microsoft.com/graph/api/user-get
USER_PERMISSIONS = frozenset(
    {"User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)
# User.ReadBasic.All reads only the basic profile: other properties come back null.
BASIC_USER_PROPERTIES = ("id", "displayName", "userPrincipalName", "mail")
# ref: https://learn.microsoft.com/graph/api/user-list-transitivememberof ("another user's memberships")
MEMBERSHIP_PERMISSIONS = frozenset(
    {"User.Read.All", "GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)
# Without one of these, groups come back with only id and @odata.type (Graph's "limited information" rule).
GROUP_READ_PERMISSIONS = frozenset({"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"})


class GraphHandler(EmulatorHandler):
    endpoint = "graph"
    permissions: frozenset[str] = frozenset()  # any one of these lets the app call the endpoint

    async def prepare(self):
        await super().prepare()
        self.claims = self._bearer_claims()
        retry_after = self.emulator.throttled()
        if retry_after is not None:
            raise errors.graph_throttled(retry_after)
        if not self.granted & self.permissions:
            raise errors.graph_forbidden()

    def _bearer_claims(self) -> dict:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.graph_unauthenticated("Access token is empty.")
        try:
            claims = verify_bearer(
                token.strip(),
                self.emulator.own_keys,
                tenant_id=self.emulator.tenant_id,
                audiences=self.emulator.graph_audiences,
            )
        except BearerError as e:
            raise errors.graph_unauthenticated(e.message) from None
        if claims.get("idtyp") != "app":
            # Delegated (user) tokens only carry User.Read here: not enough to read other people's groups.
            raise errors.graph_forbidden()
        return claims

    @property
    def granted(self) -> set[str]:
        return set(self.claims.get("roles", ()))

    def write_error(self, status_code: int, **kwargs):
        error = kwargs.get("exc_info", (None, None, None))[1]
        if getattr(error, "status", None) == 401:
            self.set_header("WWW-Authenticate", f'Bearer realm="", authorization_uri="{self.emulator.authority}"')
        if getattr(error, "retry_after", None) is not None:
            self.set_header("Retry-After", str(error.retry_after))
        super().write_error(status_code, **kwargs)

    def person(self, user_id: str) -> Person:
        """A user by object id or user principal name, as Graph's /users/{id | userPrincipalName}."""
        directory = self.emulator.directory
        # By object id or exact UPN (a guest's is the #EXT# one): Graph does not look people up by their address.
        person = directory.person_by_oid(user_id) or directory.people.get(user_id.strip().lower())
        if person is None:
            raise errors.graph_not_found(user_id)
        return person

    def selected(self, allowed: tuple[str, ...], entity: str) -> list[str]:
        for option in _UNSUPPORTED_OPTIONS:
            if self.get_query_argument(option, None) is not None:
                raise errors.graph_bad_request(f"The emulator does not support the query option {option}.")
        select = self.get_query_argument("$select", "")
        names = [n.strip() for n in select.split(",") if n.strip()] or list(allowed)
        for name in names:
            if name not in allowed:
                raise errors.graph_bad_request(f"Could not find a property named '{name}' on type '{entity}'.")
        return names


class UserHandler(GraphHandler):
    permissions = USER_PERMISSIONS

    def get(self, user_id):
        person = self.person(user_id)
        names = self.selected(USER_PROPERTIES, "microsoft.graph.user")
        values = {
            "id": person.oid,
            "displayName": person.name,
            "userPrincipalName": person.username,
            "mail": person.mail if person.is_guest else person.username,
            "userType": "Guest" if person.is_guest else "Member",
        }
        if not self.granted & (USER_PERMISSIONS - {"User.ReadBasic.All"}):
            values = {n: (v if n in BASIC_USER_PROPERTIES else None) for n, v in values.items()}
        context = f"{self.emulator.graph_url}/v1.0/$metadata#users({','.join(names)})/$entity"
        self.write_json({"@odata.context": context, **{n: values[n] for n in names}})


class TransitiveMemberOfHandler(GraphHandler):
    """``/users/{id}/transitiveMemberOf[/microsoft.graph.group]``: all groups of every type (whatever the
    app registration's groupMembershipClaims puts in tokens), nested ones included, paged."""

    permissions = MEMBERSHIP_PERMISSIONS

    def get(self, user_id, cast):
        person = self.person(user_id)
        names = self.selected(GROUP_PROPERTIES, "microsoft.graph.group")
        page_size = self._page_size()
        start = _offset(self.get_query_argument("$skiptoken", None))
        groups = self.emulator.directory.groups_of(person)
        page = groups[start : start + page_size]
        body = {
            "@odata.context": f"{self.emulator.graph_url}/v1.0/$metadata#directoryObjects",
            "value": [_group_item(g, names, limited=not self.granted & GROUP_READ_PERMISSIONS) for g in page],
        }
        if start + page_size < len(groups):
            body["@odata.nextLink"] = self._next_link(user_id, cast, names, page_size, start + page_size)
        self.write_json(body)

    def _page_size(self) -> int:
        top = self.get_query_argument("$top", None)
        if top is None:
            return DEFAULT_PAGE_SIZE
        if not top.isdigit() or not 1 <= int(top) <= MAX_PAGE_SIZE:
            raise errors.graph_bad_request(
                f"Invalid page size specified: '{top}'. Must be between 1 and {MAX_PAGE_SIZE} inclusive."
            )
        return int(top)

    def _next_link(self, user_id: str, cast: str | None, names: list[str], page_size: int, offset: int) -> str:
        path = f"/v1.0/users/{quote(user_id, safe='')}/transitiveMemberOf{cast or ''}"
        query = f"$select={','.join(names)}&$top={page_size}&$skiptoken={_skiptoken(offset)}"
        return f"{self.emulator.graph_url}{path}?{query}"


def _group_item(group: Group, names: list[str], *, limited: bool) -> dict:
    values = {
        "id": group.id,
        "displayName": group.display_name,
        "description": None,
        "securityEnabled": group.security_enabled,
        "mailEnabled": not group.security_enabled,
    }
    if limited:
        values = {n: (v if n == "id" else None) for n, v in values.items()}
    return {"@odata.type": "#microsoft.graph.group", **{n: values[n] for n in names}}


def _skiptoken(offset: int) -> str:
    """Opaque to clients, as Graph's are; here just the position of the next page."""
    return base64.urlsafe_b64encode(f"emulator-offset:{offset}".encode()).decode().rstrip("=")


def _offset(skiptoken: str | None) -> int:
    if skiptoken is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(skiptoken + "=" * (-len(skiptoken) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix == "emulator-offset" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise errors.graph_bad_request("Invalid $skiptoken: use the @odata.nextLink exactly as given.")


class UnknownGraphPathHandler(GraphHandler):
    permissions = frozenset(GRAPH_PERMISSIONS)

    def get(self, path):
        raise errors.GraphError(400, "BadRequest", f"Resource not found for the segment '{path.split('/')[0]}'.")


def routes(emulator) -> list:
    args = {"emulator": emulator}
    return [
        (r"/v1\.0/users/([^/]+)/transitiveMemberOf(/microsoft\.graph\.group)?", TransitiveMemberOfHandler, args),
        (r"/v1\.0/users/([^/]+)", UserHandler, args),
        (r"/v1\.0/(.*)", UnknownGraphPathHandler, args),
    ]
