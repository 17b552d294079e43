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

from traitlets import Bool
from traitlets.config import Configurable

HUB_ADMIN_ROLE = "hub-admin"
# Running the hub: the admin page, people's accounts (read, list, delete; not rename or create, which need
# admin:users and with it admin:auth_state), starting and stopping anyone's server (not opening it), groups, services
# (the broker's "What can I access?" page, which shows admins anyone's access), the hub's state and metrics, who has
# shared what.
HUB_ADMIN_SCOPES = (
    "admin-ui",
    "users",
    "delete:users",
    "read:roles",
    "admin:servers",
    "admin:groups",
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
        stop and delete servers and accounts, manage groups and read anyone's "What can I access?" page; they never
        get people's Entra tokens (auth_state), tokens in other people's names, or shares of their servers. No
        person holds JupyterHub's built-in `admin` role, which would give all of that (it cannot be narrowed).

        Turn it on only where admins must work inside people's servers. It adds JupyterHub's `access:servers` to
        the `hub-admin` role, nothing else. The credentials served inside that server still carry the owner's
        identity (RoleSessionName and SourceIdentity are the owner's): AWS cannot tell an admin's calls from the
        owner's, and only the hub's log ("... accessing Server at /user/<name>/") says who was let in, and when.
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
