"""``entra-access``: what would this person get, and why?

    entra-access check   --policy access-policy.yaml
    entra-access explain --policy access-policy.yaml --groups <group-id>[,<group-id>...]
    entra-access explain --policy access-policy.yaml --user ana@contoso.com     # asks Microsoft Graph

``--user`` looks the person up in Graph and reads their transitive groups with the hub's app registration, which
then needs ``User.ReadBasic.All`` besides the hub's ``GroupMember.Read.All``. The answer comes from the same policy
code the hub runs. ``check`` also reminds that roles people chain into from a notebook must allow sts:TagSession.

Revoking one person now (hub admins; the hub's credential broker does the work, ``hub/revocation/``):

    entra-access revoke sam     --hub-url https://hub.example.com   # JUPYTERHUB_API_TOKEN: a hub admin's token
    entra-access unrevoke sam   --hub-url https://hub.example.com
    entra-access revocations    --hub-url https://hub.example.com

The token comes from the environment (``JUPYTERHUB_API_TOKEN``, a token from the hub's token page with your full
permissions), never from the command line. Exit status: 0 done; 1 done at the hub but AWS was not updated (the
message says why; repeat the command once fixed); 2 refused or unreachable.
"""

import argparse
import asyncio
import json
import os
import sys
from urllib.parse import quote

import requests

from hub.broker.contract import SERVICE_PREFIX

from .access_policy import AccessPolicy, AccessPolicyError, load_access_policy
from .entra import hub_username
from .graph import GraphClient, GraphError, GraphRefused, retry_after_seconds
from .safe_names import safe_name

# Brokered sessions carry transitive session tags and a source identity; both travel into chained roles.
# ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_role-chaining
ROLE_CHAINING_NOTE = (
    "Note: roles that people assume from a notebook (role chaining) must allow sts:TagSession and "
    "sts:SetSourceIdentity in their trust policy: the brokered session's tags (user, access-group) and source "
    "identity travel with them, and AWS refuses the chained call otherwise."
)


def explain(policy: AccessPolicy, group_ids, username: str | None = None) -> dict:
    """The access decision for a member of ``group_ids``, with the reasons, as plain data."""
    decision = policy.decide(group_ids)
    home = [policy.deployment.home_location(safe_name(username))] if username and decision.allowed else []
    return {
        "username": username,
        "allowed": decision.allowed,
        "admin": decision.admin,
        "access_groups": [
            {
                "name": g.name,
                "display_name": g.display_name,
                "entra_group_id": g.entra_group_id,
                "role_arn": g.role_arn,
                "session_duration_seconds": g.session_duration_seconds,
                "hub_admin": g.hub_admin,
                "s3": [{"bucket": s.bucket, "prefix": s.prefix, "access": s.access} for s in g.s3],
            }
            for g in decision.groups
        ],
        "home": [{"bucket": h.bucket, "prefix": h.prefix, "access": h.access} for h in home],
        "granting_groups": [
            {"display_name": g.display_name, "entra_group_id": g.entra_group_id} for g in policy.access_groups
        ],
    }


def render_text(answer: dict) -> str:
    who = answer["username"] or "A member of these groups"
    if not answer["allowed"]:
        granting = "\n".join(f"  - {g['display_name']} ({g['entra_group_id']})" for g in answer["granting_groups"])
        return f"{who}: NO ACCESS. In none of the Entra groups that grant access:\n{granting}\n"
    lines = [f"{who}: may sign in{' as a hub admin' if answer['admin'] else ''}."]
    for home in answer["home"]:
        lines.append(f"Own notebooks: s3://{home['bucket']}/{home['prefix']} ({home['access']})")
    lines.append("Roles (one per access group; the person picks one when starting a server):")
    for g in answer["access_groups"]:
        admin = ", makes hub admin" if g["hub_admin"] else ""
        lines.append(f"- {g['display_name']} [{g['name']}], because of Entra group {g['entra_group_id']}{admin}")
        lines.append(f"    role {g['role_arn']}, credentials for {g['session_duration_seconds']} s")
        for s in g["s3"]:
            lines.append(f"    s3://{s['bucket']}/{s['prefix']} ({s['access']})")
    return "\n".join(lines) + "\n"


def _graph_groups_of(user: str, args) -> tuple[str, set[str]]:
    # The hub's app registration, under the names the hub uses: its tenant_id and client_id settings, and the
    # client secret from the same environment variable as the hub's (a secret never goes on a command line).
    missing = [name for name, value in (("--tenant-id", args.tenant_id), ("--client-id", args.client_id)) if not value]
    missing += [] if os.environ.get("OAUTH_CLIENT_SECRET") else ["OAUTH_CLIENT_SECRET in the environment"]
    if missing:
        raise GraphError(f"--user needs {', '.join(missing)} (the hub's app registration)")
    verify = args.ca_bundle or True

    async def fetch_json(url, headers):
        response = await asyncio.to_thread(requests.get, url, headers=headers, timeout=args.timeout, verify=verify)
        if response.status_code == 404:
            raise GraphError(f"Microsoft Graph knows no user {user!r}")
        if not response.ok:
            raise GraphRefused(response.status_code, retry_after_seconds(response.headers.get("Retry-After")))
        return response.json()

    graph = GraphClient(
        authority=f"{args.authority.rstrip('/')}/{args.tenant_id}",
        client_id=args.client_id,
        client_secret=os.environ["OAUTH_CLIENT_SECRET"],
        graph_url=args.graph_url,
        fetch_json=fetch_json,
        ca_bundle=args.ca_bundle,
        timeout_seconds=args.timeout,
        retry_budget_seconds=args.timeout,
    )

    async def lookup():
        person = await graph.user(user)
        return person.get("userPrincipalName") or user, await graph.transitive_group_ids(person["id"])

    return asyncio.run(lookup())


class HubCommandError(Exception):
    """A revocation command could not be done; the message says why (never the token)."""


def broker_call(args, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One call to the broker's revocation API with the admin's token; (status, JSON answer)."""
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if not args.hub_url:
        raise HubCommandError("--hub-url is needed (or JUPYTERHUB_URL in the environment): the hub's address")
    if not token:
        raise HubCommandError(
            "JUPYTERHUB_API_TOKEN is not set: make a token on the hub's token page (signed in as a hub admin, with "
            "your full permissions) and put it in that variable"
        )
    url = f"{args.hub_url.rstrip('/')}{SERVICE_PREFIX}v1/revocations{path}"
    try:
        response = requests.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"token {token}"},
            timeout=args.timeout,
            verify=args.ca_bundle or True,
        )
    except requests.RequestException as e:
        raise HubCommandError(f"could not reach the hub at {args.hub_url} ({type(e).__name__})") from None
    try:
        answer = response.json()
    except ValueError:
        raise HubCommandError(
            f"the hub at {args.hub_url} answered {response.status_code} without the broker's JSON: is this the "
            "hub's address, and is its credential broker running?"
        ) from None
    # 502 aws-not-updated: done at the hub, not in AWS; the answer says what was done
    partial = response.status_code == 502 and answer.get("error") == "aws-not-updated"
    if response.status_code != 200 and not partial:
        raise HubCommandError(answer.get("message") or f"refused ({response.status_code})")
    return response.status_code, answer


def _when(iso: str) -> str:
    return iso.replace("T", " ").replace("Z", " UTC")


def render_revoked(answer: dict) -> str:
    r = answer["revocation"]
    since = f"since {_when(r['revoked_at'])} (by {r['revoked_by']})"
    lines = [
        f"{r['user']} (Entra object id {r['oid']}) is revoked {since}."
        if answer["new"]
        else f"{r['user']} was revoked already, {since}; done again:"
    ]
    servers = len(answer["servers_stopped"])
    lines.append(
        f"Stopped {servers} server{'s' if servers != 1 else ''}, deleted {answer['tokens_deleted']} hub "
        f"token{'s' if answer['tokens_deleted'] != 1 else ''}, closed {answer['job_runs_closed']} job run"
        f"{'s' if answer['job_runs_closed'] != 1 else ''}. The hub and its credential broker refuse them from now on."
    )
    effect = f"credentials {r['user']} already holds stop working within IAM's propagation time (usually seconds)"
    lines.append(_aws_line(answer["aws"], effect))
    return "\n".join(lines) + "\n"


def render_unrevoked(answer: dict) -> str:
    r = answer["revocation"]
    return (
        f"{r['user']} is no longer revoked (revoked {_when(r['revoked_at'])} by {r['revoked_by']}, unrevoked "
        f"{_when(r['unrevoked_at'])} by {r['unrevoked_by']}). They sign in again as usual.\n"
        + _aws_line(answer["aws"], "it keeps denying their sessions issued before now until those expire")
        + "\n"
    )


def _aws_line(aws: dict, effect: str) -> str:
    if aws["updated"]:
        return f"AWS: the revocations policy {aws['policy_arn']} is now version {aws['version']}; {effect}."
    return f"AWS was NOT updated: {aws['problem']} Once fixed, repeat the command: it rewrites the policy."


def render_revocations(answer: dict) -> str:
    aws = answer["aws"]
    if not answer["revocations"]:
        lines = ["Nobody is revoked."]
    else:
        lines = [f"{len(answer['revocations'])} revoked:"]
        for r in answer["revocations"]:
            since = f"since {_when(r['revoked_at'])}, by {r['revoked_by']}"
            lines.append(f"- {r['user']} ({r['oid']}), {since}; in AWS: {r['in_aws']}")
    if aws["problem"]:
        lines.append(f"AWS could not be read: {aws['problem']}")
    else:
        lines.append(f"Revocations policy {aws['policy_arn']}, version {aws['version']}.")
    return "\n".join(lines) + "\n"


def revocation_command(args) -> int:
    if args.command == "revocations":
        status, answer = broker_call(args, "GET", "")
        text = render_revocations(answer)
    elif args.command == "revoke":
        status, answer = broker_call(args, "POST", "", {"user": args.person})
        text = render_revoked(answer)
    else:
        status, answer = broker_call(args, "DELETE", f"/{quote(args.person.strip().lower(), safe='')}")
        text = render_unrevoked(answer)
    print(json.dumps(answer, indent=2) if args.json else text, end="\n" if args.json else "")
    return 1 if status == 502 else 0


def _hub_arguments(parser) -> None:
    parser.add_argument("--hub-url", default=os.environ.get("JUPYTERHUB_URL"), help="the hub's address")
    parser.add_argument("--ca-bundle", default=None, help="CA bundle for a hub with a private CA")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the hub")
    parser.add_argument("--json", action="store_true", help="print the broker's JSON answer")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="entra-access", description="What would this person get, and why?")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate the access policy file")
    check.add_argument("--policy", required=True, help="path of the access policy YAML")
    ask = sub.add_parser("explain", help="the roles, S3 locations and admin flag a person would get")
    ask.add_argument("--policy", required=True, help="path of the access policy YAML")
    who = ask.add_mutually_exclusive_group(required=True)
    who.add_argument("--groups", help="comma-separated Entra group object ids")
    who.add_argument("--user", help="a user principal name or object id, looked up in Microsoft Graph")
    ask.add_argument("--username", help="the hub username, to show the person's own S3 home (with --groups)")
    ask.add_argument("--strip-domain", action="append", default=[], help="as the hub's username_strip_domains")
    # With --user: the hub's settings of the same names (EntraIDOAuthenticator.tenant_id, client_id, authority,
    # microsoft_graph_url, tls_ca_bundle, http_timeout_seconds).
    ask.add_argument("--tenant-id", help="with --user: the Directory (tenant) ID, as the hub's tenant_id")
    ask.add_argument("--client-id", help="with --user: the app registration's Application (client) ID")
    ask.add_argument("--authority", default="https://login.microsoftonline.com")
    ask.add_argument("--graph-url", default="https://graph.microsoft.com")
    ask.add_argument("--ca-bundle", default=None, help="CA bundle for a private CA or the local emulator")
    ask.add_argument("--timeout", type=float, default=10)
    ask.add_argument("--json", action="store_true", help="print JSON instead of text")
    revoke = sub.add_parser("revoke", help="revoke one person now (hub admins; JUPYTERHUB_API_TOKEN)")
    revoke.add_argument("person", help="the person's hub name, e.g. sam")
    _hub_arguments(revoke)
    unrevoke = sub.add_parser("unrevoke", help="undo a revocation (hub admins; JUPYTERHUB_API_TOKEN)")
    unrevoke.add_argument("person", help="the person's hub name, e.g. sam")
    _hub_arguments(unrevoke)
    _hub_arguments(sub.add_parser("revocations", help="who is revoked, by whom, since when (hub admins)"))
    args = parser.parse_args(argv)

    if args.command in ("revoke", "unrevoke", "revocations"):
        try:
            return revocation_command(args)
        except HubCommandError as e:
            print(f"entra-access: {e}", file=sys.stderr)
            return 2
    try:
        policy = load_access_policy(args.policy)
        if args.command == "check":
            print(f"{args.policy}: valid, {len(policy.access_groups)} access groups")
            print(ROLE_CHAINING_NOTE)
            return 0
        if args.groups is not None:
            group_ids = [g.strip() for g in args.groups.split(",") if g.strip()]
            username = args.username
        else:
            upn, group_ids = _graph_groups_of(args.user, args)
            username = hub_username(upn, args.strip_domain)
        answer = explain(policy, group_ids, username)
    except (AccessPolicyError, GraphError) as e:
        print(f"entra-access: {e}", file=sys.stderr)
        return 2
    except requests.RequestException as e:
        print(f"entra-access: could not reach Microsoft Graph ({type(e).__name__})", file=sys.stderr)
        return 2
    print(json.dumps(answer, indent=2) if args.json else render_text(answer), end="" if not args.json else "\n")
    return 0 if answer["allowed"] else 1


if __name__ == "__main__":
    sys.exit(main())
