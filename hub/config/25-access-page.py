# The "What can I access?" and "Scheduled runs" pages and the way to them (and to "Use AWS from your laptop",
# 26-laptop-access.py). The pages are the credential broker's
# (hub/broker/access_page.py at <the broker's service prefix>access, hub/jobs/pages.py at <prefix>jobs, behind the
# hub's OAuth; 20-credential-broker.py lets people open them). Here: the hub's home page links to them, through
# hub/templates/home.html, which extends JupyterHub's own home page; hub/templates/error.html makes the hub's error
# pages (a refused sign-in names the groups that grant access) readable. Loaded by the local stack and, on
# Kubernetes, from jupyterhub_config.d.
from pathlib import Path

import hub
from hub.broker.contract import JOBS_PAGE_PATH, LAPTOP_PAGE_PATH, SERVICE_PREFIX

_templates = str(Path(hub.__file__).resolve().parent / "templates")
if isinstance(c.JupyterHub.get("template_paths"), list):  # set earlier as a list (Helm: hub.templatePaths)
    c.JupyterHub.template_paths = [_templates, *(p for p in c.JupyterHub.template_paths if p != _templates)]
else:  # unset (JupyterHub adds its own templates after these), or changed earlier with .append()/.prepend()
    c.JupyterHub.template_paths.prepend([_templates])
c.JupyterHub.template_vars.update(
    {
        "access_page_path": SERVICE_PREFIX.lstrip("/") + "access",
        "jobs_page_path": SERVICE_PREFIX.lstrip("/") + JOBS_PAGE_PATH,
        "laptop_page_path": LAPTOP_PAGE_PATH,
    }
)
