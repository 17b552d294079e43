"""What makes the boundary table mean something: Ceph evaluates the session policy as a narrowing of the role (not
only the role), the "any home" roles really open every home, a person in no access group gets no credentials, and
the tier fails under CI rather than skip when Ceph is missing."""

import asyncio
import json
from dataclasses import replace

import pytest
from botocore.exceptions import ClientError

from authenticator.access_policy import S3Location
from hub.broker import errors
from hub.broker.errors import Refusal
from hub.broker.grants import decide_grant
from hub.broker.minting import Minter
from hub.session_policy import build_session_policy, pack
from tests.fixtures import ceph as ceph_fixture
from tests.fixtures import tools
from tests.fixtures.servers import local_aws_client

from .conftest import (
    NOTEBOOKS,
    ONE_ATTEMPT,
    POLICY,
    REGION,
    USER_VARIABLE,
    Session,
    role_document_for,
    trust_document,
    user_model,
)
from .terraform_plan import role_policies_from_plan

pytestmark = pytest.mark.policy_engine

SAMS = "home/sam/notes.ipynb"
ANAS = "home/ana/notes.ipynb"


def status_of(call) -> int:
    try:
        call()
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied"
        return e.response["ResponseMetadata"]["HTTPStatusCode"]
    return 200


def ana_with_session_policy(boundary, document: dict) -> Session:
    """ana's analysts role on ``boundary``, minted by the broker's code with ``document`` as the session policy."""
    grant = decide_grant(user_model("ana", "analysts"), POLICY)
    grant = replace(grant, group=replace(grant.group, role_arn=boundary.role_arns["ana@analysts"]))
    grant = replace(grant, session_policy=pack(document))
    minter = Minter(boundary.engine.client("sts", boundary.engine.broker), chained=False)
    return Session("ana@analysts", boundary.engine.endpoint, asyncio.run(minter.mint(grant)))


def test_a_session_policy_cannot_widen_the_persons_role(ceph_per_person):
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    s3 = ana_with_session_policy(ceph_per_person, everything).s3
    assert status_of(lambda: s3.get_object(Bucket=NOTEBOOKS, Key=ANAS)) == 200
    assert status_of(lambda: s3.get_object(Bucket=NOTEBOOKS, Key=SAMS)) == 403
    assert status_of(lambda: s3.put_object(Bucket=NOTEBOOKS, Key="datasets/raw/ana.csv", Body=b"x")) == 403


def test_the_session_policy_narrows_the_role(ceph_per_person):
    """The broker's builder with ana's home made read-only: the role lets her write there, the session does not."""
    read_only_home = S3Location(NOTEBOOKS, "home/ana/", "read")
    s3 = ana_with_session_policy(ceph_per_person, build_session_policy(read_only_home, [])).s3
    assert status_of(lambda: s3.get_object(Bucket=NOTEBOOKS, Key=ANAS)) == 200
    assert status_of(lambda: s3.put_object(Bucket=NOTEBOOKS, Key="home/ana/read-only.txt", Body=b"x")) == 403
    assert status_of(lambda: s3.get_object(Bucket=NOTEBOOKS, Key="shared/analysts/plan.md")) == 403
    listed = ceph_per_person.engine.s3.list_objects_v2(Bucket=NOTEBOOKS, Prefix="home/ana/read-only.txt")
    assert listed.get("Contents", []) == []


def test_the_any_home_roles_alone_open_every_home(ceph_any_home):
    """Without the broker's session policy, the any-home run's role reads sam's notebook as ana: so the refusals of
    that run are the session policy's."""
    engine = ceph_any_home.engine
    sts = engine.client("sts", engine.broker)
    raw = sts.assume_role(RoleArn=ceph_any_home.role_arns["ana@analysts"], RoleSessionName="ana")["Credentials"]
    s3 = local_aws_client("s3", engine.endpoint, REGION, raw, **ONE_ATTEMPT)
    assert (
        s3.get_object(Bucket=NOTEBOOKS, Key=SAMS)["Body"].read()
        == b"s3://demo-jupyter-notebooks/home/sam/notes.ipynb (current)"
    )


def test_ceph_refuses_terraforms_role_policy_as_written(ceph_engine, terraform_role_policies):
    """Why the tier substitutes the person's name (README): Ceph refuses policy variables in role policies. If a newer
    Ceph accepts them, this fails, and the tier can use Terraform's documents unchanged."""
    iam = ceph_engine.client("iam")
    iam.create_role(RoleName="terraform-as-written", AssumeRolePolicyDocument=trust_document(ceph_engine.broker_arn))
    with pytest.raises(ClientError) as refused:
        iam.put_role_policy(
            RoleName="terraform-as-written",
            PolicyName="s3-access",
            PolicyDocument=pack(json.loads(terraform_role_policies["analysts"])),
        )
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert iam.list_role_policies(RoleName="terraform-as-written")["PolicyNames"] == []


def test_a_person_in_no_access_group_gets_no_credentials():
    """noah is in no access group: the broker refuses before any AssumeRole call, so nothing is minted."""
    with pytest.raises(Refusal) as refused:
        decide_grant(user_model("noah", "analysts"), POLICY)
    assert (refused.value.status, refused.value.reason) == (403, errors.ROLE_NOT_ELIGIBLE)
    assert refused.value.message == (
        "You are not in any Entra ID group that grants an AWS role any more. "
        "Ask to be added to one, then sign in again."
    )


def test_a_role_the_person_is_not_in_gets_no_credentials():
    """sam's server claims the Platform Admins role, which neither of his groups grants: refused before AssumeRole."""
    with pytest.raises(Refusal) as refused:
        decide_grant(user_model("sam", "platform-admins"), POLICY)
    assert (refused.value.status, refused.value.reason) == (403, errors.ROLE_NOT_ELIGIBLE)
    assert refused.value.message == (
        "You are no longer eligible for the role of access group 'platform-admins' this server was started with "
        "(your roles now: Analysts, Data Engineers). Stop the server and start it again with one of them."
    )


def test_terraforms_role_policies_name_the_person_by_session_tag_and_the_tier_substitutes_it(terraform_role_policies):
    for document in terraform_role_policies.values():
        assert USER_VARIABLE in document
        assert "${" not in role_document_for(document, "ana")
        assert '"arn:aws:s3:::demo-jupyter-notebooks/home/ana/*"' in role_document_for(document, "ana")
    with pytest.raises(AssertionError, match="no longer names the person's home by session tag"):
        role_document_for('{"Version":"2012-10-17","Statement":[]}', "ana")


@pytest.mark.parametrize("in_ci", [False, True], ids=["laptop", "CI"])
def test_missing_ceph_skips_on_a_laptop_and_fails_under_ci(monkeypatch, in_ci):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(tools, "IN_CI", in_ci)
    outcome = pytest.fail.Exception if in_ci else pytest.skip.Exception
    with pytest.raises(
        outcome, match=r"`ceph-mon` is not available: install Debian's packages: apt-get install radosgw"
    ):
        ceph_fixture.require_ceph()


def test_role_policies_are_read_from_the_plans_nested_modules():
    plan = {
        "planned_values": {
            "root_module": {
                "resources": [{"address": "aws_s3_bucket.other", "index": None, "values": {"policy": "no"}}],
                "child_modules": [
                    {
                        "address": "module.access_roles",
                        "resources": [
                            {
                                "address": 'module.access_roles.aws_iam_role_policy.this["analysts"]',
                                "index": "analysts",
                                "values": {"name": "s3-access", "policy": '{"Version":"2012-10-17"}'},
                            },
                            {
                                "address": 'module.access_roles.aws_iam_role.this["analysts"]',
                                "index": "analysts",
                                "values": {"name": "jupyterhub-analyst"},
                            },
                        ],
                    },
                    {
                        "address": "module.broker_role",
                        "resources": [
                            {"address": "module.broker_role.aws_iam_role_policy.this", "values": {"policy": "x"}}
                        ],
                    },
                ],
            }
        }
    }
    assert role_policies_from_plan(plan) == {"analysts": '{"Version":"2012-10-17"}'}
