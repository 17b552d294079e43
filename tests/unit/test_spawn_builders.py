"""The spawn hook's pure builders: role choice, options form, AWS config, server environment."""

import dataclasses

import pytest

from authenticator.access_policy import load_access_policy
from hub.spawn import (
    RoleChoiceError,
    aws_config_text,
    options_form_html,
    resolve_role,
    s3_endpoint_url,
    server_environment,
)

pytestmark = pytest.mark.unit

POLICY = load_access_policy("hub/demo/access-policy.yaml")
ANALYST = {"access_group": "analysts", "display_name": "Analysts", "role_arn": POLICY.group("analysts").role_arn}
ENGINEER = {
    "access_group": "data-engineers",
    "display_name": "Data <Engineers>",
    "role_arn": POLICY.group("data-engineers").role_arn,
}


def test_one_role_no_form():
    assert options_form_html([ANALYST], None) == ""
    assert options_form_html([], None) == ""


def test_several_roles_form_preselects_last_choice_and_escapes():
    assert options_form_html([ANALYST, ENGINEER], "data-engineers") == (
        '<label for="aws-role">AWS role for this server</label>\n'
        '<select class="form-select" id="aws-role" name="aws_access_group">\n'
        '  <option value="analysts">Analysts</option>\n'
        '  <option value="data-engineers" selected>Data &lt;Engineers&gt;</option>\n'
        "</select>\n"
        '<p class="help-block">Your notebooks stay in your own S3 folder whichever role you choose; the role decides '
        "which shared data the server can reach.</p>"
    )
    # An old choice no longer eligible: the first role is pre-selected.
    assert '<option value="analysts" selected>' in options_form_html([ANALYST, ENGINEER], "platform-admins")


def test_resolve_role():
    assert resolve_role([ANALYST], {}) == ANALYST
    assert resolve_role([ANALYST, ENGINEER], {"aws_access_group": "data-engineers"}) == ENGINEER


@pytest.mark.parametrize(
    ("choices", "options", "message"),
    [
        (
            [ANALYST, ENGINEER],
            {"aws_access_group": "platform-admins"},
            "You may not use the AWS role 'platform-admins': it is not one of yours. Choose one of: Analysts, "
            "Data <Engineers>.",
        ),
        ([ANALYST], {"aws_access_group": "no-such-group"}, None),
        ([ANALYST, ENGINEER], {}, "Choose an AWS role for this server: you may use Analysts, Data <Engineers>."),
        (
            [],
            {},
            "You are not in any Entra ID group that grants an AWS role, so no server can be started for you. Ask to "
            "be added to one, then sign in again.",
        ),
    ],
)
def test_resolve_role_refusals(choices, options, message):
    with pytest.raises(RoleChoiceError) as raised:
        resolve_role(choices, options)
    assert raised.value.status_code == 403
    if message:
        assert raised.value.jupyterhub_message == message


def test_aws_config_text():
    assert aws_config_text("python3 -I /etc/jupyter/aws_credential_process.py", "eu-west-1") == (
        "[default]\ncredential_process = python3 -I /etc/jupyter/aws_credential_process.py\nregion = eu-west-1\n"
    )


def test_server_environment_local_stack():
    env = server_environment(
        username="ana",
        role=ANALYST,
        policy=POLICY,
        broker_url="http://127.0.0.1:8181/services/aws-credentials/",
        aws_config_file="/srv/aws/config",
        endpoint_url="http://127.0.0.1:5000",
        user_server_config_dir="/repo/hub/user-server",
    )
    assert env == {
        "AWS_CONFIG_FILE": "/srv/aws/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_SDK_LOAD_CONFIG": "1",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "JUPYTERHUB_AWS_BROKER_URL": "http://127.0.0.1:8181/services/aws-credentials/",
        "JUPYTERHUB_AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/jupyterhub-analyst",
        "JUPYTERHUB_AWS_ACCESS_GROUP": "analysts",
        "S3CONTENTS_BUCKET": "demo-jupyter-notebooks",
        "S3CONTENTS_PREFIX": "home/ana",
        "S3CONTENTS_REGION": "us-east-1",
        "S3CONTENTS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "JUPYTER_CONFIG_PATH": "/repo/hub/user-server",
    }


def test_server_environment_aws_has_no_endpoint_override_and_no_keys():
    env = server_environment(
        username="Jöhn Smith",
        role=ANALYST,
        policy=POLICY,
        broker_url="http://proxy-public/services/aws-credentials/",
        aws_config_file="/etc/jupyter/aws-config",
    )
    assert "AWS_ENDPOINT_URL" not in env and "JUPYTER_CONFIG_PATH" not in env
    assert env["S3CONTENTS_ENDPOINT_URL"] == "https://s3.us-east-1.amazonaws.com"
    assert env["S3CONTENTS_PREFIX"] == "home/j-hn-smith--55bdb458"
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)


@pytest.mark.parametrize(
    ("partition", "region", "url"),
    [
        ("aws", "eu-west-1", "https://s3.eu-west-1.amazonaws.com"),
        ("aws-cn", "cn-north-1", "https://s3.cn-north-1.amazonaws.com.cn"),
        ("aws-us-gov", "us-gov-west-1", "https://s3.us-gov-west-1.amazonaws.com"),
    ],
)
def test_s3_endpoint_follows_the_partition(partition, region, url):
    assert s3_endpoint_url(region, partition) == url
    deployment = dataclasses.replace(POLICY.deployment, aws_partition=partition, aws_region=region)
    policy = dataclasses.replace(POLICY, deployment=deployment)
    env = server_environment(
        username="ana", role=ANALYST, policy=policy, broker_url="http://b/", aws_config_file="/etc/aws-config"
    )
    assert env["S3CONTENTS_ENDPOINT_URL"] == url and env["AWS_REGION"] == region
