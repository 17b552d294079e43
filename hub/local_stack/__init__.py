"""The local stack: the whole system on one machine (``make demo``), with emulated Entra ID and AWS.

``launcher.py`` starts and stops it; ``plan.py`` holds the pure builders (settings, commands, environments, the
Terraform variables, who can sign in and what they should see); ``jupyterhub_config.py`` is the hub's configuration,
shared with ``docker-compose.yml``.
"""
