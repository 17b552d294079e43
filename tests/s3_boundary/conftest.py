"""Fixtures of the S3 boundary tier: Ceph (a real policy engine) and moto, each with the access roles of the tier's
access policy, seeded buckets and brokered credentials for every person and role of the table.

The roles' permission policies are Terraform's own (``terraform_plan.py``); the session policies and the
``AssumeRole`` calls are the broker's own code (``hub.broker.grants.decide_grant``, ``hub.broker.minting.Minter``,
``hub.session_policy``). What differs from AWS, and why, is in this folder's README.
"""

import asyncio
import json
import uuid
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import pytest

from authenticator.access_policy import load_access_policy
from hub.broker.contract import ROLE_OPTION
from hub.broker.grants import decide_grant
from hub.broker.minting import Credentials, Minter
from hub.session_policy import pack
from tests.fixtures.ceph import daemons_running, require_ceph, start_ceph
from tests.fixtures.servers import local_aws_client, start_moto, stop
from tests.fixtures.tools import require_executable
from tests.terraform.conftest import TERRAFORM_HOW

from .terraform_plan import plan_role_policies

HERE = Path(__file__).resolve().parent
POLICY_FILE = HERE / "access-policy.yaml"
POLICY = load_access_policy(POLICY_FILE)
ACCOUNT = POLICY.deployment.aws_account_id
REGION = POLICY.deployment.aws_region
NOTEBOOKS = POLICY.deployment.notebook_bucket
LANDING = "demo-raw-landing"  # read by the data engineers only
FINANCE = "demo-finance-reports"  # granted by no group
# The policy variable Terraform's role policies use for the person; AWS resolves it from the session tag `user`.
USER_VARIABLE = "${aws:PrincipalTag/user}"

# Who is in which access groups (the Entra groups' names in the tier's policy).
PEOPLE = {
    "ana": ("analysts",),
    "sam": ("analysts", "data-engineers"),
    "alex": ("platform-admins",),
    "nina": ("notebooks-only",),
    "noah": (),
}
# The sessions the table uses: a person and the role their server was started with.
SESSIONS = ("ana@analysts", "sam@analysts", "sam@data-engineers", "alex@platform-admins", "nina@notebooks-only")

# What each engine holds before the table runs: (bucket, key). The content of each object is its seed_bytes().
SEEDED = (
    *((NOTEBOOKS, f"home/{name}/notes.ipynb") for name in ("ana", "sam", "alex", "nina", "noah", "sam-other")),
    (NOTEBOOKS, "home/ana-b/notes.ipynb"),
    (NOTEBOOKS, "shared/analysts/plan.md"),
    (NOTEBOOKS, "shared/finance/q3.csv"),
    (NOTEBOOKS, "datasets/curated/sales.csv"),
    (NOTEBOOKS, "datasets/raw/events.csv"),
    (LANDING, "landing/feed.json"),
    (LANDING, "archive/feed-2019.json"),
    (FINANCE, "reports/q3.csv"),
)
# Objects with two versions (the first one's bytes are old_bytes()).
VERSIONED = tuple(f"home/{name}/notes.ipynb" for name in ("ana", "sam"))


def seed_bytes(bucket: str, key: str) -> bytes:
    return f"s3://{bucket}/{key} (current)".encode()


def old_bytes(bucket: str, key: str) -> bytes:
    return f"s3://{bucket}/{key} (first version)".encode()


def person_group_ids(name: str) -> list[str]:
    return [POLICY.group(group).entra_group_id for group in PEOPLE[name]]


def user_model(name: str, access_group: str) -> dict:
    """The person's hub model as the broker reads it: eligible roles from the policy, the server's role choice."""
    return {
        "name": name,
        "servers": {"": {"user_options": {ROLE_OPTION: access_group}}},
        "auth_state": {
            "eligible_roles": POLICY.decide(person_group_ids(name)).eligible_roles(),
            "entra": {"oid": str(uuid.uuid4())},
        },
    }


def role_document_for(terraform_document: str, username: str) -> str:
    """Terraform's role policy with the person's name where AWS would resolve the ``user`` session tag, packed."""
    assert USER_VARIABLE in terraform_document, "the role policy no longer names the person's home by session tag"
    return pack(json.loads(terraform_document.replace(USER_VARIABLE, username)))


def trust_document(caller_arn: str) -> str:
    # Ceph 16 cannot evaluate the conditions of Terraform's trust policy (source identity, tags): see the README.
    return pack(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Broker",
                    "Effect": "Allow",
                    "Principal": {"AWS": [caller_arn]},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )


# One attempt, so that a refusal is seen as it is.
ONE_ATTEMPT = {"retries": {"max_attempts": 1, "mode": "standard"}}


@dataclass
class Session:
    """One person's brokered credentials for one role, on one engine."""

    who: str
    endpoint: str
    credentials: Credentials

    @cached_property
    def s3(self):
        credentials = self.credentials
        as_sts_answers = {
            "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "SessionToken": credentials.session_token,
        }
        return local_aws_client("s3", self.endpoint, REGION, as_sts_answers, **ONE_ATTEMPT)


@dataclass
class Engine:
    """An S3 + STS + IAM endpoint, its administrator and the broker's identity on it, and what was seeded there."""

    name: str
    endpoint: str
    admin: dict
    broker: dict
    broker_arn: str
    versions: dict[str, list[str]] = field(default_factory=dict)  # key -> [first version id, current version id]
    uploads: dict[str, str] = field(default_factory=dict)  # key -> id of a multipart upload left in progress
    upload_etags: dict[str, str] = field(default_factory=dict)  # key -> ETag of that upload's part 1

    @cached_property
    def s3(self):
        """The administrator's S3 client (the buckets' owner)."""
        return self.client("s3")

    def client(self, service: str, credentials: dict | None = None):
        return local_aws_client(service, self.endpoint, REGION, credentials or self.admin, **ONE_ATTEMPT)


@dataclass
class Boundary:
    """An engine with brokered credentials for every session of the table (``who`` -> session)."""

    engine: Engine
    sessions: dict[str, Session]
    role_arns: dict[str, str]


def seed(engine: Engine) -> None:
    s3 = engine.s3
    for bucket in (NOTEBOOKS, LANDING, FINANCE):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=NOTEBOOKS, VersioningConfiguration={"Status": "Enabled"})
    for key in VERSIONED:
        first = s3.put_object(Bucket=NOTEBOOKS, Key=key, Body=old_bytes(NOTEBOOKS, key))["VersionId"]
        engine.versions[key] = [first]
    for bucket, key in SEEDED:
        response = s3.put_object(Bucket=bucket, Key=key, Body=seed_bytes(bucket, key))
        if key in engine.versions:
            engine.versions[key].append(response["VersionId"])
    # sam's upload in progress, one part in: what others must not touch.
    upload = s3.create_multipart_upload(Bucket=NOTEBOOKS, Key="home/sam/big.bin")["UploadId"]
    part = s3.upload_part(Bucket=NOTEBOOKS, Key="home/sam/big.bin", UploadId=upload, PartNumber=1, Body=b"s" * 1024)
    engine.uploads["home/sam/big.bin"] = upload
    engine.upload_etags["home/sam/big.bin"] = part["ETag"]


def create_roles(engine: Engine, documents: dict[str, str], per_person: bool) -> dict[str, str]:
    """The access roles on ``engine``; returns ``who`` -> role ARN for each session of the table.

    ``per_person``: one role per person and group, its policy Terraform's with the person's name substituted (what AWS
    evaluates for that person). Otherwise one role per group under Terraform's own name, with every person's home
    (``*``) in its policy: then the session policy alone keeps people out of each other's homes.
    """
    iam = engine.client("iam")
    arns = {}
    for who in SESSIONS:
        person, group_name = who.split("@")
        group = POLICY.group(group_name)
        name = f"{group.role_name}-{person}" if per_person else group.role_name
        arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        if arn not in arns.values():
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_document(engine.broker_arn))
            document = role_document_for(documents[group_name], person if per_person else "*")
            iam.put_role_policy(RoleName=name, PolicyName="s3-access", PolicyDocument=document)
        arns[who] = arn
    return arns


def mint_sessions(engine: Engine, role_arns: dict[str, str]) -> Boundary:
    """Credentials for every session of the table, through the broker's own grant decision and minting code."""
    minter = Minter(engine.client("sts", engine.broker), chained=False)
    sessions = {}
    for who in SESSIONS:
        person, group_name = who.split("@")
        grant = decide_grant(user_model(person, group_name), POLICY)
        grant = replace(grant, group=replace(grant.group, role_arn=role_arns[who]))
        sessions[who] = Session(who, engine.endpoint, asyncio.run(minter.mint(grant)))
    return Boundary(engine, sessions, role_arns)


@pytest.fixture(scope="session")
def terraform_role_policies(tmp_path_factory) -> dict[str, str]:
    """Access group -> the role permission policy text Terraform plans for the tier's access policy."""
    binary = require_executable("terraform", TERRAFORM_HOW)
    documents = plan_role_policies(binary, POLICY_FILE, tmp_path_factory.mktemp("terraform-plan"))
    assert set(documents) == {g.name for g in POLICY.access_groups}
    return documents


@pytest.fixture(scope="session")
def ceph(tmp_path_factory):
    """A single-node Ceph for the session; every daemon is stopped by its PID at the end."""
    require_ceph()
    cluster = start_ceph(tmp_path_factory.mktemp("ceph"), tenant=ACCOUNT)
    yield cluster
    cluster.stop()
    assert daemons_running(cluster) == [], "a Ceph daemon outlived the tier"


@pytest.fixture(scope="session")
def ceph_engine(ceph) -> Engine:
    """Ceph, seeded, with the broker as a user of the account's tenant (no IAM rights: it only calls AssumeRole)."""
    broker = {"AccessKeyId": f"BROKER{uuid.uuid4().hex[:14].upper()}", "SecretAccessKey": uuid.uuid4().hex}
    ceph.run(
        "radosgw-admin",
        "-n",
        "client.admin",
        "user",
        "create",
        f"--tenant={ACCOUNT}",
        "--uid=credential-broker",
        "--display-name=credential broker",
        f"--access-key={broker['AccessKeyId']}",
        f"--secret-key={broker['SecretAccessKey']}",
    )
    engine = Engine("ceph", ceph.endpoint, ceph.admin, broker, f"arn:aws:iam::{ACCOUNT}:user/credential-broker")
    seed(engine)
    return engine


@pytest.fixture(scope="session")
def ceph_per_person(ceph_engine, terraform_role_policies) -> Boundary:
    return mint_sessions(ceph_engine, create_roles(ceph_engine, terraform_role_policies, per_person=True))


@pytest.fixture(scope="session")
def ceph_any_home(ceph_engine, terraform_role_policies) -> Boundary:
    return mint_sessions(ceph_engine, create_roles(ceph_engine, terraform_role_policies, per_person=False))


@pytest.fixture(scope="session")
def moto_per_person(tmp_path_factory, terraform_role_policies) -> Boundary:
    """A moto server as the demo runs it (no authorization checks), with the same roles, seeds and sessions."""
    endpoint, process = start_moto(tmp_path_factory.mktemp("moto-boundary"))
    keys = {"AccessKeyId": "moto-admin", "SecretAccessKey": "moto-admin"}
    engine = Engine("moto", endpoint, keys, keys, f"arn:aws:iam::{ACCOUNT}:user/credential-broker")
    seed(engine)
    yield mint_sessions(engine, create_roles(engine, terraform_role_policies, per_person=True))
    stop(process)
