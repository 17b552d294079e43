"""The access policy: which Entra ID groups grant which AWS role and which S3 locations.

One YAML file is the single source of truth. The hub reads it (through :func:`load_access_policy`) to decide who
may sign in, who is an admin and which roles a person may use; Terraform reads the same file (``yamldecode``) to
create the roles. The format is documented in the README; ``hub/demo/access-policy.yaml`` is a commented
example.

This module holds the file's one rule set. ``entra-access check --policy FILE`` runs it before a change is deployed;
Terraform checks only what AWS itself would refuse or get wrong (``terraform/modules/access-policy/README.md``).
The rules are pydantic models (strict types, no unknown keys), each field annotated with the words a person sees
when its value is refused (:class:`_Rule`); the rules that span several fields follow in :func:`_build`.

Parsing is pure (:func:`parse_access_policy` takes the decoded YAML); only :func:`load_access_policy` reads a
file. The first problem is reported as an :class:`AccessPolicyError` naming the file, the key and the fix;
pydantic's own messages never reach a person.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

SUPPORTED_VERSION = 1
DEFAULT_HOME_PREFIX = "home/"
DEFAULT_SESSION_SECONDS = 3600
# STS's range for AssumeRole's DurationSeconds (the roles' MaxSessionDuration is at least IAM's floor, 3600).
MIN_SESSION_SECONDS = 900
MAX_SESSION_SECONDS = 43200
MAX_ROLE_NAME_LENGTH = 64  # IAM
MAX_ROLE_NAME_PREFIX_LENGTH = 32
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
ACCESS_LEVELS = ("read", "read-write")

# An Entra object id (group, user, tenant) in its canonical lowercase form; :func:`is_guid` accepts any case.
GUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_GROUP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_ROLE_CHARS = re.compile(r"^[A-Za-z0-9+=,.@_-]*$")  # IAM role names
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# No '*': IAM reads it as a wildcard in the roles' resource ARNs and s3:prefix conditions.
_PREFIX = re.compile(r"^[A-Za-z0-9!_.'()/-]+/$")


def is_guid(text) -> bool:
    """Whether ``text`` is a GUID (an Entra object or tenant id), in any letter case."""
    return isinstance(text, str) and GUID_PATTERN.fullmatch(text.lower()) is not None


def _is_bucket_name(text: str) -> bool:
    return _BUCKET.fullmatch(text) is not None and ".." not in text


def _is_s3_prefix(text: str) -> bool:
    """A relative key prefix ending in '/' that cannot climb out of itself."""
    return _PREFIX.fullmatch(text) is not None and not text.startswith("/") and ".." not in text


def _is_role_name_prefix(text: str) -> bool:
    return _ROLE_CHARS.fullmatch(text) is not None and len(text) <= MAX_ROLE_NAME_PREFIX_LENGTH


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
    laptop_access: bool = True  # members may fetch this role's credentials on their laptop (a hub token for that)


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


# ---- the rules --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """The words for a refused value: ``problem`` (``{value!r}`` is the value given) and ``fix``.

    For a text key (``text``), "is missing" and "must be a non-empty string" come first when that is what is wrong.
    """

    problem: str
    fix: str
    text: bool = False


def _valid_if(check) -> AfterValidator:
    def validate(value):
        if not check(value):
            raise ValueError("refused")  # worded by the field's _Rule
        return value

    return AfterValidator(validate)


def _text(problem: str = "", fix: str = "", check=lambda value: True):
    """A non-empty string; ``check`` is the key's own rule, worded by ``problem`` and ``fix``."""
    return Annotated[str, _Rule(problem, fix, text=True), _valid_if(lambda value: value.strip() and check(value))]


_BucketName = _text(
    "{value!r} is not a valid S3 bucket name", "use 3-63 lowercase letters, digits, dots, hyphens", _is_bucket_name
)
_PREFIX_FIX = "use a relative prefix ending in '/', without '*' or '..', like "


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    not_a_mapping: ClassVar[_Rule]

    @model_validator(mode="before")
    @classmethod
    def _empty_text_is_absent(cls, data):
        # A text key written without a value (YAML null) reads as left out: missing, or its default.
        if not isinstance(data, dict):
            return data
        return {key: value for key, value in data.items() if value is not None or not _is_text_key(cls, key)}


def _is_text_key(model: type[_Strict], key) -> bool:
    info = model.model_fields.get(key) if isinstance(key, str) else None
    return info is not None and any(isinstance(m, _Rule) and m.text for m in info.metadata)


class _Location(_Strict):
    not_a_mapping: ClassVar = _Rule("must be a mapping", "write `- {bucket: ..., prefix: ..., access: read}`")

    bucket: _BucketName
    prefix: _text("{value!r} is not an S3 prefix", _PREFIX_FIX + "shared/analysts/", _is_s3_prefix)
    access: Annotated[Literal[ACCESS_LEVELS], _Rule("{value!r} is not an access level", "use `read` or `read-write`")]


class _Group(_Strict):
    not_a_mapping: ClassVar = _Rule("must be a mapping", "write each access group as `- name: ...` with its keys")

    name: _text(
        "{value!r} is not a valid short name",
        "use 2-32 lowercase letters, digits and hyphens, starting with a letter",
        _GROUP_NAME.fullmatch,
    )
    entra_group_id: _text(
        "{value!r} is not an Entra group object id",
        "copy the group's Object ID (a GUID) from the Entra admin center",
        is_guid,
    )
    display_name: _text()
    description: _text() = ""
    role: _text()  # its IAM role name (with the deployment's prefix) is checked in _build
    session_duration_seconds: Annotated[
        int,
        _Rule(
            f"must be a whole number of seconds from {MIN_SESSION_SECONDS} to {MAX_SESSION_SECONDS}",
            "use for example 3600 (one hour)",
        ),
        Field(ge=MIN_SESSION_SECONDS, le=MAX_SESSION_SECONDS),
    ] = DEFAULT_SESSION_SECONDS
    hub_admin: Annotated[bool, _Rule("must be true or false", "write `hub_admin: true` or leave it out")] = False
    laptop_access: Annotated[
        bool, _Rule("must be true or false", "write `laptop_access: false` to turn it off, or leave it out")
    ] = True
    s3: Annotated[
        list[_Location], _Rule("must be a list of S3 locations", "write `s3: []` or list bucket/prefix/access")
    ] = []


class _Deployment(_Strict):
    aws_account_id: Annotated[
        str,
        _Rule("must be a 12-digit AWS account id in quotes", 'write it as "123456789012"'),
        _valid_if(_ACCOUNT.fullmatch),
    ]
    aws_region: _text("{value!r} is not an AWS region name", "use a name like eu-west-1", _REGION.fullmatch)
    aws_partition: _text(
        "{value!r} is not an AWS partition", f"use one of {PARTITIONS}", lambda value: value in PARTITIONS
    ) = "aws"
    role_name_prefix: Annotated[
        str,
        _Rule(
            f"must be at most {MAX_ROLE_NAME_PREFIX_LENGTH} characters of A-Z a-z 0-9 + = , . @ _ -",
            "use a short prefix such as jupyterhub-",
        ),
        _valid_if(_is_role_name_prefix),
    ] = ""
    notebook_bucket: _BucketName
    home_prefix: _text("{value!r} is not an S3 prefix", _PREFIX_FIX + "home/", _is_s3_prefix) = DEFAULT_HOME_PREFIX


class _PolicyDocument(_Strict):
    not_a_mapping: ClassVar = _Rule("must be a mapping", "start from the documented example in the README")

    version: Annotated[
        Literal[SUPPORTED_VERSION], _Rule(f"must be {SUPPORTED_VERSION}", f"set `version: {SUPPORTED_VERSION}`")
    ]
    deployment: Annotated[
        _Deployment, _Rule("is missing or not a mapping", "add the `deployment:` block (account, region, bucket)")
    ]
    access_groups: Annotated[
        list[_Group], _Rule("must be a non-empty list", "list at least one access group"), Field(min_length=1)
    ]


# ---- reading the file -------------------------------------------------------------------------------------------


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
    try:
        checked = _PolicyDocument.model_validate(data)
    except ValidationError as e:
        raise _refusal(e.errors(include_url=False)[0], data, source) from None
    return _build(checked, source)


def _refusal(error: dict, data, source: str) -> AccessPolicyError:
    """pydantic's first error, in the file's words: the key path, the rule's problem and its fix."""
    loc, kind = error["loc"], error["type"]
    if kind in ("extra_forbidden", "invalid_key"):
        model, _ = _rule_at(loc[:-1])
        key = f"{_key(loc[:-1], data)}.{loc[-1]}" if loc[:-1] else str(loc[-1])
        return AccessPolicyError(
            source, key, "unknown key", f"remove it or use one of: {', '.join(sorted(model.model_fields))}"
        )
    _, rule = _rule_at(loc)
    key = _key(loc, data)
    value = None if kind == "missing" else error["input"]
    if rule.text and kind == "missing":
        return AccessPolicyError(source, key, "is missing", f"add `{loc[-1]}:`")
    if rule.text and (not isinstance(value, str) or not value.strip()):
        return AccessPolicyError(source, key, "must be a non-empty string", "quote the value")
    return AccessPolicyError(source, key, rule.problem.format(value=value), rule.fix)


def _rule_at(loc) -> tuple[type[_Strict] | None, _Rule]:
    """The model (if any) and the rule at ``loc``, a pydantic error location of keys and list indexes."""
    model, rule, items = _PolicyDocument, _PolicyDocument.not_a_mapping, None
    for part in loc:
        if isinstance(part, int):
            model, rule = items, items.not_a_mapping
            continue
        info = model.model_fields[part]
        rule = next(m for m in info.metadata if isinstance(m, _Rule))
        annotation = info.annotation
        items = get_args(annotation)[0] if get_origin(annotation) is list else None
        model = annotation if isinstance(annotation, type) and issubclass(annotation, _Strict) else None
    return model, rule


def _key(loc, data) -> str:
    """``access_groups[1] (analysts).s3[0].prefix``: an access group is named once its name is valid."""
    if not loc:
        return "(top level)"
    key = ""
    for depth, part in enumerate(loc):
        if isinstance(part, str):
            key += f".{part}" if key else part
            continue
        key += f"[{part}]"
        if loc[:depth] == ("access_groups",):
            name = data["access_groups"][part].get("name") if isinstance(data["access_groups"][part], dict) else None
            if isinstance(name, str) and _GROUP_NAME.fullmatch(name):
                key += f" ({name})"
    return key


def _build(checked: _PolicyDocument, source: str) -> AccessPolicy:
    """The policy from a file that passed the models, after the rules that span several keys."""

    def fail(key, problem, fix):
        raise AccessPolicyError(source, key, problem, fix)

    d = checked.deployment
    deployment = Deployment(
        d.aws_account_id, d.aws_region, d.role_name_prefix, d.notebook_bucket, d.aws_partition, d.home_prefix
    )
    groups: list[AccessGroup] = []
    seen: dict[str, dict[str, str]] = {"name": {}, "entra_group_id": {}, "role": {}}
    for index, g in enumerate(checked.access_groups):
        where = f"access_groups[{index}] ({g.name})"
        role_name = d.role_name_prefix + g.role
        if not _ROLE_CHARS.fullmatch(g.role) or len(role_name) > MAX_ROLE_NAME_LENGTH:
            fail(
                f"{where}.role",
                f"IAM role name {role_name!r} is invalid or longer than {MAX_ROLE_NAME_LENGTH} characters",
                "use a shorter role (or role_name_prefix) of A-Z a-z 0-9 + = , . @ _ -",
            )
        for i, location in enumerate(g.s3):
            home = d.home_prefix
            if location.bucket == d.notebook_bucket and (
                location.prefix.startswith(home) or home.startswith(location.prefix)
            ):
                fail(
                    f"{where}.s3[{i}].prefix",
                    f"s3://{location.bucket}/{location.prefix} overlaps the personal homes under {home}, so it would "
                    "expose other people's notebooks",
                    "use a shared prefix outside the home prefix",
                )
        group = AccessGroup(
            name=g.name,
            entra_group_id=g.entra_group_id.lower(),
            display_name=g.display_name,
            role=g.role,
            role_name=role_name,
            role_arn=f"arn:{d.aws_partition}:iam::{d.aws_account_id}:role/{role_name}",
            session_duration_seconds=g.session_duration_seconds,
            hub_admin=g.hub_admin,
            description=g.description,
            s3=tuple(S3Location(s.bucket, s.prefix, s.access) for s in g.s3),
            laptop_access=g.laptop_access,
        )
        for attr, seen_at in seen.items():
            value = getattr(group, attr)
            if value.lower() in seen_at:  # IAM role names ignore case; names and group ids are lowercase already
                fail(
                    f"{where}.{attr}",
                    f"duplicate {attr} {value!r}, already used by {seen_at[value.lower()]}",
                    f"give every access group its own {attr}",
                )
            seen_at[value.lower()] = where
        groups.append(group)
    return AccessPolicy(deployment, tuple(groups), source)
