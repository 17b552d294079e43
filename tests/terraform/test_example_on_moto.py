"""The example, applied once to a moto server with its authorization checks on, then inspected with boto3.

moto starts with ``INITIAL_NO_AUTH_ACTION_COUNT=3``: its first three requests create the administrator Terraform runs
as (user, policy, access key); every request after that is signed, authenticated and authorized against IAM
policies, as on AWS. What moto 5.2.5 does and does not enforce (read in moto/iam/access_control.py):

- the caller's own IAM policies: action and resource (no conditions, no policy variables);
- an AssumeRole target's trust policy: every statement naming sts:AssumeRole must name the caller's ARN literally
  (a role ARN does not match that role's sessions, an account root does not match its users); of the conditions
  only sts:ExternalId is evaluated;
- bucket policies on object requests, with no conditions at all;
- never session policies or session tags; and an unsigned call (AssumeRoleWithWebIdentity) fails while checks are on.

So the documents are asserted exactly, and moto exercises what it can: the broker's session assumes every access
role (the trust names that session too, see the access-roles module); other callers are refused; the broker may
assume nothing else; a role session reaches its group's S3 locations and no others. What moto cannot evaluate is
marked xfail(strict): if a newer moto starts to enforce it, those tests fail and must become plain tests.

The tests run in file order against one apply; the last one destroys it.
"""

import json
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import boto3
import pytest
import requests
import yaml
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from authenticator.access_policy import load_access_policy
from hub.revocation.document import Entry, checked_policy_text, revocations_policy
from hub.revocation.iam import RevocationPolicy, revocation_policy_arn
from tests.fixtures.servers import local_aws_client, start_moto, stop
from tests.terraform.conftest import REPO

pytestmark = pytest.mark.terraform

ACCOUNT = "123456789012"  # the demo policy's account: moto's default
REGION = "us-east-1"
POLICY = load_access_policy(REPO / "hub" / "demo" / "access-policy.yaml")
BUCKET = POLICY.deployment.notebook_bucket
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
PREFIX = POLICY.deployment.role_name_prefix
BROKER_ROLE = f"{PREFIX}credential-broker"
BROKER_ARN = f"arn:aws:iam::{ACCOUNT}:role/{BROKER_ROLE}"
BROKER_SESSION = "credential-broker"  # the example's broker_session_name
REVOCATIONS_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{PREFIX}revocations"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
TAGS = {"application": "jupyterhub", "managed-by": "terraform"}
ASSUME = ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]
READ = ["s3:GetObject", "s3:GetObjectVersion"]
READ_WRITE = [*READ, "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
HOME = "home/${aws:PrincipalTag/user}/"  # an IAM policy variable, resolved by AWS per session


def canonical(document: dict) -> dict:
    """A policy document with JSON spelling removed: statements by Sid, one value or a list alike, lists sorted."""

    def values(v):
        return sorted(v) if isinstance(v, list) else [v]

    def statement(s):
        out = {k: v for k, v in s.items() if k != "Sid"}
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in out:
                out[key] = values(out[key])
        if isinstance(out.get("Principal"), dict):
            out["Principal"] = {k: values(v) for k, v in out["Principal"].items()}
        if "Condition" in out:
            out["Condition"] = {op: {k: values(v) for k, v in kv.items()} for op, kv in out["Condition"].items()}
        return out

    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    assert len({s.get("Sid") for s in statements}) == len(statements), "statements need distinct Sids"
    return {"Version": document["Version"], "Statement": {s.get("Sid"): statement(s) for s in statements}}


def expected_trust(group: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BrokerAndGroupMembers",
                "Effect": "Allow",
                "Principal": {
                    "AWS": [
                        f"arn:aws:iam::{ACCOUNT}:root",
                        f"arn:aws:sts::{ACCOUNT}:assumed-role/{BROKER_ROLE}/{BROKER_SESSION}",
                    ]
                },
                "Action": ASSUME,
                "Condition": {
                    "ArnLike": {"aws:PrincipalArn": [BROKER_ARN, f"arn:aws:iam::{ACCOUNT}:user/*"]},
                    "Null": {"sts:SourceIdentity": "false", "aws:RequestTag/user": "false"},
                    "StringEquals": {"aws:RequestTag/access-group": group},
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["access-group", "user"]},
                },
            },
            {
                "Sid": "IamUsersAsThemselvesOnly",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ASSUME,
                "Condition": {
                    "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/*"},
                    "StringNotEquals": {"sts:SourceIdentity": "${aws:username}"},
                },
            },
            {
                "Sid": "IamUsersTagThemselvesOnly",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ASSUME,
                "Condition": {
                    "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/*"},
                    "StringNotEquals": {"aws:RequestTag/user": "${aws:username}"},
                },
            },
        ],
    }


def s3_permissions(lists: list[str], read_write: list[str], read: list[str]) -> dict:
    statements = [
        {
            "Sid": "List1",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": BUCKET_ARN,
            "Condition": {"StringLike": {"s3:prefix": [f"{HOME}*", *(f"{p}*" for p in lists)]}},
        },
        {
            "Sid": "ReadWrite",
            "Effect": "Allow",
            "Action": READ_WRITE,
            "Resource": [f"{BUCKET_ARN}/{HOME}*", *(f"{BUCKET_ARN}/{p}*" for p in read_write)],
        },
    ]
    if read:
        statements.append(
            {"Sid": "Read", "Effect": "Allow", "Action": READ, "Resource": [f"{BUCKET_ARN}/{p}*" for p in read]}
        )
    return {"Version": "2012-10-17", "Statement": statements}


# The demo policy's groups, written out: what each role's sessions may do in S3.
EXPECTED_PERMISSIONS = {
    "analysts": s3_permissions(
        lists=["shared/analysts/", "datasets/curated/"], read_write=["shared/analysts/"], read=["datasets/curated/"]
    ),
    "data-engineers": s3_permissions(lists=["datasets/"], read_write=["datasets/"], read=[]),
    "platform-admins": s3_permissions(lists=["datasets/"], read_write=[], read=["datasets/"]),
}


@dataclass
class Moto:
    endpoint: str
    admin: dict  # the credentials Terraform and the assertions run with

    def client(self, service: str, credentials: dict | None = None):
        return local_aws_client(service, self.endpoint, REGION, credentials or self.admin)

    @contextmanager
    def unsigned_calls(self):
        """Suspend moto's checks for unsigned calls (AssumeRoleWithWebIdentity): with them on it wants a signature."""
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()
        try:
            yield
        finally:
            requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()

    def web_identity_session(self, role_arn: str, session_name: str) -> dict:
        """Credentials for ``role_arn`` as EKS gives them to a pod (IRSA): AssumeRoleWithWebIdentity, unsigned."""
        sts = boto3.client(
            "sts", endpoint_url=self.endpoint, region_name=REGION, config=Config(signature_version=UNSIGNED)
        )
        with self.unsigned_calls():
            return sts.assume_role_with_web_identity(
                RoleArn=role_arn, RoleSessionName=session_name, WebIdentityToken="eyJ.service-account-token.sig"
            )["Credentials"]


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    """A moto server of its own, authorization checks on after the three requests that create the administrator."""
    endpoint, process = start_moto(tmp_path_factory.mktemp("moto-auth"), {"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    try:
        anonymous = {"AccessKeyId": "bootstrap", "SecretAccessKey": "bootstrap"}
        iam = Moto(endpoint, anonymous).client("iam")
        iam.create_user(UserName="terraform")
        iam.put_user_policy(
            UserName="terraform",
            PolicyName="administrator",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName="terraform")["AccessKey"]
        moto = Moto(endpoint, {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]})
        with pytest.raises(ClientError, match="InvalidClientTokenId"):  # the checks are on from here
            Moto(endpoint, anonymous).client("iam").list_roles()
        # The cluster's OIDC provider (an EKS cluster creates it; here the administrator does).
        moto.client("iam").create_open_id_connect_provider(
            Url=f"https://{ISSUER}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["9" * 40]
        )
        yield moto
    finally:
        stop(process)


class Applied(NamedTuple):
    run: Callable  # terraform <command> with the moto variables
    outputs: dict  # terraform output, after the apply
    plain: Callable  # terraform <command> as is (state list, ...)


@pytest.fixture(scope="module")
def example(terraform, aws, tmp_path_factory) -> Applied:
    """The example applied to moto, once for this module."""
    where = terraform.dir("examples/complete")
    tfvars = tmp_path_factory.mktemp("tfvars") / "moto.tfvars.json"
    tfvars.write_text(
        json.dumps(
            {
                "aws_endpoints": {"iam": aws.endpoint, "sts": aws.endpoint, "s3": aws.endpoint},
                "oidc_provider_arn": OIDC_ARN,
                "oidc_provider_url": f"https://{ISSUER}",
            }
        )
    )
    env = {"AWS_ACCESS_KEY_ID": aws.admin["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": aws.admin["SecretAccessKey"]}

    def run(*args, check=True):
        return terraform.run(where, *args, "-input=false", "-no-color", f"-var-file={tfvars}", env=env, check=check)

    run("apply", "-auto-approve")
    return Applied(run, terraform.outputs(where, env=env), lambda *args: terraform.run(where, *args, env=env))


@pytest.fixture
def iam(aws, example):
    return aws.client("iam")


@pytest.fixture
def s3(aws, example):
    return aws.client("s3")


@pytest.fixture
def outputs(example):
    return example.outputs


def test_a_second_plan_changes_nothing(example):
    result = example.run("plan", "-detailed-exitcode", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_credentials_for_another_account_than_the_files_are_refused(example, tmp_path):
    other = tmp_path / "access-policy.yaml"
    data = yaml.safe_load((REPO / "hub" / "demo" / "access-policy.yaml").read_text())
    data["deployment"]["aws_account_id"] = "111122223333"
    other.write_text(yaml.safe_dump(data))
    result = example.run("plan", "-lock=false", f"-var=access_policy_file={other}", check=False)
    assert result.returncode == 1
    assert " ".join(result.stderr.split()).count(
        f"{other}: deployment.aws_account_id: the file is for account 111122223333 (aws) but Terraform's AWS "
        f"credentials are for account {ACCOUNT} (aws). Fix: run with credentials for the account in the file, or "
        "correct the file."
    ) == len(POLICY.access_groups)  # one refusal per role


@pytest.mark.parametrize("group", POLICY.access_groups, ids=lambda g: g.name)
def test_one_role_per_access_group_with_the_exact_trust_policy(iam, group):
    role = iam.get_role(RoleName=group.role_name)["Role"]
    assert role["Arn"] == group.role_arn
    assert role["Path"] == "/"
    assert role["MaxSessionDuration"] == group.session_duration_seconds
    assert canonical(role["AssumeRolePolicyDocument"]) == canonical(expected_trust(group.name))
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == {
        **TAGS,
        "access-group": group.name,
        "entra-group-id": group.entra_group_id,
    }


@pytest.mark.parametrize("group", POLICY.access_groups, ids=lambda g: g.name)
def test_each_role_may_use_exactly_its_groups_s3_locations_and_the_persons_home(iam, group):
    assert iam.list_role_policies(RoleName=group.role_name)["PolicyNames"] == ["s3-access"]
    # and the revocations policy, which denies (test_revocation_policy_on_moto.py)
    assert iam.list_attached_role_policies(RoleName=group.role_name)["AttachedPolicies"] == [
        {"PolicyName": f"{PREFIX}revocations", "PolicyArn": REVOCATIONS_ARN}
    ]
    document = iam.get_role_policy(RoleName=group.role_name, PolicyName="s3-access")["PolicyDocument"]
    assert canonical(document) == canonical(EXPECTED_PERMISSIONS[group.name])


def test_the_roles_are_the_access_groups_and_nothing_else(iam):
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert roles == {g.role_name for g in POLICY.access_groups} | {BROKER_ROLE}


@pytest.mark.parametrize("group", POLICY.access_groups, ids=lambda g: g.name)
def test_an_iam_group_per_access_group_may_assume_its_role_and_nothing_else(iam, group):
    found = iam.get_group(GroupName=group.role_name)
    assert found["Group"]["Path"] == "/"
    assert found["Users"] == []
    assert iam.list_attached_group_policies(GroupName=group.role_name)["AttachedPolicies"] == []
    assert iam.list_group_policies(GroupName=group.role_name)["PolicyNames"] == [f"assume-{group.role_name}"]
    document = iam.get_group_policy(GroupName=group.role_name, PolicyName=f"assume-{group.role_name}")
    assert canonical(document["PolicyDocument"]) == canonical(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AssumeTheGroupRole", "Effect": "Allow", "Action": ASSUME, "Resource": group.role_arn}
            ],
        }
    )


def test_the_iam_groups_are_the_access_groups(iam):
    assert {g["GroupName"] for g in iam.list_groups()["Groups"]} == {g.role_name for g in POLICY.access_groups}


def test_the_broker_role_is_for_the_hubs_service_account_and_may_only_assume_the_access_roles(iam):
    role = iam.get_role(RoleName=BROKER_ROLE)["Role"]
    assert role["MaxSessionDuration"] == 3600
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == TAGS
    assert canonical(role["AssumeRolePolicyDocument"]) == canonical(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "HubServiceAccount",
                    "Effect": "Allow",
                    "Principal": {"Federated": OIDC_ARN},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{ISSUER}:sub": "system:serviceaccount:jupyterhub:hub",
                            f"{ISSUER}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )
    assert iam.list_attached_role_policies(RoleName=BROKER_ROLE)["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=BROKER_ROLE)["PolicyNames"] == ["assume-access-roles"]
    document = iam.get_role_policy(RoleName=BROKER_ROLE, PolicyName="assume-access-roles")["PolicyDocument"]
    assert canonical(document) == canonical(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AssumeAccessRoles",
                    "Effect": "Allow",
                    "Action": ASSUME,
                    "Resource": [g.role_arn for g in POLICY.access_groups],
                },
                {
                    "Sid": "VersionTheRevocationsPolicy",
                    "Effect": "Allow",
                    "Action": [
                        "iam:CreatePolicyVersion",
                        "iam:DeletePolicyVersion",
                        "iam:GetPolicy",
                        "iam:GetPolicyVersion",
                        "iam:ListPolicyVersions",
                    ],
                    "Resource": REVOCATIONS_ARN,
                },
            ],
        }
    )


TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def test_the_notebook_bucket_is_private_versioned_encrypted_tls_only_and_expires_old_versions(s3):
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"] == [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}
    ]
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert canonical(json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])) == canonical(TLS_ONLY)
    assert s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert [{k: v for k, v in r.items() if k != "Filter"} for r in rules] == [
        {
            "ID": "expire-old-notebook-versions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
    ]
    assert rules[0]["Filter"] in ({}, {"Prefix": ""})  # every object (moto spells the empty filter as a prefix)
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=BUCKET)  # optional, off by default
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]} == TAGS


def all_policy_documents(iam, s3) -> dict[str, dict]:
    documents = {"bucket policy": json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        documents[f"{name} trust"] = role["AssumeRolePolicyDocument"]
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            documents[f"{name} {policy}"] = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
        documents[f"managed {policy['PolicyName']}"] = version["PolicyVersion"]["Document"]
    for group in iam.list_groups()["Groups"]:
        name = group["GroupName"]
        for policy in iam.list_group_policies(GroupName=name)["PolicyNames"]:
            documents[f"group {name} {policy}"] = iam.get_group_policy(GroupName=name, PolicyName=policy)[
                "PolicyDocument"
            ]
    return documents


def test_no_statement_grants_everything_where_something_narrower_exists(iam, s3):
    documents = all_policy_documents(iam, s3)
    # the bucket; four roles (trust + policy); the revocations policy; three IAM groups
    assert len(documents) == 1 + 2 * 4 + 1 + 3
    for where, document in documents.items():
        for statement in canonical(document)["Statement"].values():
            actions, resources = statement.get("Action", []), statement.get("Resource", [])
            principals = (
                [p for ps in statement.get("Principal", {}).values() for p in ps]
                if isinstance(statement.get("Principal"), dict)
                else [statement.get("Principal")]
            )
            # (the revocations policy's "nobody revoked" statement denies every action but all: nothing)
            if statement.get("NotAction") != ["*"] or where != f"managed {PREFIX}revocations":
                assert "NotAction" not in statement and "NotResource" not in statement, where
            if statement["Effect"] == "Allow":
                assert not any(a == "*" or a.endswith(":*") for a in actions), f"{where}: {actions}"
                assert "*" not in resources, f"{where}: {resources}"
                assert "*" not in principals, f"{where}: {principals}"
            else:
                # Denials may be broad: "no one without TLS", "no IAM user as someone else" and "no session of a
                # revoked person" are meant for all.
                assert where in ("bucket policy", f"managed {PREFIX}revocations") or where.endswith(" trust"), where


def test_the_outputs_are_ready_to_paste(outputs):
    assert outputs["hub_service_account_annotations"] == {"eks.amazonaws.com/role-arn": BROKER_ARN}
    assert outputs["broker_role_arn"] == BROKER_ARN
    assert outputs["notebook_bucket"] == BUCKET
    values = yaml.safe_load(outputs["helm_values"])
    assert values == {
        "hub": {
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": BROKER_ARN}},
            "extraEnv": {
                "AWS_REGION": REGION,
                "AWS_STS_REGIONAL_ENDPOINTS": "regional",
                "AWS_ROLE_SESSION_NAME": BROKER_SESSION,
            },
        }
    }
    assert outputs["helm_values"].startswith("# From terraform output -raw helm_values")


def test_the_hub_and_terraform_agree_on_the_roles(outputs):
    """The hub (load_access_policy) and Terraform (its outputs, from IAM) read the same file the same way."""
    assert outputs["access_role_arns"] == {g.name: g.role_arn for g in POLICY.access_groups}
    assert outputs["iam_group_names"] == {g.name: g.role_name for g in POLICY.access_groups}
    assert outputs["notebook_bucket"] == POLICY.deployment.notebook_bucket


@pytest.fixture(scope="module")
def broker(aws, example) -> dict:
    """The broker's credentials, as the hub pod gets them through IRSA."""
    return aws.web_identity_session(BROKER_ARN, BROKER_SESSION)


def broker_request(group, person="ana", **changes) -> dict:
    """AssumeRole as the hub's broker sends it: session name, source identity, tags, a session policy."""
    request = {
        "RoleArn": group.role_arn,
        "RoleSessionName": person,
        "SourceIdentity": "5f1e8d2a-0c6b-4e8f-9a7d-3b2c1d0e9f8a",  # the person's Entra object id
        "DurationSeconds": 3600,
        "Policy": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET_ARN}/home/{person}/*"}
                ],
            }
        ),
        "Tags": [{"Key": "user", "Value": person}, {"Key": "access-group", "Value": group.name}],
        "TransitiveTagKeys": ["user", "access-group"],
    }
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


@pytest.mark.parametrize("group", POLICY.access_groups, ids=lambda g: g.name)
def test_the_broker_assumes_each_access_role_with_source_identity_and_tags(aws, broker, group):
    sts = aws.client("sts", broker)
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{BROKER_ROLE}/{BROKER_SESSION}"
    issued = sts.assume_role(**broker_request(group))
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{group.role_name}/ana"
    assert issued["AssumedRoleUser"]["Arn"] == session_arn
    assert aws.client("sts", issued["Credentials"]).get_caller_identity()["Arn"] == session_arn


@pytest.fixture(scope="module")
def intruder(aws, example) -> dict:
    """A session of another role in the account, whose own policy allows it to assume any role."""
    iam = aws.client("iam")
    iam.create_role(
        RoleName="other-service",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/{BROKER_ROLE}/{BROKER_SESSION}"},
                        "Action": ASSUME,
                    }
                ],
            }
        ),
    )
    iam.put_role_policy(
        RoleName="other-service",
        PolicyName="assume-anything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ASSUME, "Resource": "*"}]}
        ),
    )
    return aws.web_identity_session(f"arn:aws:iam::{ACCOUNT}:role/other-service", "intruder")


def refused(call) -> str:
    with pytest.raises(ClientError) as error:
        call()
    assert error.value.response["Error"]["Code"] == "AccessDenied"
    return error.value.response["Error"]["Message"]


def test_a_caller_the_trust_policy_does_not_name_is_refused(aws, intruder):
    analysts = POLICY.group("analysts")
    message = refused(lambda: aws.client("sts", intruder).assume_role(**broker_request(analysts)))
    assert "assumed-role/other-service/intruder is not authorized to perform: sts:AssumeRole" in message


def test_an_access_role_session_cannot_switch_to_another_access_role(aws, broker):
    analyst = aws.client("sts", broker).assume_role(**broker_request(POLICY.group("analysts")))["Credentials"]
    engineers = POLICY.group("data-engineers")
    refused(lambda: aws.client("sts", analyst).assume_role(**broker_request(engineers)))


def test_the_broker_may_assume_nothing_but_the_access_roles(aws, broker, intruder):
    # other-service trusts the broker's session, so the refusal comes from the broker's own policy (access roles only).
    other = f"arn:aws:iam::{ACCOUNT}:role/other-service"
    message = refused(
        lambda: aws.client("sts", broker).assume_role(RoleArn=other, RoleSessionName="ana", SourceIdentity="ana")
    )
    assert f"assumed-role/{BROKER_ROLE}/{BROKER_SESSION} is not authorized" in message


@pytest.mark.xfail(
    strict=True,
    reason="moto 5.2.5 evaluates no trust-policy condition but sts:ExternalId; the Null sts:SourceIdentity "
    "condition is asserted on the exact trust document instead",
)
def test_the_broker_is_refused_without_a_source_identity(aws, broker):
    refused(
        lambda: aws.client("sts", broker).assume_role(**broker_request(POLICY.group("analysts"), SourceIdentity=None))
    )


@pytest.mark.xfail(
    strict=True,
    reason="moto 5.2.5 matches trust principals literally: the account principal does not admit the account's IAM "
    "users, so moto refuses what AWS allows here",
    raises=ClientError,
)
def test_a_member_of_the_iam_group_assumes_the_role_as_themselves(aws):
    iam = aws.client("iam")
    analysts = POLICY.group("analysts")
    iam.create_user(UserName="bob")
    iam.add_user_to_group(GroupName=analysts.role_name, UserName="bob")
    try:
        key = iam.create_access_key(UserName="bob")["AccessKey"]
        issued = aws.client("sts", key).assume_role(
            **broker_request(analysts, person="bob", SourceIdentity="bob", Policy=None, TransitiveTagKeys=None)
        )
        assert issued["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{analysts.role_name}/bob"
    finally:
        iam.remove_user_from_group(GroupName=analysts.role_name, UserName="bob")


@pytest.fixture
def without_tls_only_policy(s3):
    """Lift the TLS-only bucket policy for a test, and put the same document back.

    moto evaluates bucket policies without their conditions, so `Deny s3:* unless aws:SecureTransport` reads as
    deny-all to it and hides the role policies' effect on object requests.
    """
    policy = s3.get_bucket_policy(Bucket=BUCKET)["Policy"]
    s3.delete_bucket_policy(Bucket=BUCKET)
    try:
        yield
    finally:
        versions = s3.list_object_versions(Bucket=BUCKET)
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            s3.delete_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])
        s3.put_bucket_policy(Bucket=BUCKET, Policy=policy)


# (group, key, may read, may write): what moto lets each role's session do (the home prefix needs policy variables,
# which moto does not resolve; the exact documents above cover it).
S3_CASES = [
    ("analysts", "shared/analysts/notes.ipynb", True, True),
    ("analysts", "datasets/curated/sales.csv", True, False),
    ("analysts", "datasets/raw/sales.csv", False, False),
    ("analysts", "home/ana/private.ipynb", False, False),
    ("data-engineers", "datasets/raw/sales.csv", True, True),
    ("data-engineers", "shared/analysts/notes.ipynb", False, False),
    ("platform-admins", "datasets/curated/sales.csv", True, False),
    ("platform-admins", "shared/analysts/notes.ipynb", False, False),
]


def test_a_role_session_reaches_its_groups_s3_locations_and_no_others(aws, broker, s3, without_tls_only_policy):
    for key in {key for _, key, _, _ in S3_CASES}:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"seeded by the administrator")
    outcomes = []
    for group_name, key, _, _ in S3_CASES:
        session = aws.client("sts", broker).assume_role(**broker_request(POLICY.group(group_name)))["Credentials"]
        as_role = aws.client("s3", session)
        can_read = can_write = True
        try:
            as_role.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied"
            can_read = False
        try:
            as_role.put_object(Bucket=BUCKET, Key=key, Body=b"written by a role session")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied"
            can_write = False
        outcomes.append((group_name, key, can_read, can_write))
    assert outcomes == S3_CASES


def test_the_revocations_policy_denies_nobody_at_first_exactly_as_the_hub_builds_it(iam, outputs):
    assert outputs["revocation_policy_arn"] == REVOCATIONS_ARN == revocation_policy_arn(POLICY.deployment)
    policy = iam.get_policy(PolicyArn=REVOCATIONS_ARN)["Policy"]
    assert (policy["PolicyName"], policy["DefaultVersionId"], policy["AttachmentCount"]) == (
        f"{PREFIX}revocations",
        "v1",
        len(POLICY.access_groups),
    )
    version = iam.get_policy_version(PolicyArn=REVOCATIONS_ARN, VersionId="v1")["PolicyVersion"]
    assert (
        version["Document"]
        == revocations_policy([], 0)
        == {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "NobodyRevoked",
                    "Effect": "Deny",
                    "NotAction": "*",  # every action but all of them: none
                    "Resource": "*",
                }
            ],
        }
    )


REVOKED_ANA = "0b7a9a52-6f0e-4a8e-9d4c-1b2f3c4d5e6f"


def revocation_texts(count: int) -> list[str]:
    return [checked_policy_text([Entry(REVOKED_ANA, 1_800_000_000 + i)], 1_800_000_000 + i) for i in range(count)]


@pytest.mark.xfail(
    strict=True,
    reason="moto 5.2.5 authorizes IAM calls against the resource '*' only (moto/core/authorization.py), so a "
    "permission on one policy ARN never matches; the broker's permission document is asserted exactly instead",
)
def test_the_broker_may_version_the_revocations_policy(aws, broker):
    RevocationPolicy(aws.client("iam", broker), REVOCATIONS_ARN).write(revocation_texts(1)[0])


def test_the_broker_may_change_no_other_policy_and_nothing_else_of_the_roles(aws, broker):
    as_broker, admin = aws.client("iam", broker), aws.client("iam")
    other = admin.create_policy(PolicyName="other-policy", PolicyDocument=json.dumps(revocations_policy([], 0)))
    analysts = POLICY.group("analysts").role_name
    text = revocation_texts(1)[0]
    try:
        refused(lambda: as_broker.create_policy_version(PolicyArn=other["Policy"]["Arn"], PolicyDocument=text))
    finally:
        admin.delete_policy(PolicyArn=other["Policy"]["Arn"])
    refused(lambda: as_broker.put_role_policy(RoleName=analysts, PolicyName="x", PolicyDocument=text))
    refused(lambda: as_broker.detach_role_policy(RoleName=analysts, PolicyArn=REVOCATIONS_ARN))
    refused(lambda: as_broker.delete_policy(PolicyArn=REVOCATIONS_ARN))
    refused(lambda: as_broker.set_default_policy_version(PolicyArn=REVOCATIONS_ARN, VersionId="v1"))


def test_the_revocations_policy_takes_new_versions_and_keeps_five(aws):
    """The broker's writer against the policy Terraform made (with the administrator's credentials: see above)."""
    revocations = RevocationPolicy(aws.client("iam"), REVOCATIONS_ARN)
    texts = revocation_texts(6)
    assert [revocations.write(text) for text in texts] == ["v2", "v3", "v4", "v5", "v6", "v7"]
    assert revocations.denied() == ("v7", {REVOKED_ANA})
    versions = aws.client("iam").list_policy_versions(PolicyArn=REVOCATIONS_ARN)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == ["v3", "v4", "v5", "v6", "v7"]


def test_a_later_apply_keeps_the_brokers_revocations(example, iam):
    result = example.run("plan", "-detailed-exitcode", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert iam.get_policy(PolicyArn=REVOCATIONS_ARN)["Policy"]["DefaultVersionId"] == "v7"


def test_destroy_leaves_nothing(example, iam, s3):
    example.run("destroy", "-auto-approve")
    assert example.plain("state", "list").stdout.strip() == ""
    assert {r["RoleName"] for r in iam.list_roles()["Roles"]} == {"other-service"}  # the test's own role
    assert iam.list_groups()["Groups"] == []
    assert iam.list_policies(Scope="Local")["Policies"] == []
    assert s3.list_buckets()["Buckets"] == []
    assert {u["UserName"] for u in iam.list_users()["Users"]} <= {"terraform", "bob"}  # the tests' users
