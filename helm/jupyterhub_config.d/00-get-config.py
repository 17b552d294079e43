# Lets the project's config files run unchanged in the chart's hub. They start with traitlets' `c = get_config()`,
# but the chart's jupyterhub_config.py runs jupyterhub_config.d files inside its own namespace, where `get_config` is
# its helper get_config(key, default=None) for chart values (z2jh.py), so `get_config()` would stop the hub with a
# TypeError. Loaded first (files load in name order): without a key, get_config() returns the config object; with a
# key it is still the chart's helper, for anything that reads chart values (hub.extraConfig, say).
# ref: https://github.com/jupyterhub/zero-to-jupyterhub-k8s/blob/4.4.0/jupyterhub/files/hub/jupyterhub_config.py
_chart_get_config = get_config  # noqa: F821 - the chart's helper, in the namespace this file runs in


def get_config(key=None, default=None):
    if key is None:
        return c  # noqa: F821 - the chart's config object, in the namespace this file runs in
    return _chart_get_config(key, default)
