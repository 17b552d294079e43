"""helm/generate_values.py: from `terraform output -json` and the access policy to the generated values file."""

import subprocess
import sys

import pytest
import yaml

from tests.kubernetes.chart import REPO
from tests.kubernetes.conftest import BROKER_ROLE_ARN, DEMO_POLICY, SITE_ARGS, TERRAFORM_OUTPUT

pytestmark = pytest.mark.kubernetes

SCRIPT = REPO / "helm" / "generate_values.py"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/1b2c3d4e-aaaa-bbbb"


def site(generator, **changes):
    return generator.Site(**{**{k: v for k, v in SITE_ARGS.items() if v is not None}, **changes})


def test_the_generated_document(generator):
    tf_values = generator.terraform_values(TERRAFORM_OUTPUT)
    values = generator.generated_values(
        site=site(generator, certificate_arn=CERTIFICATE),
        tf_values=tf_values,
        policy_text="version: 1\n",
        config_files={"10-authenticator.py": "c.JupyterHub.x = 1\n", "20-broker.py": "# second\n"},
        aws_config="[default]\n",
    )
    assert values == {
        "hub": {
            "image": {"name": "123456789012.dkr.ecr.us-east-1.amazonaws.com/jupyterhub-hub", "tag": "3f2a9c1"},
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": BROKER_ROLE_ARN}},
            "config": {
                "EntraIDOAuthenticator": {
                    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    "client_id": "0b9d8f4e-3c7a-4e5b-9a61-2f1e8d7c6b5a",
                    "oauth_callback_url": "https://hub.example.com/hub/oauth_callback",
                }
            },
            "extraEnv": {
                "AWS_REGION": "us-east-1",
                "AWS_ROLE_SESSION_NAME": "credential-broker",
                "AWS_STS_REGIONAL_ENDPOINTS": "regional",
            },
            "extraFiles": {
                "access-policy": {
                    "mountPath": "/usr/local/etc/jupyterhub/access-policy/access-policy.yaml",
                    "stringData": "version: 1\n",
                },
                "config-10-authenticator": {
                    "mountPath": "/usr/local/etc/jupyterhub/jupyterhub_config.d/10-authenticator.py",
                    "stringData": "c.JupyterHub.x = 1\n",
                },
                "config-20-broker": {
                    "mountPath": "/usr/local/etc/jupyterhub/jupyterhub_config.d/20-broker.py",
                    "stringData": "# second\n",
                },
            },
        },
        "singleuser": {
            "image": {"name": "123456789012.dkr.ecr.us-east-1.amazonaws.com/jupyterhub-user", "tag": "3f2a9c1"},
            "extraFiles": {"aws-config": {"mountPath": "/etc/jupyter/aws-config", "stringData": "[default]\n"}},
        },
        "ingress": {
            "hosts": ["hub.example.com"],
            "tls": [{"hosts": ["hub.example.com"]}],
            "annotations": {"alb.ingress.kubernetes.io/certificate-arn": CERTIFICATE},
        },
    }


@pytest.mark.parametrize(
    ("reference", "image"),
    [
        ("registry.example.com/hub:1.2.3", {"name": "registry.example.com/hub", "tag": "1.2.3"}),
        ("registry.example.com:5000/team/hub:abc", {"name": "registry.example.com:5000/team/hub", "tag": "abc"}),
        ("hub:v1@sha256:" + "a" * 64, {"name": "hub", "tag": "v1@sha256:" + "a" * 64}),
    ],
)
def test_image_references(generator, reference, image):
    assert generator.split_image("--hub-image", reference) == image


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"hub_image": "registry.example.com/hub"},
            "--hub-image='registry.example.com/hub': give the image as <registry>/<name>:<tag> (a tag is required)",
        ),
        (
            {"user_image": "registry.example.com:5000/user"},
            "--user-image='registry.example.com:5000/user': give the image as <registry>/<name>:<tag> (a tag is "
            "required)",
        ),
        (
            {"user_image": "user:latest"},
            "--user-image='user:latest': `latest` is not a version; tag each build (e.g. the git commit)",
        ),
        (
            {"host": "https://hub.example.com"},
            "--host='https://hub.example.com': give the hub's DNS name only, e.g. hub.example.com (no scheme)",
        ),
        (
            {"entra_tenant_id": "common"},
            "--entra-tenant-id='common': give the GUID from the app registration's Overview page",
        ),
        (
            {"certificate_arn": "arn:aws:iam::123456789012:server-certificate/x"},
            "--certificate-arn='arn:aws:iam::123456789012:server-certificate/x': give an ACM certificate ARN",
        ),
    ],
)
def test_site_refusals_name_the_option(generator, changes, message):
    with pytest.raises(generator.GenerateError) as refusal:
        s = site(generator, **changes)
        generator.check_site(s)
        generator.split_image("--hub-image", s.hub_image)
        generator.split_image("--user-image", s.user_image)
    assert str(refusal.value) == message


def helm_values(document: dict) -> dict:
    return {"helm_values": {"type": "string", "value": yaml.safe_dump(document)}}


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (
            {"broker_role_arn": {"value": BROKER_ROLE_ARN}},
            "the Terraform outputs have no `helm_values`: pass `terraform output -json` of the root module that uses "
            "the broker-role module (terraform/examples/complete)",
        ),
        (
            helm_values({"hub": {"extraEnv": {"AWS_REGION": "us-east-1"}}}),
            "Terraform output `helm_values` lacks hub.serviceAccount.annotations.eks.amazonaws.com/role-arn: the "
            "broker would have no AWS identity. Apply the broker-role module and take the output again",
        ),
    ],
)
def test_terraform_refusals(generator, outputs, message):
    with pytest.raises(generator.GenerateError) as refusal:
        generator.terraform_values(outputs)
    assert str(refusal.value) == message


def test_policy_and_terraform_must_agree(generator):
    tf_values = generator.terraform_values(TERRAFORM_OUTPUT)
    with pytest.raises(generator.GenerateError) as refusal:
        generator.check_agreement(tf_values, TERRAFORM_OUTPUT, "eu-west-1", "demo-jupyter-notebooks")
    assert str(refusal.value) == (
        "the access policy's deployment.aws_region is 'eu-west-1' but Terraform's helm_values sets AWS_REGION "
        "'us-east-1': pass the policy file Terraform was applied with, or apply Terraform again"
    )
    with pytest.raises(generator.GenerateError, match=r"notebook_bucket is 'other' but Terraform created 'demo-j"):
        generator.check_agreement(tf_values, TERRAFORM_OUTPUT, "us-east-1", "other")


def run(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )


def cli_args(terraform_output, policy=DEMO_POLICY, **changes):
    options = {**SITE_ARGS, **changes}
    args = ["--terraform-output", str(terraform_output), "--access-policy", str(policy)]
    for name, value in options.items():
        if value is not None:
            args += [f"--{name.replace('_', '-')}", value]
    return args


def test_the_command_writes_the_file_helm_takes(terraform_output_file, tmp_path, generated_values):
    out = tmp_path / "generated-values.yaml"
    result = run(*cli_args(terraform_output_file), "-o", str(out))
    assert (result.returncode, result.stderr) == (0, "")
    text = out.read_text()
    assert text.startswith("# Generated by helm/generate_values.py: do not edit, generate again")
    assert yaml.safe_load(text) == generated_values
    assert "stringData: |\n" in text, "the mounted files stay readable in review"


def test_a_bad_access_policy_stops_the_command_with_the_policys_own_message(terraform_output_file, tmp_path):
    policy = tmp_path / "access-policy.yaml"
    policy.write_text(DEMO_POLICY.read_text().replace("aws_region: us-east-1", "aws_region: mars-1"))
    result = run(*cli_args(terraform_output_file, policy=policy))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"generate_values: --access-policy={policy}: ")
    assert "aws_region" in result.stderr


def test_unreadable_terraform_output_is_refused(tmp_path):
    broken = tmp_path / "terraform-output.json"
    broken.write_text("Error: No outputs found")
    result = run(*cli_args(broken))
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"generate_values: --terraform-output={broken}: not the JSON of `terraform output -json`"
    )


def test_terraform_output_shape_is_the_examples(generator):
    """The sample above has the shape terraform/examples/complete outputs (kept honest against its outputs.tf)."""
    path = REPO / "terraform" / "examples" / "complete" / "outputs.tf"
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    outputs_tf = path.read_text()
    for name in TERRAFORM_OUTPUT:
        assert f'output "{name}"' in outputs_tf
    assert "serviceAccount" in outputs_tf and "AWS_REGION" in outputs_tf
