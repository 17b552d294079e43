"""The session policy builder, against literal expected documents, and the 2048-character limit."""

import json

import pytest

from authenticator.access_policy import S3Location
from hub.session_policy import (
    MAX_PACKED_SESSION_POLICY_CHARS,
    SessionPolicyTooLarge,
    build_session_policy,
    pack,
    packed_session_policy,
)

pytestmark = pytest.mark.unit

HOME = S3Location("demo-jupyter-notebooks", "home/ana/", "read-write")
ANALYSTS = (
    S3Location("demo-jupyter-notebooks", "shared/analysts/", "read-write"),
    S3Location("demo-jupyter-notebooks", "datasets/curated/", "read"),
)
RW = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts"]  # fmt: skip
NOT_S3 = {"Sid": "NotS3", "Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}


def test_home_plus_group_locations():
    assert build_session_policy(HOME, ANALYSTS) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "List1",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::demo-jupyter-notebooks",
                "Condition": {"StringLike": {"s3:prefix": ["home/ana/*", "shared/analysts/*", "datasets/curated/*"]}},
            },
            {
                "Sid": "ReadWrite",
                "Effect": "Allow",
                "Action": RW,
                "Resource": [
                    "arn:aws:s3:::demo-jupyter-notebooks/home/ana/*",
                    "arn:aws:s3:::demo-jupyter-notebooks/shared/analysts/*",
                ],
            },
            {
                "Sid": "Read",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": ["arn:aws:s3:::demo-jupyter-notebooks/datasets/curated/*"],
            },
            NOT_S3,
        ],
    }


def test_home_only_other_partition_and_buckets():
    lake = S3Location("data-lake", "raw/", "read")
    assert build_session_policy(HOME, [lake], partition="aws-cn") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "List1",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws-cn:s3:::demo-jupyter-notebooks",
                "Condition": {"StringLike": {"s3:prefix": ["home/ana/*"]}},
            },
            {
                "Sid": "List2",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws-cn:s3:::data-lake",
                "Condition": {"StringLike": {"s3:prefix": ["raw/*"]}},
            },
            {
                "Sid": "ReadWrite",
                "Effect": "Allow",
                "Action": RW,
                "Resource": ["arn:aws-cn:s3:::demo-jupyter-notebooks/home/ana/*"],
            },
            {
                "Sid": "Read",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": ["arn:aws-cn:s3:::data-lake/raw/*"],
            },
            NOT_S3,
        ],
    }


def test_covered_and_duplicate_locations_are_merged():
    locations = [
        S3Location("b1", "datasets/", "read-write"),
        S3Location("b1", "datasets/curated/", "read"),  # covered by the read-write parent
        S3Location("b1", "datasets/", "read"),  # same prefix, less access
        S3Location("b1", "datasets/", "read-write"),  # duplicate
        S3Location("b1", "reports/", "read"),
        S3Location("b1", "reports/2026/", "read-write"),  # needs more than its read-only parent: kept
    ]
    document = build_session_policy(S3Location("b1", "home/ana/", "read-write"), locations)
    assert document["Statement"][0]["Condition"]["StringLike"]["s3:prefix"] == [
        "home/ana/*",
        "datasets/*",
        "reports/*",
        "reports/2026/*",
    ]
    assert document["Statement"][1]["Resource"] == [
        "arn:aws:s3:::b1/home/ana/*",
        "arn:aws:s3:::b1/datasets/*",
        "arn:aws:s3:::b1/reports/2026/*",
    ]
    assert document["Statement"][2]["Resource"] == ["arn:aws:s3:::b1/reports/*"]


def test_packed_form_has_no_whitespace_and_is_what_is_measured():
    text = packed_session_policy("ana", "arn:aws:iam::123456789012:role/jupyterhub-analyst", HOME, ANALYSTS)
    assert text == pack(build_session_policy(HOME, ANALYSTS))
    assert " " not in text and "\n" not in text
    assert json.loads(text) == build_session_policy(HOME, ANALYSTS)
    assert len(text) == 751


def test_over_the_limit_is_refused_with_person_role_and_size_before_any_call():
    many = [S3Location("demo-jupyter-notebooks", f"shared/team-{i:03d}/", "read") for i in range(40)]
    with pytest.raises(SessionPolicyTooLarge) as raised:
        packed_session_policy("ana", "arn:aws:iam::123456789012:role/jupyterhub-analyst", HOME, many)
    size = len(pack(build_session_policy(HOME, many)))
    assert size > MAX_PACKED_SESSION_POLICY_CHARS
    assert str(raised.value) == (
        f"The session policy for ana on role arn:aws:iam::123456789012:role/jupyterhub-analyst is {size} characters, "
        "over STS's 2048-character limit: the access group lists too many S3 locations. Fix: merge the group's "
        "prefixes in the access policy file (a common parent prefix covers them all)."
    )


def test_demo_policy_fits_for_the_longest_username():
    from authenticator.access_policy import load_access_policy

    policy = load_access_policy("hub/demo/access-policy.yaml")
    name = "a" * 48
    for group in policy.access_groups:
        packed_session_policy(name, group.role_arn, policy.deployment.home_location(name), group.s3)
