"""``entra-access``: what would this person get, and why?

    entra-access check   --policy access-policy.yaml
    entra-access explain --policy access-policy.yaml --groups <group-id>[,<group-id>...]
    entra-access explain --policy access-policy.yaml --user ana@contoso.com     # asks Microsoft Graph

``--user`` looks the person up in Graph and reads their transitive groups with the hub's app registration, which
then needs ``User.ReadBasic.All`` besides the hub's ``GroupMember.Read.All``. The answer comes from the same policy
code the hub runs. ``check`` also reminds that roles people chain into from a notebook must allow sts:TagSession.
"""

import argparse
import asyncio
import json
import os
import sys

import requests

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
    args = parser.parse_args(argv)

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
