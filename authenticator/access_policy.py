"""The access policy: which Entra ID groups grant which AWS role and which S3 locations.

One YAML file is the single source of truth. The hub reads it (through :func:`load_access_policy`) to decide who
may sign in, who is an admin and which roles a person may use; Terraform reads the same file (``yamldecode``) to
create the roles. The format is documented in the README; ``hub/demo/access-policy.yaml`` is a commented
example.

Parsing is pure (:func:`parse_access_policy` takes the decoded YAML); only :func:`load_access_policy` reads a
file. Every problem is reported as an :class:`AccessPolicyError` naming the file, the key and the fix.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SUPPORTED_VERSION = 1
DEFAULT_HOME_PREFIX = "home/"
DEFAULT_SESSION_SECONDS = 3600
# STS limits for AssumeRole's DurationSeconds and IAM's role MaxSessionDuration.
MIN_SESSION_SECONDS = 900
MAX_SESSION_SECONDS = 43200
MAX_ROLE_NAME_LENGTH = 64  # IAM

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_GROUP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_ROLE_CHARS = re.compile(r"^[A-Za-z0-9+=,.@_-]*$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]+/$")
ACCESS_LEVELS = ("read", "read-write")

_TOP_KEYS = {"version", "deployment", "access_groups"}
_DEPLOYMENT_KEYS = {
    "aws_account_id",
    "aws_region",
    "aws_partition",
    "role_name_prefix",
    "notebook_bucket",
    "home_prefix",
}
_GROUP_KEYS = {
    "name",
    "entra_group_id",
    "display_name",
    "description",
    "role",
    "session_duration_seconds",
    "hub_admin",
    "s3",
}
_LOCATION_KEYS = {"bucket", "prefix", "access"}


class AccessPolicyError(ValueError):
    """A problem in the access policy file: where it is, what is wrong and how to fix it."""

    def __init__(self, source: str, key: str, problem: str, fix: str):
        self.source, self.key, self.problem, self.fix = source, key, problem, fix
        super().__init__(f"{source}: {key}: {problem}. Fix: {fix}")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    access: str  # "read" or "read-write"

    @property
    def writable(self) -> bool:
        return self.access == "read-write"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} ({self.access})"


@dataclass(frozen=True)
class Deployment:
    aws_account_id: str
    aws_region: str
    role_name_prefix: str
    notebook_bucket: str
    aws_partition: str = "aws"
    home_prefix: str = DEFAULT_HOME_PREFIX

    def home_location(self, safe_username: str) -> S3Location:
        """The person's own notebook prefix: read-write, and theirs alone."""
        return S3Location(self.notebook_bucket, f"{self.home_prefix}{safe_username}/", "read-write")


@dataclass(frozen=True)
class AccessGroup:
    name: str
    entra_group_id: str
    display_name: str
    role: str
    role_name: str
    role_arn: str
    session_duration_seconds: int = DEFAULT_SESSION_SECONDS
    hub_admin: bool = False
    description: str = ""
    s3: tuple[S3Location, ...] = ()


@dataclass(frozen=True)
class AccessDecision:
    """What a person with a given set of Entra group ids gets, and why (the groups that matched)."""

    groups: tuple[AccessGroup, ...]

    @property
    def allowed(self) -> bool:
        return bool(self.groups)

    @property
    def admin(self) -> bool:
        return any(g.hub_admin for g in self.groups)

    @property
    def group_names(self) -> list[str]:
        return [g.name for g in self.groups]

    def group(self, name: str) -> AccessGroup | None:
        return next((g for g in self.groups if g.name == name), None)

    def eligible_roles(self) -> list[dict]:
        """The roles as kept in auth_state["eligible_roles"], the form the broker and the spawner read."""
        return [{"access_group": g.name, "display_name": g.display_name, "role_arn": g.role_arn} for g in self.groups]


@dataclass(frozen=True)
class AccessPolicy:
    deployment: Deployment
    access_groups: tuple[AccessGroup, ...]
    source: str = "<access policy>"
    _by_entra_id: dict[str, AccessGroup] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self._by_entra_id.update({g.entra_group_id: g for g in self.access_groups})

    def decide(self, entra_group_ids) -> AccessDecision:
        """The access groups a member of ``entra_group_ids`` belongs to, in the policy file's order."""
        ids = {str(i).lower() for i in entra_group_ids}
        return AccessDecision(tuple(g for g in self.access_groups if g.entra_group_id in ids))

    def group(self, name: str) -> AccessGroup | None:
        return next((g for g in self.access_groups if g.name == name), None)

    @property
    def granting_groups_text(self) -> str:
        """Human-readable list of the Entra groups that grant access, for refusal messages."""
        return ", ".join(f"{g.display_name} ({g.entra_group_id})" for g in self.access_groups)


def load_access_policy(path) -> AccessPolicy:
    """Read and validate the access policy file at ``path``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise AccessPolicyError(
            source, "(file)", f"cannot be read ({e.strerror})", "point access_policy_file at the policy YAML"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise AccessPolicyError(source, where, "is not valid YAML", "correct the YAML syntax there") from None
    return parse_access_policy(data, source)


def parse_access_policy(data, source: str = "<access policy>") -> AccessPolicy:
    """Validate decoded YAML and build the policy; raise :class:`AccessPolicyError` on the first problem."""

    def fail(key, problem, fix):
        raise AccessPolicyError(source, key, problem, fix)

    if not isinstance(data, dict):
        fail("(top level)", "must be a mapping", "start from the documented example in the README")
    _no_unknown_keys(data, _TOP_KEYS, "", fail)
    if data.get("version") != SUPPORTED_VERSION:
        fail("version", f"must be {SUPPORTED_VERSION}", f"set `version: {SUPPORTED_VERSION}`")
    deployment = _parse_deployment(data.get("deployment"), fail)

    groups_data = data.get("access_groups")
    if not isinstance(groups_data, list) or not groups_data:
        fail("access_groups", "must be a non-empty list", "list at least one access group")
    groups: list[AccessGroup] = []
    seen: dict[str, dict[str, str]] = {"name": {}, "entra_group_id": {}, "role": {}}
    for index, entry in enumerate(groups_data):
        group = _parse_group(entry, f"access_groups[{index}]", deployment, fail)
        where = f"access_groups[{index}] ({group.name})"
        for attr, seen_at in seen.items():
            value = getattr(group, attr)
            if value in seen_at:
                fail(
                    f"{where}.{attr}",
                    f"duplicate {attr} {value!r}, already used by {seen_at[value]}",
                    f"give every access group its own {attr}",
                )
            seen_at[value] = where
        groups.append(group)
    return AccessPolicy(deployment, tuple(groups), source)


def _no_unknown_keys(mapping, allowed, where, fail):
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        key = f"{where}.{unknown[0]}" if where else str(unknown[0])
        fail(key, "unknown key", f"remove it or use one of: {', '.join(sorted(allowed))}")


def _text(mapping, key, where, fail, *, required=True, default=None):
    value = mapping.get(key, default)
    if value is None:
        if required:
            fail(f"{where}.{key}", "is missing", f"add `{key}:`")
        return default
    if not isinstance(value, str) or not value.strip():
        fail(f"{where}.{key}", "must be a non-empty string", "quote the value")
    return value


def _parse_deployment(data, fail) -> Deployment:
    where = "deployment"
    if not isinstance(data, dict):
        fail(where, "is missing or not a mapping", "add the `deployment:` block (account, region, bucket)")
    _no_unknown_keys(data, _DEPLOYMENT_KEYS, where, fail)
    account = data.get("aws_account_id")
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        fail(
            f"{where}.aws_account_id",
            "must be a 12-digit AWS account id in quotes",
            'write it as "123456789012"',
        )
    region = _text(data, "aws_region", where, fail)
    if not _REGION.fullmatch(region):
        fail(f"{where}.aws_region", f"{region!r} is not an AWS region name", "use a name like eu-west-1")
    partition = _text(data, "aws_partition", where, fail, required=False, default="aws")
    if partition not in _PARTITIONS:
        fail(f"{where}.aws_partition", f"{partition!r} is not an AWS partition", f"use one of {_PARTITIONS}")
    prefix = data.get("role_name_prefix", "")
    if not isinstance(prefix, str) or not _ROLE_CHARS.fullmatch(prefix) or len(prefix) > 32:
        fail(
            f"{where}.role_name_prefix",
            "must be at most 32 characters of A-Z a-z 0-9 + = , . @ _ -",
            "use a short prefix such as jupyterhub-",
        )
    bucket = _text(data, "notebook_bucket", where, fail)
    _check_bucket(bucket, f"{where}.notebook_bucket", fail)
    home = _text(data, "home_prefix", where, fail, required=False, default=DEFAULT_HOME_PREFIX)
    if not _PREFIX.fullmatch(home) or home.startswith("/") or ".." in home:
        fail(f"{where}.home_prefix", f"{home!r} is not an S3 prefix", "use a relative prefix ending in '/'")
    return Deployment(account, region, prefix, bucket, partition, home)


def _check_bucket(bucket, key, fail):
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        fail(
            key,
            f"{bucket!r} is not a valid S3 bucket name",
            "use 3-63 lowercase letters, digits, dots, hyphens",
        )


def _parse_group(entry, where, deployment: Deployment, fail) -> AccessGroup:
    if not isinstance(entry, dict):
        fail(where, "must be a mapping", "write each access group as `- name: ...` with its keys")
    name = _text(entry, "name", where, fail)
    if not _GROUP_NAME.fullmatch(name):
        fail(
            f"{where}.name",
            f"{name!r} is not a valid short name",
            "use 2-32 lowercase letters, digits and hyphens, starting with a letter",
        )
    where = f"{where} ({name})"
    _no_unknown_keys(entry, _GROUP_KEYS, where, fail)
    gid = _text(entry, "entra_group_id", where, fail)
    if not _GUID.fullmatch(gid.lower()):
        fail(
            f"{where}.entra_group_id",
            f"{gid!r} is not an Entra group object id",
            "copy the group's Object ID (a GUID) from the Entra admin center",
        )
    display_name = _text(entry, "display_name", where, fail)
    description = _text(entry, "description", where, fail, required=False, default="")
    role = _text(entry, "role", where, fail)
    role_name = deployment.role_name_prefix + role
    if not _ROLE_CHARS.fullmatch(role) or len(role_name) > MAX_ROLE_NAME_LENGTH:
        fail(
            f"{where}.role",
            f"IAM role name {role_name!r} is invalid or longer than {MAX_ROLE_NAME_LENGTH} characters",
            "use a shorter role (or role_name_prefix) of A-Z a-z 0-9 + = , . @ _ -",
        )
    duration = entry.get("session_duration_seconds", DEFAULT_SESSION_SECONDS)
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int)
        or not MIN_SESSION_SECONDS <= duration <= MAX_SESSION_SECONDS
    ):
        fail(
            f"{where}.session_duration_seconds",
            f"must be a whole number of seconds from {MIN_SESSION_SECONDS} to {MAX_SESSION_SECONDS}",
            "use for example 3600 (one hour)",
        )
    admin = entry.get("hub_admin", False)
    if not isinstance(admin, bool):
        fail(f"{where}.hub_admin", "must be true or false", "write `hub_admin: true` or leave it out")
    locations = entry.get("s3", [])
    if not isinstance(locations, list):
        fail(f"{where}.s3", "must be a list of S3 locations", "write `s3: []` or list bucket/prefix/access")
    s3 = tuple(_parse_location(loc, f"{where}.s3[{i}]", deployment, fail) for i, loc in enumerate(locations))
    arn = f"arn:{deployment.aws_partition}:iam::{deployment.aws_account_id}:role/{role_name}"
    return AccessGroup(name, gid.lower(), display_name, role, role_name, arn, duration, admin, description, s3)


def _parse_location(entry, where, deployment: Deployment, fail) -> S3Location:
    if not isinstance(entry, dict):
        fail(where, "must be a mapping", "write `- {bucket: ..., prefix: ..., access: read}`")
    _no_unknown_keys(entry, _LOCATION_KEYS, where, fail)
    bucket = _text(entry, "bucket", where, fail)
    _check_bucket(bucket, f"{where}.bucket", fail)
    prefix = _text(entry, "prefix", where, fail)
    if not _PREFIX.fullmatch(prefix) or prefix.startswith("/") or ".." in prefix or "*" in prefix:
        fail(
            f"{where}.prefix",
            f"{prefix!r} is not an S3 prefix",
            "use a relative prefix ending in '/', without '*' or '..', like shared/analysts/",
        )
    home = deployment.home_prefix
    if bucket == deployment.notebook_bucket and (prefix.startswith(home) or home.startswith(prefix)):
        fail(
            f"{where}.prefix",
            f"s3://{bucket}/{prefix} overlaps the personal homes under {home}, so it would expose other "
            "people's notebooks",
            "use a shared prefix outside the home prefix",
        )
    access = entry.get("access")
    if access not in ACCESS_LEVELS:
        fail(f"{where}.access", f"{access!r} is not an access level", "use `read` or `read-write`")
    return S3Location(bucket, prefix, access)
