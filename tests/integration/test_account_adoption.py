"""EntraIDOAuthenticator.adopt_accounts: the explicit way to give an account bound to no Entra identity (made by
hand, kept from the stock AzureAdOAuthenticator, or whose auth_state could not be decrypted) to one person, keeping
its name, servers and S3 home (issue 11, section 2). A hub of its own, configured as a migrating site would be."""

import pytest

from entra_emulator.directory import default_oid
from tests.fixtures.jupyterhub import EntraSignIn, sign_in_through_entra, start_entra_hub, stop_hub

pytestmark = pytest.mark.integration

ARN = "arn:aws:iam::123456789012:role/"
KEPT = "sam.smith"  # the account's name from before (the stock authenticator, or made by hand)


@pytest.fixture(scope="module")
def migrating_hub(entra_emulator, hub_moto, tmp_path_factory):
    entra_emulator.reset()
    sam = default_oid(entra_emulator.tenant_id, "sam@contoso.example")  # the emulator's object id for sam
    hub = start_entra_hub(
        entra_emulator,
        hub_moto,
        tmp_path_factory.mktemp("migrating-hub"),
        extra_env={"HUB_TEST_ADOPT_ACCOUNTS": f'{{"{KEPT}": "{sam}"}}'},
    )
    for name in (KEPT, "ana"):  # accounts from before: no auth_state, bound to no one
        assert hub.api_request("POST", f"/users/{name}").status_code == 201
    yield hub, sam
    stop_hub(hub)


def test_the_person_named_in_adopt_accounts_signs_in_to_that_account_and_it_is_bound(migrating_hub, entra_emulator):
    hub, sam = migrating_hub
    sign_in_through_entra(hub, entra_emulator, "sam@contoso.example")
    state = hub.user(KEPT)["auth_state"]
    assert state["entra"]["oid"] == sam
    assert [r["role_arn"] for r in state["eligible_roles"]] == [
        ARN + "jupyterhub-analyst",
        ARN + "jupyterhub-data-engineer",
    ]
    assert hub.api_request("GET", "/users/sam").status_code == 404  # no new, empty account
    assert f"Sign-in of {KEPT} adopts the account for Entra object id {sam}" in hub.log()
    # Bound from now on: the next sign-in is an ordinary one.
    sign_in_through_entra(hub, entra_emulator, "sam@contoso.example")
    assert hub.user(KEPT)["auth_state"]["entra"]["oid"] == sam


def test_an_account_from_before_that_is_not_adopted_stays_closed(migrating_hub, entra_emulator):
    hub, _ = migrating_hub
    response = EntraSignIn(hub, entra_emulator, "ana@contoso.example").finish()
    assert response.status_code == 403
    ana = default_oid(entra_emulator.tenant_id, "ana@contoso.example")
    assert (
        "Sign-in refused: the hub account &#39;ana&#39; is not bound to an Entra ID identity yet, so it is not given "
        "to anyone automatically. Ask a hub administrator to adopt it for you: EntraIDOAuthenticator.adopt_accounts "
        f"= {{&#39;ana&#39;: &#39;{ana}&#39;}} in the hub config (your Entra object id), or to delete the account if "
        "it is not yours."
    ) in response.text
    assert hub.user("ana")["auth_state"] is None
