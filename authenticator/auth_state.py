"""The parts of a person's auth_state that other components read: one typed contract for the authenticator (which
writes them), the spawner, the broker and its access page (which read them)."""

from typing import TypedDict

# auth_state[ELIGIBLE_ROLES]: the person's eligible roles, in access-policy order.
ELIGIBLE_ROLES = "eligible_roles"


class EligibleRole(TypedDict):
    """One role a person may use, as kept in auth_state (encrypted): enough to choose and to check, no secrets."""

    access_group: str  # the access group's short name (also the JupyterHub group and the role choice's value)
    display_name: str  # shown in the role picker and on the access page
    role_arn: str  # the IAM role the broker assumes


def eligible_roles(auth_state: dict | None) -> list[EligibleRole]:
    """The person's eligible roles from their auth_state (none when there is no auth_state)."""
    return list((auth_state or {}).get(ELIGIBLE_ROLES) or [])
