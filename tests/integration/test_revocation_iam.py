"""Writing the revocations policy to IAM (a moto server): a new default version each time, the oldest non-default
version deleted before a sixth (IAM keeps five:
https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicyVersion.html), and clear errors.

moto stores policy versions but evaluates no deny condition (aws:SourceIdentity, aws:TokenIssueTime), so the tests
assert on the exact document stored; that AWS honours it rests on AWS's documentation, cited in document.py.
"""

import json
import uuid

import boto3
import pytest

from authenticator.access_policy import load_access_policy
from hub.revocation.document import Entry, checked_policy_text, revocations_policy
from hub.revocation.iam import RevocationPolicy, RevocationPolicyError, revocation_policy_arn, version_to_delete
from tests.fixtures.servers import REPO

pytestmark = pytest.mark.integration

ANA = "0b7a9a52-6f0e-4a8e-9d4c-1b2f3c4d5e6f"
NOBODY = revocations_policy([], 0)


def iam_client(endpoint: str):
    return boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.fixture
def policy(hub_moto):
    """A fresh revocations policy of its own (the hub's tests use the deployment's name in the same moto)."""
    iam = iam_client(hub_moto)
    name = f"test-{uuid.uuid4().hex[:8]}-revocations"
    created = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(NOBODY))
    yield RevocationPolicy(iam, created["Policy"]["Arn"])
    for version in iam.list_policy_versions(PolicyArn=created["Policy"]["Arn"])["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=created["Policy"]["Arn"], VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=created["Policy"]["Arn"])


def stored(policy: RevocationPolicy) -> tuple[str, dict]:
    default = policy.client.get_policy(PolicyArn=policy.arn)["Policy"]["DefaultVersionId"]
    document = policy.client.get_policy_version(PolicyArn=policy.arn, VersionId=default)["PolicyVersion"]["Document"]
    return default, document if isinstance(document, dict) else json.loads(document)


def test_the_arn_follows_the_access_policy_file_as_terraform_names_it():
    deployment = load_access_policy(REPO / "hub" / "demo" / "access-policy.yaml").deployment
    assert revocation_policy_arn(deployment) == "arn:aws:iam::123456789012:policy/jupyterhub-revocations"


def test_each_write_is_the_new_default_version_with_exactly_the_document(policy):
    text = checked_policy_text([Entry(ANA, 1_800_000_000)], 1_800_000_000)
    assert policy.write(text) == "v2"
    assert stored(policy) == ("v2", json.loads(text))
    assert policy.denied() == ("v2", {ANA})


def test_a_sixth_version_replaces_the_oldest_non_default_one(policy):
    documents = [checked_policy_text([Entry(str(uuid.UUID(int=i)), 1_800_000_000)], 1_800_000_000) for i in range(7)]
    versions = [policy.write(text) for text in documents]
    assert versions == ["v2", "v3", "v4", "v5", "v6", "v7", "v8"]
    kept = policy.client.list_policy_versions(PolicyArn=policy.arn)["Versions"]
    assert sorted(v["VersionId"] for v in kept) == ["v4", "v5", "v6", "v7", "v8"]
    assert stored(policy) == ("v8", json.loads(documents[-1]))


def test_the_version_to_delete_is_never_the_default():
    versions = [
        {"VersionId": "v1", "IsDefaultVersion": True, "CreateDate": 1},
        {"VersionId": "v2", "IsDefaultVersion": False, "CreateDate": 2},
        {"VersionId": "v3", "IsDefaultVersion": False, "CreateDate": 3},
        {"VersionId": "v4", "IsDefaultVersion": False, "CreateDate": 4},
        {"VersionId": "v5", "IsDefaultVersion": False, "CreateDate": 5},
    ]
    assert version_to_delete(versions) == "v2"
    assert version_to_delete(versions[:4]) is None  # room for one more


def test_a_missing_policy_says_terraform_creates_it(hub_moto):
    missing = RevocationPolicy(iam_client(hub_moto), "arn:aws:iam::123456789012:policy/nowhere-revocations")
    with pytest.raises(RevocationPolicyError) as refused:
        missing.write(json.dumps(NOBODY))
    assert str(refused.value) == (
        "The revocations policy arn:aws:iam::123456789012:policy/nowhere-revocations does not exist in AWS. An "
        "administrator must create it: terraform apply (the access-roles module creates it and attaches it to every "
        "access role)."
    )
