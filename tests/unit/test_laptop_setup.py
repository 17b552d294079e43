"""What the page "Use AWS from your laptop" tells a person to put on their laptop, against literal values."""

import pytest

from authenticator.access_policy import load_access_policy
from hub.laptop.page import lifetime_days, usable_roles
from hub.laptop.setup import LaptopSetup, SetupError, checked_home, laptop_setup

pytestmark = pytest.mark.unit

BROKER = "https://hub.example.com/services/aws-credentials/"


def test_the_profile_and_commands_for_macos_and_linux():
    assert laptop_setup(
        home="/Users/sam", profile_prefix="acme-hub", access_group="analysts", broker_url=BROKER, region="eu-west-1"
    ) == LaptopSetup(
        profile="acme-hub-analysts",
        helper_path="/Users/sam/.aws/jupyterhub/aws_credential_process.py",
        token_path="/Users/sam/.aws/jupyterhub/acme-hub-analysts.token",
        config_text=(
            "[profile acme-hub-analysts]\n"
            "credential_process = python3 /Users/sam/.aws/jupyterhub/aws_credential_process.py "
            "--broker-url https://hub.example.com/services/aws-credentials/ "
            "--token-file /Users/sam/.aws/jupyterhub/acme-hub-analysts.token\n"
            "region = eu-west-1\n"
        ),
        config_file="/Users/sam/.aws/config",
        store_command="python3 /Users/sam/.aws/jupyterhub/aws_credential_process.py store-token "
        "--token-file /Users/sam/.aws/jupyterhub/acme-hub-analysts.token",
        check_command="aws sts get-caller-identity --profile acme-hub-analysts",
    )


def test_the_profile_and_commands_for_windows_quote_a_home_with_a_space():
    setup = laptop_setup(
        home="C:\\Users\\Sam Lee\\",
        profile_prefix="jupyterhub",
        access_group="data-engineers",
        broker_url=BROKER,
        region="us-east-1",
    )
    helper = '"C:\\Users\\Sam Lee\\.aws\\jupyterhub\\aws_credential_process.py"'
    token = '"C:\\Users\\Sam Lee\\.aws\\jupyterhub\\jupyterhub-data-engineers.token"'
    assert setup.config_text == (
        "[profile jupyterhub-data-engineers]\n"
        f"credential_process = python {helper} --broker-url {BROKER} --token-file {token}\n"
        "region = us-east-1\n"
    )
    assert setup.store_command == f"python {helper} store-token --token-file {token}"
    assert setup.config_file == "C:\\Users\\Sam Lee\\.aws\\config"


def test_a_posix_home_with_a_space_is_in_double_quotes_as_the_aws_cli_asks_on_every_system():
    setup = laptop_setup(home="/home/sam lee", profile_prefix="h", access_group="a", broker_url=BROKER, region="r")
    assert setup.store_command == (
        'python3 "/home/sam lee/.aws/jupyterhub/aws_credential_process.py" store-token '
        '--token-file "/home/sam lee/.aws/jupyterhub/h-a.token"'
    )


@pytest.mark.parametrize(
    ("typed", "home"),
    [(" /Users/sam/ ", "/Users/sam"), ("C:\\Users\\sam\\", "C:\\Users\\sam"), ("c:/Users/sam", "c:/Users/sam")],
)
def test_a_home_folder_is_a_full_path(typed, home):
    assert checked_home(typed) == home


@pytest.mark.parametrize(
    "typed", ["", "~", "~/", "Users/sam", "$HOME", "%USERPROFILE%", '"/Users/sam"', "/a\nb", "/Users/josé", "/" * 202]
)
def test_anything_else_is_refused_saying_what_to_give(typed):
    with pytest.raises(SetupError) as refused:
        checked_home(typed)
    assert str(refused.value) == (
        "Give your laptop's home folder as a full path, for example /Users/sam (macOS), /home/sam (Linux) or "
        "C:\\Users\\sam (Windows), of letters, digits, spaces and - _ . (what the AWS tools accept there)."
    )


@pytest.mark.parametrize("typed", ["0", "31", "-1", "seven", "", "1.5"])
def test_a_lifetime_outside_one_to_the_maximum_is_refused(typed):
    with pytest.raises(SetupError) as refused:
        lifetime_days(typed, 30)
    assert str(refused.value) == "Choose how many days the token lives: a whole number from 1 to 30."


def test_only_eligible_roles_whose_group_allows_laptops_are_offered():
    policy = load_access_policy("hub/demo/access-policy.yaml")
    analysts, engineers = policy.group("analysts"), policy.group("data-engineers")
    role = {"access_group": "analysts", "display_name": "Analysts", "role_arn": analysts.role_arn}
    stale = {"access_group": "data-engineers", "display_name": "x", "role_arn": "arn:aws:iam::1:role/other"}
    assert usable_roles({"eligible_roles": [role, stale]}, policy) == ([role], [])
    assert engineers.laptop_access and usable_roles({}, policy) == ([], [])
