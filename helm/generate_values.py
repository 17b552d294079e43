"""Write the deployment-specific Helm values that go with helm/values.yaml.

    terraform -chdir=terraform/examples/complete output -json > terraform-output.json
    .venv/bin/python helm/generate_values.py --terraform-output terraform-output.json \\
        --access-policy access-policy.yaml --host hub.example.com \\
        --entra-tenant-id <Directory (tenant) ID> --entra-client-id <Application (client) ID> \\
        --hub-image <registry>/jupyterhub-hub:<tag> --user-image <registry>/jupyterhub-user:<tag> \\
        -o generated-values.yaml
    helm upgrade --install jupyterhub jupyterhub/jupyterhub --version 4.4.0 --namespace jupyterhub \\
        -f helm/values.yaml -f generated-values.yaml

The result holds, and nothing else:
- from Terraform's `helm_values` output: the hub service account's IRSA annotation (the broker's role) and the
  broker's AWS settings (hub.extraEnv AWS_*);
- the images, the host (ingress), the Entra tenant and client IDs and the OAuth callback URL (not secrets, as
  hub.config.EntraIDOAuthenticator settings);
- hub.extraFiles: the access policy and the hub's Python configuration (hub/config/*.py), mounted where
  the chart loads them;
- singleuser.extraFiles: the user servers' AWS config, whose `credential_process` runs the credential helper.

It refuses, naming the option, anything that cannot work: an access policy that does not load, a policy and a
Terraform state that disagree on the region or the bucket, a missing IRSA annotation, an image without a tag or
tagged `latest`, a tenant that is not a GUID. Exit status 2 then, with the message on stderr.
"""

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from authenticator.access_policy import is_guid

REPO = Path(__file__).resolve().parents[1]
HUB_CONFIG_DIRS = (REPO / "hub" / "config",)
# Where the chart's jupyterhub_config.py looks for more configuration files.
HUB_CONFIG_MOUNT = "/usr/local/etc/jupyterhub/jupyterhub_config.d"
# helm/values.yaml sets hub.config.AccessPolicyFile.path to this path.
ACCESS_POLICY_MOUNT = "/usr/local/etc/jupyterhub/access-policy/access-policy.yaml"
# The user image's credential helper and the AWS config that runs it (hub.spawn.BrokeredKubeSpawner's defaults).
HELPER_COMMAND = "python3 -I /etc/jupyter/aws_credential_process.py"
AWS_CONFIG_MOUNT = "/etc/jupyter/aws-config"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"

_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# name[:port]/path:tag, optionally @sha256:digest
_IMAGE = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9._/:-]*[a-z0-9])"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
    r"(?P<digest>@sha256:[0-9a-f]{64})?$"
)
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")


class GenerateError(ValueError):
    """A refused input; the message names the option or the Terraform output and the fix."""


@dataclass(frozen=True)
class Site:
    """What the administrator gives on the command line."""

    host: str
    entra_tenant_id: str
    entra_client_id: str
    hub_image: str
    user_image: str
    certificate_arn: str = ""


# ---- pure builders -------------------------------------------------------------------------------------------------


def split_image(option: str, reference: str) -> dict:
    """``registry/name:tag[@sha256:…]`` as the chart's ``image`` mapping; refuses no tag and ``latest``."""
    match = _IMAGE.match(reference)
    if not match:
        raise GenerateError(f"{option}={reference!r}: give the image as <registry>/<name>:<tag> (a tag is required)")
    if match["tag"] == "latest":
        raise GenerateError(f"{option}={reference!r}: `latest` is not a version; tag each build (e.g. the git commit)")
    return {"name": match["name"], "tag": match["tag"] + (match["digest"] or "")}


def check_site(site: Site) -> None:
    if not _HOST.match(site.host):
        raise GenerateError(f"--host={site.host!r}: give the hub's DNS name only, e.g. hub.example.com (no scheme)")
    for option, value in (("--entra-tenant-id", site.entra_tenant_id), ("--entra-client-id", site.entra_client_id)):
        if not is_guid(value):
            raise GenerateError(f"{option}={value!r}: give the GUID from the app registration's Overview page")
    if site.certificate_arn and not _ACM_ARN.match(site.certificate_arn):
        raise GenerateError(f"--certificate-arn={site.certificate_arn!r}: give an ACM certificate ARN")


def terraform_values(outputs: dict) -> dict:
    """The Helm values Terraform prepared (output ``helm_values``), checked for the IRSA annotation."""
    if "helm_values" not in outputs:
        raise GenerateError(
            "the Terraform outputs have no `helm_values`: pass `terraform output -json` of the root module that "
            "uses the broker-role module (terraform/examples/complete)"
        )
    try:
        values = yaml.safe_load(outputs["helm_values"]["value"])
    except (KeyError, TypeError, yaml.YAMLError) as e:
        raise GenerateError(f"Terraform output `helm_values` is not a YAML document ({e})") from None
    try:
        role_arn = values["hub"]["serviceAccount"]["annotations"][IRSA_ANNOTATION]
    except (KeyError, TypeError):
        role_arn = None
    if not role_arn:
        raise GenerateError(
            f"Terraform output `helm_values` lacks hub.serviceAccount.annotations.{IRSA_ANNOTATION}: the broker "
            "would have no AWS identity. Apply the broker-role module and take the output again"
        )
    return values


def check_agreement(tf_values: dict, outputs: dict, region: str, bucket: str) -> None:
    """The access policy and the Terraform state must describe the same deployment."""
    tf_region = ((tf_values.get("hub") or {}).get("extraEnv") or {}).get("AWS_REGION")
    if tf_region and tf_region != region:
        raise GenerateError(
            f"the access policy's deployment.aws_region is {region!r} but Terraform's helm_values sets AWS_REGION "
            f"{tf_region!r}: pass the policy file Terraform was applied with, or apply Terraform again"
        )
    tf_bucket = (outputs.get("notebook_bucket") or {}).get("value")
    if tf_bucket and tf_bucket != bucket:
        raise GenerateError(
            f"the access policy's deployment.notebook_bucket is {bucket!r} but Terraform created {tf_bucket!r}: "
            "pass the policy file Terraform was applied with, or apply Terraform again"
        )


def extra_file_key(file_name: str) -> str:
    """hub.extraFiles key for a config file: `10-authenticator.py` -> `config-10-authenticator`."""
    return "config-" + re.sub(r"[^a-z0-9-]+", "-", Path(file_name).stem.lower()).strip("-")


def generated_values(
    *, site: Site, tf_values: dict, policy_text: str, config_files: dict[str, str], aws_config: str
) -> dict:
    """The generated values document (plain data; the caller writes it as YAML)."""
    hub = tf_values.get("hub") or {}
    extra_env = dict(hub.get("extraEnv") or {})
    entra = {
        "tenant_id": site.entra_tenant_id.lower(),
        "client_id": site.entra_client_id.lower(),
        "oauth_callback_url": f"https://{site.host}/hub/oauth_callback",
    }
    extra_files = {
        "access-policy": {"mountPath": ACCESS_POLICY_MOUNT, "stringData": policy_text},
    }
    for name, text in sorted(config_files.items()):
        extra_files[extra_file_key(name)] = {"mountPath": f"{HUB_CONFIG_MOUNT}/{name}", "stringData": text}
    ingress = {"hosts": [site.host], "tls": [{"hosts": [site.host]}]}
    if site.certificate_arn:
        ingress["annotations"] = {"alb.ingress.kubernetes.io/certificate-arn": site.certificate_arn}
    return {
        "hub": {
            "image": split_image("--hub-image", site.hub_image),
            "serviceAccount": {"annotations": dict(hub["serviceAccount"]["annotations"])},
            "config": {"EntraIDOAuthenticator": entra},
            "extraEnv": extra_env,
            "extraFiles": extra_files,
        },
        "singleuser": {
            "image": split_image("--user-image", site.user_image),
            "extraFiles": {"aws-config": {"mountPath": AWS_CONFIG_MOUNT, "stringData": aws_config}},
        },
        "ingress": ingress,
    }


def to_yaml(values: dict) -> str:
    """YAML with multi-line strings (the mounted files) as literal blocks, readable in review."""

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value):
        style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    header = (
        "# Generated by helm/generate_values.py: do not edit, generate again (helm/README.md, Upgrades).\n"
        "# Use with: helm upgrade --install ... -f helm/values.yaml -f <this file>\n"
    )
    return header + yaml.dump(values, Dumper=Dumper, sort_keys=False, width=120)


# ---- reading the inputs --------------------------------------------------------------------------------------------


def hub_config_files(directories=HUB_CONFIG_DIRS) -> dict[str, str]:
    """The Python files the chart loads from jupyterhub_config.d, in the order it loads them (by name)."""
    files: dict[str, str] = {}
    for directory in directories:
        for path in sorted(Path(directory).glob("*.py")):
            if path.name in files:
                raise GenerateError(f"{path.name} exists in two config folders; rename one")
            files[path.name] = path.read_text()
    return files


def build(args) -> dict:
    from authenticator.access_policy import AccessPolicyError, load_access_policy
    from hub.spawn import aws_config_text

    site = Site(
        host=args.host.lower(),
        entra_tenant_id=args.entra_tenant_id,
        entra_client_id=args.entra_client_id,
        hub_image=args.hub_image,
        user_image=args.user_image,
        certificate_arn=args.certificate_arn or "",
    )
    check_site(site)
    try:
        outputs = json.loads(Path(args.terraform_output).read_text())
    except (OSError, ValueError) as e:
        raise GenerateError(
            f"--terraform-output={args.terraform_output}: not the JSON of `terraform output -json` ({e})"
        ) from None
    tf_values = terraform_values(outputs)
    try:
        policy = load_access_policy(args.access_policy)
    except (OSError, AccessPolicyError) as e:
        raise GenerateError(f"--access-policy={args.access_policy}: {e}") from None
    check_agreement(tf_values, outputs, policy.deployment.aws_region, policy.deployment.notebook_bucket)
    return generated_values(
        site=site,
        tf_values=tf_values,
        policy_text=Path(args.access_policy).read_text(),
        config_files=hub_config_files(),
        aws_config=aws_config_text(HELPER_COMMAND, policy.deployment.aws_region),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--terraform-output", required=True, help="JSON of `terraform output -json`")
    parser.add_argument("--access-policy", required=True, help="the access policy YAML Terraform was applied with")
    parser.add_argument("--host", required=True, help="the hub's DNS name, e.g. hub.example.com")
    parser.add_argument("--entra-tenant-id", required=True, help="Directory (tenant) ID of the app registration")
    parser.add_argument("--entra-client-id", required=True, help="Application (client) ID of the app registration")
    parser.add_argument("--hub-image", required=True, help="<registry>/<name>:<tag> built from hub/images/hub")
    parser.add_argument("--user-image", required=True, help="<registry>/<name>:<tag> built from hub/images/user")
    parser.add_argument("--certificate-arn", help="ACM certificate for the host (default: discovered by host name)")
    parser.add_argument("-o", "--output", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    try:
        document = to_yaml(build(args))
    except GenerateError as e:
        print(f"generate_values: {e}", file=sys.stderr)
        return 2
    if args.output:
        Path(args.output).write_text(document)
    else:
        sys.stdout.write(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
