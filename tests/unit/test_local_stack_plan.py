"""The local stack's pure builders: settings and their refusals, the Terraform variables, who can sign in."""

import re
from pathlib import Path

import pytest

from authenticator.access_policy import load_access_policy
from entra_emulator.directory import load_directory
from hub.local_stack import plan
from hub.local_stack.plan import LocalStackError

pytestmark = pytest.mark.unit

POLICY = load_access_policy(plan.DEMO_POLICY)
EXAMPLE = plan.REPO / "terraform" / "examples" / "complete"


def test_defaults_are_jupyterhubs_usual_ports_and_a_state_folder_in_the_checkout():
    settings = plan.settings_from_env({})
    assert settings.ports == {
        "hub": 8000,
        "entra": 8443,
        "moto": 5000,
        "hub_api": 8081,
        "proxy_api": 8001,
        "broker": 8181,
        "airflow": 8280,
    }
    assert settings.hub_url == "http://127.0.0.1:8000"
    assert settings.callback_url == "http://127.0.0.1:8000/hub/oauth_callback"
    assert settings.state_dir == plan.REPO / ".local-stack"
    assert (settings.password, settings.terraform, settings.tf_plugin_dir) == (None, "terraform", "")


def test_settings_from_the_environment():
    env = {"LOCAL_STACK_HUB_PORT": "18000", "LOCAL_STACK_DIR": "/tmp/x", "LOCAL_STACK_DEMO_PASSWORD": "long-enough"}
    settings = plan.settings_from_env({**env, "TF_PLUGIN_DIR": "/opt/tf-plugins"})
    assert settings.ports["hub"] == 18000 and settings.state_dir == Path("/tmp/x")
    assert settings.password == "long-enough" and settings.tf_plugin_dir == "/opt/tf-plugins"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"LOCAL_STACK_HUB_PORT": "eighty"},
            "LOCAL_STACK_HUB_PORT='eighty' is not a port number (1-65535); unset it to use 8000",
        ),
        (
            {"LOCAL_STACK_MOTO_PORT": "70000"},
            "LOCAL_STACK_MOTO_PORT='70000' is not a port number (1-65535); unset it to use 5000",
        ),
        (
            {"LOCAL_STACK_MOTO_PORT": "8000"},
            "LOCAL_STACK_HUB_PORT, LOCAL_STACK_MOTO_PORT all use port 8000: give each server its own port",
        ),
        (
            {"LOCAL_STACK_DEMO_PASSWORD": "short"},
            "LOCAL_STACK_DEMO_PASSWORD must be at least 8 characters (or unset: one is made up)",
        ),
    ],
)
def test_bad_settings_are_refused_with_the_variable_and_the_fix(env, message):
    with pytest.raises(LocalStackError) as raised:
        plan.settings_from_env(env)
    assert str(raised.value) == message


def test_secrets_are_new_every_time_and_never_shown_by_repr():
    first, second = plan.new_secrets(), plan.new_secrets()
    assert set(first.values()).isdisjoint(second.values())
    assert repr(first) == "Secrets(<redacted>)"
    assert plan.new_secrets("given-password").password == "given-password"


def test_terraform_gets_only_variables_the_example_declares():
    declared = set(re.findall(r'^variable "([a-z_]+)"', (EXAMPLE / "variables.tf").read_text(), re.MULTILINE))
    variables = plan.terraform_variables(plan.settings_from_env({"LOCAL_STACK_MOTO_PORT": "5999"}), POLICY)
    assert set(variables) <= declared
    assert variables["aws_endpoints"] == {
        "iam": "http://127.0.0.1:5999",
        "sts": "http://127.0.0.1:5999",
        "s3": "http://127.0.0.1:5999",
    }
    assert variables["access_policy_file"] == str(plan.DEMO_POLICY)
    assert variables["notebook_bucket_deny_insecure_transport"] is False


def test_no_server_inherits_the_launchers_identity_or_ca():
    outside = {"PATH": "/usr/bin", "AWS_PROFILE": "prod", "REQUESTS_CA_BUNDLE": "/x.pem", "OAUTH_CLIENT_SECRET": "s"}
    the = plan.new_secrets("password-1")
    for env in (plan.moto_environment(outside), plan.emulator_environment(outside, the)):
        assert "AWS_PROFILE" not in env and "REQUESTS_CA_BUNDLE" not in env and "OAUTH_CLIENT_SECRET" not in env
    terraform = plan.terraform_environment(outside, the)
    assert terraform["AWS_ACCESS_KEY_ID"] == the.aws_access_key_id and "AWS_PROFILE" not in terraform


def test_each_demo_person_is_told_what_they_should_see():
    people = plan.demo_people(load_directory(plan.DEMO_DIRECTORY), POLICY)
    assert [(p.sign_in, p.hub_name, p.sees) for p in people] == [
        ("ana@contoso.example", "ana", "gets a server with the role Analysts at once"),
        (
            "sam@contoso.example",
            "sam",
            "picks a role (Analysts or Data Engineers) in a form before the server starts",
        ),
        ("alex@contoso.example", "alex", "is a hub admin (Platform Admins): the Admin page, and anyone's access page"),
        (
            "noah@contoso.example",
            "noah",
            "is refused: a page says they are in no group that grants access, and names the groups that do",
        ),
        (
            "olga@contoso.example",
            "olga",
            "gets a server with the role Data Engineers at once; in 251 groups, so the sign-in token has no group "
            "list and the hub reads them from Microsoft Graph",
        ),
        (
            "gus@fabrikam.example",
            "gus_fabrikam.example-guest",
            "gets a server with the role Analysts at once; a guest from another organization",
        ),
    ]


def test_the_banner_names_the_url_the_password_and_everyone():
    settings = plan.settings_from_env({})
    people = plan.demo_people(load_directory(plan.DEMO_DIRECTORY), POLICY)
    text = plan.banner(settings, "the-password", people, POLICY, "airflow-password")
    assert "open http://127.0.0.1:8000 in a browser" in text
    assert "Everyone's password for this run: the-password" in text
    assert all(f"  {p.sign_in}  ({p.name}; hub name {p.hub_name})\n      {p.sees}" in text for p in people)
    assert "http://127.0.0.1:8000/services/aws-credentials/access" in text
    assert '"Scheduled runs" too: http://127.0.0.1:8000/services/aws-credentials/jobs' in text
    assert "Airflow, whose UI (for admins) is at http://127.0.0.1:8280 (user admin, password airflow-password)" in text
