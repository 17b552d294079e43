"""Write docs/configuration.md: every setting of the authenticator, the access policy file, the spawner and the
credential broker, from the traits themselves (help, type, default), with where the local stack and the Helm values
set it. ``make docs`` runs it; a test fails when the committed file and the traits drift apart.

    .venv/bin/python docs/make_configuration.py            # rewrite docs/configuration.md
    .venv/bin/python docs/make_configuration.py --check    # exit 1 when it is out of date
"""

import argparse
import importlib.util
import inspect
import sys
import textwrap
from pathlib import Path

import yaml
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs" / "configuration.md"
sys.path.insert(0, str(REPO))

# Settings the base classes define that this project relies on or sets a default for (the rest are oauthenticator's
# and JupyterHub's own, documented there).
INHERITED = {
    "EntraIDOAuthenticator": [
        "tenant_id",
        "client_id",
        "client_secret",
        "oauth_callback_url",
        "auth_refresh_age",
        "refresh_pre_spawn",
        "username_claim",
        "logout_redirect_url",
    ],
}
# Secrets: never in a values file.
SECRETS = {
    ("EntraIDOAuthenticator", "client_secret"): (
        "never in a values file: the `OAUTH_CLIENT_SECRET` environment variable, from a Secret (`hub.extraEnv`)"
    ),
}
# Values only a deployment knows, given to the local stack's configure functions to see which settings they set.
_SAMPLE = {"state": Path("/state"), "policy_file": Path("/policy.yaml")}


def _classes():
    from authenticator.entra import EntraIDOAuthenticator
    from authenticator.policy_file import AccessPolicyFile
    from hub.admin_role import HubAdmins
    from hub.broker.settings import CredentialBroker
    from hub.jobs.airflow_api import AirflowApi
    from hub.jobs.settings import NotebookJobs
    from hub.revocation.store import RevocationStore
    from hub.spawn import BrokeredAWSMixin

    return [
        EntraIDOAuthenticator,
        AccessPolicyFile,
        HubAdmins,
        BrokeredAWSMixin,
        CredentialBroker,
        NotebookJobs,
        AirflowApi,
        RevocationStore,
    ]


def _local_stack_config() -> Config:
    """What hub/local_stack/single_machine.py sets (the local stack's and the integration tests' hub)."""
    from hub.local_stack import single_machine

    config = Config()
    for function in (single_machine.configure_entra, single_machine.configure_brokering):
        arguments = {}
        for name, parameter in inspect.signature(function).parameters.items():
            if name != "c":
                arguments[name] = _SAMPLE.get(name, [] if parameter.annotation == list[str] else 1)
        function(config, **arguments)
    return config


def _helm_config() -> tuple[dict, set]:
    """hub.config of helm/values.yaml, and the settings helm/generate_values.py writes (asked with sample inputs)."""
    values = yaml.safe_load((REPO / "helm" / "values.yaml").read_text())["hub"]["config"]
    spec = importlib.util.spec_from_file_location("generate_values", REPO / "helm" / "generate_values.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    site = generator.Site(
        host="hub.example.com",
        entra_tenant_id="00000000-0000-4000-8000-000000000000",
        entra_client_id="00000000-0000-4000-8000-000000000001",
        hub_image="hub:1",
        user_image="user:1",
    )
    document = generator.generated_values(
        site=site,
        tf_values={"hub": {"serviceAccount": {"annotations": {}}}},
        policy_text="",
        config_files={},
        aws_config="",
    )
    generated = {(section, name) for section, settings in document["hub"]["config"].items() for name in settings}
    return values, generated


def _default(cls, name: str, trait) -> str:
    """The default as a person would write it; a default computed from other settings says so."""
    generator = cls._all_trait_default_generators.get(name)
    if generator is not None and getattr(generator, "__qualname__", "").startswith("TraitType"):
        generator = None  # traitlets' own static default
    if generator is None:
        return f"`{trait.default_value_repr()}`"
    function = getattr(generator, "func", None)
    if not getattr(function, "__module__", "").startswith(("authenticator.", "hub.")):
        # The base class's (oauthenticator reads the client secret from OAUTH_CLIENT_SECRET here): never evaluated,
        # so no value of this machine's environment can reach the file.
        return "the base class's (see below)"
    try:
        value = generator(cls.__new__(cls))  # a constant default set by a @default method
    except Exception:  # noqa: BLE001 - it depends on other settings: described in the help
        return "computed (see below)"
    if any(part in repr(value) for part in (str(REPO), sys.executable, sys.prefix)):
        return "computed on this machine (see below)"
    return f"`{value!r}`"


def _help(trait) -> str:
    return textwrap.indent(inspect.cleandoc(trait.help or "(no description)"), "  ")


def render() -> str:
    local = _local_stack_config()
    helm, generated = _helm_config()
    lines = [
        "# Configuration reference",
        "",
        "Generated from the traits' help by `docs/make_configuration.py` (`make docs`); a test fails when it drifts.",
        "",
        "Every setting is a traitlets option, set in the hub config as `c.<Class>.<setting> = …`; on Kubernetes in",
        "the Helm values under `hub.config.<Class>.<setting>` (the chart applies `hub.config` before it runs the",
        "project's `hub/config/*.py`). The local stack (`make demo`) and the integration tests set theirs in",
        "`hub/local_stack/single_machine.py`. Environment variables carry secrets only: `OAUTH_CLIENT_SECRET` (the app",
        "registration's client secret), `JUPYTERHUB_CRYPT_KEY` (encrypts auth_state), `AIRFLOW_API_PASSWORD` (the",
        "hub's Airflow account, for \"Run now\"), and the AWS SDK's own variables for the broker's identity (on",
        "Kubernetes IRSA sets them). The broker is a separate process: the hub passes it its `CredentialBroker`,",
        "`NotebookJobs`, `AirflowApi`, `AccessPolicyFile` and `RevocationStore` settings",
        "(`hub/config/20-credential-broker.py`).",
        "",
    ]
    for cls in _classes():
        name = cls.__name__
        own = [n for n, t in sorted(cls.class_own_traits(config=True).items())]
        names = own + [n for n in INHERITED.get(name, []) if n not in own]
        traits = cls.class_traits(config=True)
        lines += [f"## {name}", "", inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0], ""]
        for trait_name in names:
            trait = traits[trait_name]
            in_local = local.get(name, {}).get(trait_name)
            if (name, trait_name) in SECRETS:
                in_helm = SECRETS[(name, trait_name)]
            elif (name, trait_name) in generated:
                in_helm = f"`hub.config.{name}.{trait_name}`, written by `helm/generate_values.py`"
            elif trait_name in (helm.get(name) or {}):
                in_helm = f"`hub.config.{name}.{trait_name}: {helm[name][trait_name]!r}` in `helm/values.yaml`"
            else:
                in_helm = f"`hub.config.{name}.{trait_name}` (not set: the default)"
            lines += [
                f"### `{name}.{trait_name}`",
                "",
                f"- type `{type(trait).__name__}`, default {_default(cls, trait_name, trait)}",
                f"- local stack: {'set by `hub/local_stack/single_machine.py`' if in_local is not None else 'default'}",
                f"- Helm: {in_helm}",
                "",
                _help(trait),
                "",
            ]
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="write docs/configuration.md from the traits")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/configuration.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text() != text:
            print("docs/configuration.md is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
