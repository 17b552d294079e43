# Hub admins run the hub; they do not become other people (hub/admin_role.py). Members of the access groups marked
# `hub_admin` in the access policy hold the `hub-admin` role through their JupyterHub groups (the authenticator keeps
# those groups in step with Entra ID); no person holds JupyterHub's built-in `admin` role. Setting (Helm:
# hub.config.HubAdmins.*): HubAdmins.may_open_peoples_servers, off by default (docs/configuration.md). The role's
# groups are read from the access policy when the hub starts: a group newly marked `hub_admin` takes effect at the
# next restart (on Kubernetes, the `helm upgrade` that ships the new policy restarts the hub).
# Loaded by the local stack and, on Kubernetes, from jupyterhub_config.d.
from authenticator.policy_file import AccessPolicyFile
from hub.admin_role import HubAdmins, hub_admin_roles, log_request_and_audit_access_to_others_servers

_admin_groups = [g.name for g in AccessPolicyFile(config=c).policy.access_groups if g.hub_admin]
c.JupyterHub.load_roles.extend(hub_admin_roles(HubAdmins(config=c).may_open_peoples_servers, _admin_groups))
# Every time the hub lets someone into another person's server (admins with the switch on, or a share), one audit line.
c.JupyterHub.tornado_settings.update({"log_function": log_request_and_audit_access_to_others_servers})
