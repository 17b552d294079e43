"""The access-roles module against what AWS itself accepts, applied to a moto server for each case:

- IAM takes a role's MaxSessionDuration only from 3600 to 43200 s, while the access policy allows sessions from 900 s
  (ref: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html): the AWS provider refuses 900 at
  plan time, so the module must ask for at least 3600 and leave the shorter duration to the broker's request;
- S3 has its own DNS suffix per partition, `amazonaws.com.cn` in `aws-cn`
  (ref: https://docs.amazonaws.cn/en_us/aws/latest/userguide/endpoints-Beijing.html), which the KMS `kms:ViaService`
  condition must name.

moto does not check the duration range or the condition; the provider's plan and the documents read back do.
"""

import copy
import json
from pathlib import Path

import boto3
import pytest
import yaml

from tests.fixtures.servers import start_moto, stop
from tests.terraform.conftest import REPO

pytestmark = pytest.mark.terraform

DEMO = yaml.safe_load((REPO / "hub" / "demo" / "access-policy.yaml").read_text())
ACCOUNT = DEMO["deployment"]["aws_account_id"]  # moto's default account


def root_module(terraform, where: Path) -> Path:
    """A root module with the access-policy and access-roles modules, pointed at an emulated AWS."""
    modules = terraform.dir("modules")
    (where / "main.tf").write_text(
        """
variable "file" {
  type = string
}
variable "endpoint" {
  type = string
}
variable "broker_role_arn" {
  type = string
}
variable "kms_key_arns" {
  type = list(string)
}

module "policy" {
  source             = "%(modules)s/access-policy"
  access_policy_file = var.file
}

provider "aws" {
  region                      = module.policy.policy.deployment.aws_region
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_credentials_validation = true
  endpoints {
    iam = var.endpoint
    sts = var.endpoint
  }
}

module "roles" {
  source          = "%(modules)s/access-roles"
  access_policy   = module.policy.policy
  broker_role_arn = var.broker_role_arn
  kms_key_arns    = var.kms_key_arns
}
"""
        % {"modules": modules}
    )
    terraform.init(where)
    return where


@pytest.fixture(scope="module")
def roles_root(terraform, tmp_path_factory) -> Path:
    return root_module(terraform, tmp_path_factory.mktemp("aws-facts"))


@pytest.fixture
def moto(tmp_path):
    endpoint, proc = start_moto(tmp_path)
    yield endpoint
    stop(proc)


def apply(terraform, root: Path, tmp_path: Path, endpoint: str, policy: dict, kms_key_arns: list[str]) -> None:
    path = tmp_path / "access-policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    state = tmp_path / "terraform.tfstate"
    partition = policy["deployment"].get("aws_partition", "aws")
    terraform.run(
        root,
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-lock=false",
        f"-state={state}",
        f"-var=file={path}",
        f"-var=endpoint={endpoint}",
        f"-var=broker_role_arn=arn:{partition}:iam::{ACCOUNT}:role/jupyterhub-credential-broker",
        f"-var=kms_key_arns={json.dumps(kms_key_arns)}",
    )


def iam(endpoint: str, region: str):
    return boto3.client(
        "iam", endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def test_a_900_second_session_gets_a_role_iam_accepts(terraform, roles_root, tmp_path, moto):
    policy = copy.deepcopy(DEMO)
    policy["access_groups"][0]["session_duration_seconds"] = 900
    policy["access_groups"][1]["session_duration_seconds"] = 43200
    apply(terraform, roles_root, tmp_path, moto, policy, [])
    client = iam(moto, policy["deployment"]["aws_region"])
    durations = {
        g["name"]: client.get_role(RoleName=f"{policy['deployment']['role_name_prefix']}{g['role']}")["Role"][
            "MaxSessionDuration"
        ]
        for g in policy["access_groups"]
    }
    assert durations == {"analysts": 3600, "data-engineers": 43200, "platform-admins": 3600}


@pytest.mark.parametrize(
    ("partition", "region", "service"),
    [("aws-cn", "cn-north-1", "s3.cn-north-1.amazonaws.com.cn"), ("aws", "us-east-1", "s3.us-east-1.amazonaws.com")],
)
def test_the_kms_condition_names_the_partitions_s3_endpoint(
    terraform, roles_root, tmp_path, moto, partition, region, service
):
    policy = copy.deepcopy(DEMO)
    policy["deployment"].update(aws_partition=partition, aws_region=region)
    key = f"arn:{partition}:kms:{region}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    apply(terraform, roles_root, tmp_path, moto, policy, [key])
    role = f"{policy['deployment']['role_name_prefix']}{policy['access_groups'][0]['role']}"
    document = iam(moto, region).get_role_policy(RoleName=role, PolicyName="s3-access")["PolicyDocument"]
    kms = next(s for s in document["Statement"] if s.get("Sid") == "KmsForS3")
    assert kms["Resource"] == key
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": service}}
