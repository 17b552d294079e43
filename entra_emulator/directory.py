"""The emulated tenant's people and groups, read from a directory YAML file (format: ``entra_emulator/README.md``).

Parsing is pure (:func:`parse_directory` takes the decoded YAML); only :func:`load_directory` reads a file. Every
problem is a :class:`DirectoryError` naming the file, the key and the fix, like the access policy's errors.
"""

import copy
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Entra leaves the groups out of a JWT above this many (and signals "overage" instead).
GROUPS_CLAIM_LIMIT = 200
OVERAGE_STYLES = ("claim_sources", "hasgroups")
MAX_FILLER_GROUPS = 5000
# Group types, as Graph tells them apart (securityEnabled, mailEnabled, groupTypes).
GROUP_TYPES = ("security", "microsoft365", "distribution")
# The app manifest's groupMembershipClaims values the emulator models (DirectoryRole would need directory roles).
# ref: https://learn.microsoft.com/entra/identity-platform/reference-microsoft-graph-app-manifest
GROUP_MEMBERSHIP_CLAIMS = ("None", "SecurityGroup", "ApplicationGroup", "All")
# Optional id_token claims the emulator can add, and the one additional property it models.
# ref: https://learn.microsoft.com/entra/identity-platform/optional-claims-reference
OPTIONAL_CLAIMS = ("acct", "upn", "login_hint", "email")
EXTERNALLY_AUTHENTICATED_UPN = "include_externally_authenticated_upn"
# Microsoft Graph application permissions the emulator knows (what the endpoints it serves accept).
GRAPH_PERMISSIONS = (
    "User.Read.All",
    "User.ReadBasic.All",
    "User.ReadWrite.All",
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
GUEST_MARKER = "#EXT#"

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UPN_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOP_KEYS = {"tenant_id", "display_name", "app_registration", "groups", "users"}
DEFAULT_DISPLAY_NAME = "Contoso"
_APP_KEYS = {"group_membership_claims", "optional_claims", "graph_permissions", "assigned_groups"}
_GROUP_KEYS = {"id", "display_name", "type"}
_USER_KEYS = {"username", "name", "oid", "groups", "filler_groups", "overage_style", "mail", "home_tenant_id"}


class DirectoryError(ValueError):
    """A problem in the directory file: where it is, what is wrong and how to fix it."""

    def __init__(self, source: str, key: str, problem: str, fix: str):
        super().__init__(f"{source}: {key}: {problem}. Fix: {fix}")


@dataclass(frozen=True)
class Group:
    id: str
    display_name: str
    type: str = "security"

    @property
    def security_enabled(self) -> bool:
        return self.type == "security"


@dataclass
class AppRegistration:
    """How the hub's app registration is set up, as its manifest would say. Defaults: a new registration's."""

    group_membership_claims: str = "None"  # a new registration emits no groups claim
    optional_claims: dict[str, list[str]] = field(default_factory=dict)  # name -> additional properties
    graph_permissions: list[str] = field(default_factory=list)  # application permissions with admin consent
    assigned_groups: list[str] = field(default_factory=list)  # groups assigned to the app (ApplicationGroup)


@dataclass
class Person:
    username: str  # the user principal name in this tenant (guests: name_domain#EXT#@tenant.domain)
    name: str
    oid: str
    group_ids: list[str]  # explicit memberships, in file order
    filler_groups: int = 0
    overage_style: str = "claim_sources"
    mail: str | None = None  # guests: their own address, which is also the name they sign in with
    home_tenant_id: str | None = None  # guests: the tenant that authenticates them

    @property
    def is_guest(self) -> bool:
        return GUEST_MARKER in self.username.upper()

    @property
    def sign_in_name(self) -> str:
        """What the person types, and ``preferred_username``: a guest's own address, a member's UPN."""
        return self.mail if self.is_guest and self.mail else self.username


@dataclass
class Directory:
    tenant_id: str
    groups: dict[str, Group]  # by id, including generated filler groups
    people: dict[str, Person] = field(default_factory=dict)  # by lowercased username
    display_name: str = DEFAULT_DISPLAY_NAME  # the organization, as the sign-in page names it
    app_registration: AppRegistration = field(default_factory=AppRegistration)

    def person(self, username: str) -> Person | None:
        """A person by user principal name, or a guest by the address they sign in with."""
        wanted = username.strip().lower()
        return self.people.get(wanted) or next(
            (p for p in self.people.values() if p.is_guest and (p.mail or "").lower() == wanted), None
        )

    def rename(self, person: Person, new_username: str) -> None:
        """A new user principal name for the same object (``oid`` unchanged), as an administrator's rename."""
        del self.people[person.username.lower()]
        person.username = new_username
        self.people[new_username.lower()] = person

    def person_by_oid(self, oid: str) -> Person | None:
        oid = oid.lower()
        return next((p for p in self.people.values() if p.oid == oid), None)

    def groups_of(self, person: Person) -> list[Group]:
        """Every group the person is in: the explicit ones, then the generated filler groups."""
        ids = person.group_ids + [filler_group_id(self.tenant_id, i) for i in range(1, person.filler_groups + 1)]
        return [self.groups[i] for i in ids]

    def copy(self) -> "Directory":
        """An independent copy, so live membership changes can be undone by going back to the loaded one."""
        return copy.deepcopy(self)


def default_oid(tenant_id: str, username: str) -> str:
    """The object id of a person the file gives none: stable for a username within a tenant."""
    return str(uuid.uuid5(uuid.UUID(tenant_id), username.strip().lower()))


def guest_mail(username: str) -> str:
    """A guest's own address from their UPN here: ``gus_fabrikam.example#EXT#@contoso.example`` is
    ``gus@fabrikam.example`` (Entra makes the UPN by replacing the address's ``@`` with ``_``)."""
    local = username[: username.upper().index(GUEST_MARKER)]
    name, _, domain = local.rpartition("_")
    return f"{name}@{domain}"


def default_home_tenant_id(tenant_id: str, mail: str) -> str:
    """A guest's home tenant when the file names none: stable for the guest's domain."""
    return str(uuid.uuid5(uuid.UUID(tenant_id), "home-tenant:" + mail.rpartition("@")[2].lower()))


def filler_group_id(tenant_id: str, number: int) -> str:
    return str(uuid.uuid5(uuid.UUID(tenant_id), f"filler-group-{number}"))


def filler_group(tenant_id: str, number: int) -> Group:
    return Group(filler_group_id(tenant_id, number), f"Filler group {number:04d}")


def load_directory(path: str | Path) -> Directory:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise DirectoryError(str(path), "(file)", f"cannot be read ({e.strerror})", "pass an existing file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise DirectoryError(path.name, "(file)", f"is not valid YAML ({e})", "fix the YAML syntax") from None
    return parse_directory(data, source=path.name)


def parse_directory(data, source: str = "directory") -> Directory:
    if not isinstance(data, dict):
        raise DirectoryError(source, "(top level)", "is not a mapping", "start with tenant_id:, groups: and users:")
    _refuse_unknown_keys(source, "(top level)", data, _TOP_KEYS)
    tenant_id = _guid(source, "tenant_id", data.get("tenant_id"))
    groups = _parse_groups(source, data.get("groups") or [])
    people = _parse_people(source, tenant_id, data.get("users") or [], groups)
    for number in range(1, max((p.filler_groups for p in people.values()), default=0) + 1):
        group = filler_group(tenant_id, number)
        groups[group.id] = group
    display_name = data.get("display_name", DEFAULT_DISPLAY_NAME)
    if not isinstance(display_name, str) or not display_name.strip():
        raise DirectoryError(source, "display_name", "is empty", "name the organization, or leave the key out")
    app = parse_app_registration(data.get("app_registration") or {}, groups, source)
    return Directory(tenant_id, groups, people, display_name.strip(), app)


def parse_app_registration(item, groups: dict[str, Group], source: str = "app_registration") -> AppRegistration:
    """The ``app_registration:`` block (also what the test control sends); every key optional."""
    key = "app_registration"
    if not isinstance(item, dict):
        raise DirectoryError(source, key, "is not a mapping", "give group_membership_claims, graph_permissions, ...")
    _refuse_unknown_keys(source, key, item, _APP_KEYS)
    claims = item.get("group_membership_claims", "None")
    if claims not in GROUP_MEMBERSHIP_CLAIMS:
        fix = f"use one of {', '.join(GROUP_MEMBERSHIP_CLAIMS)}"
        raise DirectoryError(source, f"{key}.group_membership_claims", f"unknown value {claims!r}", fix)
    optional = _optional_claims(source, f"{key}.optional_claims", item.get("optional_claims") or [])
    permissions = item.get("graph_permissions") or []
    if not isinstance(permissions, list) or any(p not in GRAPH_PERMISSIONS for p in permissions):
        raise DirectoryError(
            source, f"{key}.graph_permissions", f"{permissions!r} is not a list of known permissions",
            f"use names from {', '.join(GRAPH_PERMISSIONS)}",
        )  # fmt: skip
    assigned = _member_group_ids(source, f"{key}.assigned_groups", item.get("assigned_groups") or [], groups)
    return AppRegistration(claims, optional, list(dict.fromkeys(permissions)), assigned)


def _optional_claims(source: str, key: str, items) -> dict[str, list[str]]:
    """``[acct, {name: upn, additional_properties: [include_externally_authenticated_upn]}]``, as the manifest."""
    if not isinstance(items, list):
        raise DirectoryError(source, key, "is not a list", "list claim names, e.g. [acct, upn]")
    claims: dict[str, list[str]] = {}
    for index, entry in enumerate(items):
        name, extra = (entry, []) if isinstance(entry, str) else (None, None)
        if isinstance(entry, dict) and set(entry) <= {"name", "additional_properties"}:
            name, extra = entry.get("name"), entry.get("additional_properties") or []
        if name not in OPTIONAL_CLAIMS:
            raise DirectoryError(
                source, f"{key}[{index}]", f"{entry!r} is not an optional claim the emulator models",
                f"use one of {', '.join(OPTIONAL_CLAIMS)}",
            )  # fmt: skip
        if extra not in ([], [EXTERNALLY_AUTHENTICATED_UPN]) or (extra and name != "upn"):
            raise DirectoryError(
                source, f"{key}[{index}].additional_properties", f"{extra!r} is not modelled",
                f"only upn takes [{EXTERNALLY_AUTHENTICATED_UPN}]",
            )  # fmt: skip
        claims[name] = list(extra)
    return claims


def _parse_groups(source: str, items) -> dict[str, Group]:
    if not isinstance(items, list):
        raise DirectoryError(source, "groups", "is not a list", "write one `- id: ..., display_name: ...` per group")
    groups: dict[str, Group] = {}
    for index, item in enumerate(items):
        key = f"groups[{index}]"
        if not isinstance(item, dict):
            raise DirectoryError(source, key, "is not a mapping", "give it id and display_name")
        _refuse_unknown_keys(source, key, item, _GROUP_KEYS)
        group_id = _guid(source, f"{key}.id", item.get("id"))
        if group_id in groups:
            raise DirectoryError(source, f"{key}.id", f"duplicate group id {group_id}", "give every group its own id")
        display_name = item.get("display_name")
        if not isinstance(display_name, str) or not display_name.strip():
            raise DirectoryError(source, f"{key}.display_name", "is missing", "name the group as people see it")
        group_type = item.get("type", "security")
        if group_type not in GROUP_TYPES:
            raise DirectoryError(source, f"{key}.type", f"unknown type {group_type!r}", f"use one of {GROUP_TYPES}")
        groups[group_id] = Group(group_id, display_name.strip(), group_type)
    return groups


def _parse_people(source: str, tenant_id: str, items, groups: dict[str, Group]) -> dict[str, Person]:
    if not isinstance(items, list):
        raise DirectoryError(source, "users", "is not a list", "write one `- username: ...` entry per person")
    people: dict[str, Person] = {}
    oids: set[str] = set()
    for index, item in enumerate(items):
        person = _parse_person(source, f"users[{index}]", tenant_id, item, groups)
        if person.username.lower() in people:
            raise DirectoryError(
                source, f"users[{index}].username", f"duplicate username {person.username}", "list each person once"
            )
        if person.oid in oids:
            raise DirectoryError(source, f"users[{index}].oid", f"duplicate oid {person.oid}", "give each their own")
        people[person.username.lower()] = person
        oids.add(person.oid)
    return people


def _parse_person(source: str, key: str, tenant_id: str, item, groups: dict[str, Group]) -> Person:
    if not isinstance(item, dict):
        raise DirectoryError(source, key, "is not a mapping", "give the person a username and a name")
    _refuse_unknown_keys(source, key, item, _USER_KEYS)
    username = item.get("username")
    if not isinstance(username, str) or not UPN_PATTERN.fullmatch(username.strip()):
        raise DirectoryError(
            source, f"{key}.username", f"{username!r} is not a user principal name", "write it as name@domain.example"
        )
    username = username.strip()
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DirectoryError(source, f"{key}.name", "is missing", "give the person's display name")
    oid = _guid(source, f"{key}.oid", item["oid"]) if item.get("oid") is not None else default_oid(tenant_id, username)
    group_ids = _member_group_ids(source, f"{key}.groups", item.get("groups") or [], groups)
    filler = item.get("filler_groups", 0)
    if not isinstance(filler, int) or isinstance(filler, bool) or not 0 <= filler <= MAX_FILLER_GROUPS:
        raise DirectoryError(
            source, f"{key}.filler_groups", f"{filler!r} is not a count", f"use a whole number 0-{MAX_FILLER_GROUPS}"
        )
    style = item.get("overage_style", "claim_sources")
    if style not in OVERAGE_STYLES:
        raise DirectoryError(source, f"{key}.overage_style", f"unknown style {style!r}", f"use one of {OVERAGE_STYLES}")
    mail, home_tenant_id = _guest_fields(source, key, tenant_id, username, item)
    return Person(username, name.strip(), oid, group_ids, filler, style, mail, home_tenant_id)


def _guest_fields(source: str, key: str, tenant_id: str, username: str, item: dict) -> tuple[str | None, str | None]:
    if GUEST_MARKER not in username.upper():
        for extra in ("mail", "home_tenant_id"):
            if item.get(extra) is not None:
                raise DirectoryError(source, f"{key}.{extra}", "is for guests only", "leave it out for members")
        return None, None
    mail = item.get("mail") or guest_mail(username)
    if not isinstance(mail, str) or not UPN_PATTERN.fullmatch(mail.strip()):
        raise DirectoryError(source, f"{key}.mail", f"{mail!r} is not an address", "write it as name@domain.example")
    home = item.get("home_tenant_id")
    home = _guid(source, f"{key}.home_tenant_id", home) if home is not None else None
    return mail.strip(), home or default_home_tenant_id(tenant_id, mail)


def _member_group_ids(source: str, key: str, items, groups: dict[str, Group]) -> list[str]:
    if not isinstance(items, list):
        raise DirectoryError(source, key, "is not a list", "list the ids of the person's groups")
    ids: list[str] = []
    for index, value in enumerate(items):
        group_id = _guid(source, f"{key}[{index}]", value)
        if group_id not in groups:
            raise DirectoryError(source, f"{key}[{index}]", f"unknown group {group_id}", "define it under groups:")
        if group_id not in ids:
            ids.append(group_id)
    return ids


def _guid(source: str, key: str, value) -> str:
    text = str(value).strip().lower() if value is not None else ""
    if not _GUID.fullmatch(text):
        raise DirectoryError(source, key, f"{value!r} is not a GUID", "write it like 8-4-4-4-12 hexadecimal digits")
    return text


def _refuse_unknown_keys(source: str, key: str, item: dict, allowed: set[str]) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise DirectoryError(
            source, key, f"unknown key {unknown[0]!r}", f"use only {', '.join(sorted(allowed))} (see the README)"
        )
