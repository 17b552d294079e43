"""docs/configuration.md is generated from the traits: it must say what the code says."""

import subprocess
import sys

import pytest

from tests.fixtures.servers import REPO

pytestmark = pytest.mark.unit


def test_the_configuration_reference_matches_the_traits():
    result = subprocess.run(
        [sys.executable, str(REPO / "docs" / "make_configuration.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_setting_the_hub_config_files_and_helm_values_use_is_documented():
    text = (REPO / "docs" / "configuration.md").read_text()
    for setting in (
        "EntraIDOAuthenticator.tenant_id",
        "EntraIDOAuthenticator.client_id",
        "EntraIDOAuthenticator.oauth_callback_url",
        "AccessPolicyFile.path",
        "BrokeredAWSMixin.broker_url_for_servers",
    ):
        assert f"### `{setting}`" in text, setting
