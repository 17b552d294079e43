"""Who is asking, and what may they have? Pure decisions from the hub's answers and the access policy.

Inputs are the hub API's JSON: the token owner's model (``GET /hub/api/user`` with the caller's own token, which
makes the hub re-check membership through the authenticator's ``refresh_user``) and that same person's full model
(``GET /hub/api/users/<name>`` with the broker's service token: ``auth_state`` and the server's ``user_options``).
The person is always the token owner: nothing in a request can name anyone else.
"""

from datetime import datetime

from authenticator.access_policy import AccessPolicy
from authenticator.auth_state import EligibleRole, eligible_roles
from authenticator.safe_names import safe_name

from ..session_policy import SessionPolicyTooLarge, packed_session_policy
from . import errors
from .contract import (
    IDENTIFY_SCOPES,
    ISSUE_SCOPE,
    JOB_SCOPE,
    LAPTOP_NOTE_PREFIX,
    LAPTOP_PAGE_TITLE,
    LAPTOP_SCOPE,
    ROLE_OPTION,
)
from .errors import Refusal
from .minting import Grant

# STS's limit on RoleSessionName.
SESSION_NAME_MAX = 64
# The kinds of token the broker serves (the audit line's `kind`), and the session name's suffix of each.
SERVER, LAPTOP, JOB = "server", "laptop", "job"
_NEW_LAPTOP_TOKEN = f'Create a new token on the hub\'s page "{LAPTOP_PAGE_TITLE}" (linked from the home page).'


def server_scope(scope: str, username: str, server_name: str = "") -> str:
    """``scope`` filtered to one server, as JupyterHub expands ``<scope>!server`` in a server token's role."""
    return f"{scope}!server={username}/{server_name}"


def identify(whoami: dict, scope: str = ISSUE_SCOPE, server_name: str = "") -> str:
    """The token owner's hub username, or a refusal unless the token is that person's server's own token.

    The rule: only a notebook server's own token (the ``server`` role gives it ``<scope>!server``) obtains
    credentials, and only for that server. A personal token (the hub's token page, the API) inherits its owner's
    ``<scope>!user`` and is refused, whatever its expiry: laptop access will be a token for that purpose only.
    """
    if whoami.get("kind") != "user":
        raise Refusal(
            403,
            errors.NOT_A_PERSON,
            "This token does not belong to a person: credentials are issued only to a person's own notebook server.",
        )
    name = whoami["name"]
    scopes = set(whoami.get("scopes") or ())
    if server_scope(scope, name, server_name) in scopes:
        return name
    if f"{scope}!user={name}" in scopes or any(s.startswith(f"{scope}!server={name}/") for s in scopes):
        raise Refusal(
            403,
            errors.NOT_A_SERVER_TOKEN,
            "This token is not this notebook server's own token (a personal token from the hub's token page, or "
            "another server's): only a running server's own JUPYTERHUB_API_TOKEN obtains AWS credentials, for that "
            "server.",
        )
    raise Refusal(
        403,
        errors.MISSING_SCOPE,
        f"This token lacks the {scope!r} scope: only a notebook server's own token (JUPYTERHUB_API_TOKEN) may "
        "obtain AWS credentials.",
    )


def token_kind(whoami: dict) -> str:
    """Which kind of token the hub's answer describes: LAPTOP (or JOB) when its only scope (besides identifying its
    owner) is the laptop (or job) scope for its owner; else SERVER, whose own rule (:func:`identify`) then decides.

    A token carrying the laptop scope and more is refused: a laptop's token is for that purpose only. (A personal
    token with its owner's permissions, the hub's default, also carries the server scope, and :func:`identify`
    refuses it as not a server's token.)"""
    name = whoami.get("name")
    scopes = set(whoami.get("scopes") or ()) - {f"{s}!user={name}" for s in IDENTIFY_SCOPES}
    if whoami.get("kind") == "user" and scopes == {f"{JOB_SCOPE}!user={name}"}:
        return JOB  # a scheduled run's own token (hub/jobs: its run must be open)
    laptop = f"{LAPTOP_SCOPE}!user={name}"
    if whoami.get("kind") != "user" or laptop not in scopes:
        return SERVER
    if scopes == {laptop}:
        return LAPTOP
    if not any(s.startswith(f"{ISSUE_SCOPE}!") for s in scopes):
        raise Refusal(
            403,
            errors.NOT_PURPOSE_ONLY,
            "This token can do more than fetch AWS credentials for a laptop, so the broker does not serve it: a "
            f"laptop's token must be for that purpose only. {_NEW_LAPTOP_TOKEN}",
        )
    return SERVER


def _utc(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def laptop_access_group(token_model: dict, policy: AccessPolicy, max_days: int) -> str:
    """The access group a laptop token is for (its note), or a refusal: the note names none, the token lives longer
    than ``max_days`` (tokens made elsewhere than the hub's page), or the group's ``laptop_access`` is off.
    ``token_model`` is the hub's token model (``GET /users/<name>/tokens/<id>``: note, created, expires_at)."""
    note = token_model.get("note") or ""
    access_group = note[len(LAPTOP_NOTE_PREFIX) :].strip() if note.startswith(LAPTOP_NOTE_PREFIX) else ""
    if not access_group:
        raise Refusal(
            403,
            errors.LAPTOP_TOKEN_WITHOUT_ROLE,
            f"This laptop token does not say which AWS role it is for (its note must be "
            f"'{LAPTOP_NOTE_PREFIX}<access group>'). {_NEW_LAPTOP_TOKEN}",
        )
    created, expires = _utc(token_model.get("created")), _utc(token_model.get("expires_at"))
    if expires is None or created is None or (expires - created).total_seconds() > max_days * 86400:
        days = None if expires is None else round((expires - created).total_seconds() / 86400)
        lifetime = "never expires" if days is None else f"is valid for {days} days"
        raise Refusal(
            403,
            errors.LAPTOP_TOKEN_LIFETIME,
            f"This laptop token {lifetime}, longer than the {max_days} days your administrator allows for a laptop "
            f"(CredentialBroker.laptop_token_max_days). {_NEW_LAPTOP_TOKEN}",
        )
    group = policy.group(access_group)
    if group is None:
        raise Refusal(
            403,
            errors.ROLE_NOT_ELIGIBLE,
            f"This laptop token is for the access group {access_group[:64]!r}, which the access policy does not have "
            f"(any more). {_NEW_LAPTOP_TOKEN}",
        )
    if not group.laptop_access:
        raise Refusal(
            403,
            errors.LAPTOP_ACCESS_OFF,
            f"AWS access from a laptop is turned off for the role {group.display_name} (access group "
            f"{group.name!r}): use it inside a notebook server on the hub. Your administrator decides this "
            "(laptop_access in the access policy).",
        )
    return access_group


def decide_laptop_grant(user_model: dict, policy: AccessPolicy, access_group: str) -> Grant:
    """The grant for a laptop token of the person in ``user_model``, for the access group its note names: their
    credentials as inside a server, in a session named ``<username>-laptop``."""
    return decide_grant_for(
        user_model,
        policy,
        access_group,
        not_eligible=f"You are not eligible (any more) for the role of access group {access_group!r} this laptop "
        f"token is for (your roles now: {{roles}}). {_NEW_LAPTOP_TOKEN}",
        session_suffix=LAPTOP,
    )


def chosen_access_group(user_options: dict, eligible: list[EligibleRole]) -> str:
    """The access group the server was started with (or the only one the person has)."""
    chosen = (user_options or {}).get(ROLE_OPTION)
    if chosen:
        return chosen
    if len(eligible) == 1:
        return eligible[0]["access_group"]
    raise Refusal(
        403,
        errors.NO_ROLE_CHOSEN,
        "This server was started without choosing an AWS role, and you have several. Stop the server and start it "
        "again, choosing a role.",
    )


def session_name(username: str, suffix: str = "") -> str:
    """The STS session name: the username, then what kind of session it is (``sam-laptop``, ``sam-job-<id>``).

    STS allows 64 characters (``[\\w+=,.@-]``); usernames are safe names of at most 48, so the username part is
    shortened when a suffix would not fit (the session tag ``user`` always carries the whole name).
    ref: https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html (RoleSessionName)
    """
    if not suffix:
        return username
    tail = f"-{suffix}"
    return username[: SESSION_NAME_MAX - len(tail)] + tail


def decide_grant(user_model: dict, policy: AccessPolicy, server_name: str = "") -> Grant:
    """The grant for a running server of the person in ``user_model`` (read with ``admin:auth_state`` and
    ``read:servers``): the role the server was started with."""
    server = (user_model.get("servers") or {}).get(server_name)
    if server is None or server.get("stopped"):
        label = f"server {server_name!r}" if server_name else "default server"
        raise Refusal(
            403,
            errors.NO_SERVER,
            f"Your {label} is not running, so no credentials are issued for it. Start it from the hub's home page.",
        )
    eligible = _eligible(user_model)
    access_group = chosen_access_group(server.get("user_options") or {}, eligible)
    return decide_grant_for(
        user_model,
        policy,
        access_group,
        not_eligible=f"You are no longer eligible for the role of access group {access_group!r} this server was "
        "started with (your roles now: {roles}). Stop the server and start it again with one of them.",
    )


def _eligible(user_model: dict) -> list[EligibleRole]:
    auth_state = user_model.get("auth_state") or {}
    eligible = eligible_roles(auth_state)
    if not eligible or not (auth_state.get("entra") or {}).get("oid"):
        raise Refusal(
            403,
            errors.ROLE_NOT_ELIGIBLE,
            "You are not in any Entra ID group that grants an AWS role any more. Ask to be added to one, then sign "
            "in again.",
        )
    return eligible


def decide_grant_for(
    user_model: dict,
    policy: AccessPolicy,
    access_group: str,
    *,
    not_eligible: str,
    session_suffix: str = "",
    extra_tags: tuple[tuple[str, str], ...] = (),
) -> Grant:
    """The grant for the person in ``user_model`` and one of their access groups, whatever asks for it (a server, a
    laptop token, a scheduled run): the person must still be eligible for it (``auth_state`` as the hub's last
    membership check left it). ``not_eligible`` is the refusal's text; ``{roles}`` in it becomes their roles now."""
    eligible = _eligible(user_model)
    entry = next((r for r in eligible if r.get("access_group") == access_group), None)
    group = policy.group(access_group)
    if entry is None or group is None or group.role_arn != entry.get("role_arn"):
        names = ", ".join(r.get("display_name", r["access_group"]) for r in eligible)
        raise Refusal(403, errors.ROLE_NOT_ELIGIBLE, not_eligible.format(roles=names))
    username = safe_name(user_model["name"])
    oid = user_model["auth_state"]["entra"]["oid"]
    deployment = policy.deployment
    try:
        session_policy = packed_session_policy(
            username, group.role_arn, deployment.home_location(username), group.s3, deployment.aws_partition
        )
    except SessionPolicyTooLarge as e:
        raise Refusal(502, errors.POLICY_TOO_LARGE, str(e)) from None
    return Grant(
        username=username,
        oid=oid,
        group=group,
        session_policy=session_policy,
        session_name=session_name(username, session_suffix),
        extra_tags=extra_tags,
    )
