"""What a hub admin may do: run the hub, never become another person.

JupyterHub's built-in ``admin`` role holds ``access:servers`` (open anyone's server, and so act in AWS with that
person's credentials), ``admin:auth_state`` (read people's Entra ID access and refresh tokens, write their eligible
roles), ``tokens`` (issue a token in someone else's name), ``shares`` (share anyone's server with oneself) and
``admin:users`` (rename accounts, so that one's own account takes over another person's name and S3 home). That role
cannot be edited, and the old ``JupyterHub.admin_access`` switch has no effect since JupyterHub 2. So nobody holds it:
hub admins (members of access groups marked ``hub_admin``) hold the ``hub-admin`` role below instead, through their
JupyterHub groups, with what running the hub needs and nothing that makes an admin someone else.

ref: https://jupyterhub.readthedocs.io/en/stable/rbac/roles.html (default roles; "admin ... cannot be edited")
ref: https://jupyterhub.readthedocs.io/en/stable/rbac/scopes.html (what each scope includes)
"""

from jupyterhub.apihandlers.auth import OAuthAuthorizeHandler
from jupyterhub.log import log_request
from traitlets import Bool
from traitlets.config import Configurable

HUB_ADMIN_ROLE = "hub-admin"
# Running the hub: the admin page, people's accounts (read, list, delete; not rename or create, which need
# admin:users and with it admin:auth_state), starting and stopping anyone's server (not opening it), reading groups
# (their members come from Entra ID; an edit would make someone a hub admin until their next re-check), services (the
# broker's "What can I access?" page, which shows admins anyone's access), the hub's state and metrics, who has shared
# what.
HUB_ADMIN_SCOPES = (
    "admin-ui",
    "users",
    "delete:users",
    "read:roles",
    "admin:servers",
    "list:groups",
    "read:groups",
    "admin:services",
    "access:services",
    "read:hub",
    "read:metrics",
    "read:shares",
    "shutdown",
)
OPEN_SERVERS = "access:servers"


class HubAdmins(Configurable):
    """What hub admins (members of access groups marked `hub_admin` in the access policy) may do."""

    may_open_peoples_servers = Bool(
        False,
        config=True,
        help="""
        Let hub admins open other people's notebook servers (the Admin page's "Access Server", or /user/<name>/).

        Off by default: inside a person's server an admin runs code with that person's AWS credentials, role and S3
        home, and AWS (CloudTrail) records the person, never the admin. With it off, hub admins still list, start,
        stop and delete servers and accounts, read groups and anyone's "What can I access?" page; they never
        get people's Entra tokens (auth_state), tokens in other people's names, or shares of their servers. No
        person holds JupyterHub's built-in `admin` role, which would give all of that (it cannot be narrowed).

        Turn it on only where admins must work inside people's servers. It adds JupyterHub's `access:servers` to
        the `hub-admin` role, nothing else. Every time the hub lets someone into another person's server, its log
        records both (`Audit: alex was let into the server of sam (/user/sam/) from <address>`). The credentials
        served inside that server still carry the owner's identity (RoleSessionName and SourceIdentity are the
        owner's): AWS and the broker's audit cannot tell an admin's calls from the owner's; only that hub record,
        by its time, can.
        """,
    )


def hub_admin_roles(may_open_peoples_servers: bool, admin_groups: list[str]) -> list[dict]:
    """``load_roles`` entries: the ``hub-admin`` role for the JupyterHub groups of the hub_admin access groups, and
    JupyterHub's built-in ``admin`` role for no person and no group (assignments are reset to this at every start)."""
    scopes = [*HUB_ADMIN_SCOPES, OPEN_SERVERS] if may_open_peoples_servers else list(HUB_ADMIN_SCOPES)
    return [
        {
            "name": HUB_ADMIN_ROLE,
            "description": "Run the hub: people's accounts and servers, groups, services; never act as another person",
            "scopes": scopes,
            "groups": sorted(admin_groups),
        },
        {"name": "admin", "users": [], "groups": []},
    ]


def is_hub_admin(user_model: dict, policy) -> bool:
    """Whether a person (the hub API's user model) is a hub admin now: a member of an access group marked
    ``hub_admin`` in the access policy, the groups that hold the ``hub-admin`` role."""
    admin_groups = {g.name for g in policy.access_groups if g.hub_admin}
    return bool(admin_groups & set(user_model.get("groups") or ()))


def log_request_and_audit_access_to_others_servers(handler) -> None:
    """JupyterHub's request log, plus one audit line each time the hub lets someone into another person's server.

    The moment is the hub's OAuth authorization for that server (the answer that carries a code), the one place that
    knows both identities: inside the server, everything runs on the owner's token and credentials.
    """
    log_request(handler)
    if not isinstance(handler, OAuthAuthorizeHandler) or handler.get_status() != 302:
        return
    if "code=" not in handler._headers.get("Location", ""):  # an OAuth error answer is a redirect too
        return
    client = handler.oauth_provider.fetch_by_client_id(handler.get_argument("client_id", ""))
    visitor = handler.current_user
    spawner = getattr(client, "spawner", None)
    if spawner is None or visitor is None or spawner.user.name == visitor.name:
        return
    handler.log.warning(
        "Audit: %s was let into the server of %s (%s) from %s",
        visitor.name,
        spawner.user.name,
        client.description,
        handler.request.remote_ip,
    )
