"""The Entra ID emulator, as a real server over HTTPS: it must behave like Entra ID and Graph where the hub and MSAL
look, refuse what Entra refuses (in Entra's format), and its test controls must do exactly what they say.
"""

import base64
import hashlib
import hmac
import html
import os
import re
import signal
import subprocess
import sys
import time
from urllib.parse import parse_qsl, urlsplit

import jwt
import msal
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from authenticator.oidc import Expectations, IdTokenError, parse_jwks, verify_id_token
from tests.fixtures.emulator import DEMO_DIRECTORY, pkce_pair, start_entra_emulator
from tests.fixtures.servers import REPO, free_port, stop

pytestmark = pytest.mark.integration

ANALYSTS = "253daff1-76ee-47b8-9495-b4b707cbf668"
DATA_ENGINEERS = "d088b0d7-c5c7-4091-a07c-643a7be0ab53"
PLATFORM_ADMINS = "2a95bd00-d53d-4f76-87f4-0e8a179a4fd6"
SALES = "b40d5c06-f477-42fc-9c90-d4e455f472d7"
GUEST = "gus_fabrikam.example#EXT#@contoso.example"
GUEST_ADDRESS = "gus@fabrikam.example"  # what the guest signs in with, and their preferred_username
PROJECT_FALCON = "9306ac88-e3c4-44f6-b39e-56336c2ebbf2"  # a Microsoft 365 group


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict:
    return jwt.get_unverified_header(token)


def published_keys(emulator) -> dict:
    return parse_jwks(emulator.http.get(emulator.jwks_url, timeout=10).json())


def verified(emulator, id_token: str, nonce: str | None) -> dict:
    """The id_token's claims as the hub's own verifier sees them (raises IdTokenError when it refuses)."""
    expect = Expectations(emulator.issuer, emulator.client_id, emulator.tenant_id, 120, nonce)
    return verify_id_token(id_token, published_keys(emulator), expect)


def tokens_for(emulator, username: str, **overrides) -> tuple[dict, str]:
    """Sign ``username`` in and redeem the code: the token response and the nonce sent."""
    sign_in = emulator.sign_in(username, **overrides)
    response = emulator.redeem(sign_in)
    assert response.status_code == 200, response.text
    return response.json(), sign_in.nonce


def assert_aadsts(response: requests.Response, status: int, error: str, code: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert body["error_codes"] == [code]
    assert {"trace_id", "correlation_id", "timestamp"} <= set(body)
    assert "access_token" not in body and "id_token" not in body
    return body


def graph_get(emulator, path: str, token: str | None, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return emulator.http.get(f"{emulator.graph_url}{path}", headers=headers, params=params, timeout=10)


def oid_of(emulator, username: str) -> str:
    response = graph_get(emulator, f"/v1.0/users/{requests.utils.quote(username, safe='')}", emulator.app_token())
    assert response.status_code == 200, response.text
    return response.json()["id"]


# ---- discovery and keys ---------------------------------------------------------------------------------------------


def test_discovery_document_points_at_the_tenants_v2_endpoints(entra_emulator):
    response = entra_emulator.http.get(entra_emulator.discovery_url, timeout=10)
    assert response.status_code == 200
    doc = response.json()
    base = f"{entra_emulator.url}/{entra_emulator.tenant_id}"
    assert doc["issuer"] == f"{base}/v2.0" == entra_emulator.issuer
    assert doc["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
    assert doc["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert doc["jwks_uri"] == f"{base}/discovery/v2.0/keys"
    assert doc["end_session_endpoint"] == f"{base}/oauth2/v2.0/logout"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert {"client_secret_post", "client_secret_basic"} <= set(doc["token_endpoint_auth_methods_supported"])


def test_jwks_publishes_one_rsa_signing_key_with_a_kid(entra_emulator_reset):
    jwks = entra_emulator_reset.http.get(entra_emulator_reset.jwks_url, timeout=10).json()
    [key] = jwks["keys"]
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["kid"] and key["x5c"]
    assert key["issuer"] == entra_emulator_reset.issuer
    public_key = jwt.PyJWK(key).key
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048


def test_server_certificate_is_trusted_only_through_the_generated_ca(entra_emulator):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(entra_emulator.discovery_url, timeout=10)
    assert requests.get(entra_emulator.discovery_url, verify=entra_emulator.ca_path, timeout=10).status_code == 200
    localhost = entra_emulator.discovery_url.replace("127.0.0.1", "localhost")
    assert requests.get(localhost, verify=entra_emulator.ca_path, timeout=10).status_code == 200


def test_unknown_tenant_is_refused_as_entra_does(entra_emulator):
    other = "11111111-2222-4333-8444-555555555555"
    response = entra_emulator.http.get(f"{entra_emulator.url}/{other}/v2.0/.well-known/openid-configuration")
    body = assert_aadsts(response, 400, "invalid_request", 90002)
    assert other in body["error_description"]


# ---- authorize: the login form -------------------------------------------------------------------------------------


def test_authorize_shows_a_login_form(entra_emulator):
    _, challenge = pkce_pair()
    params = entra_emulator.authorize_params(code_challenge=challenge, login_hint="ana@contoso.example")
    response = entra_emulator.http.get(entra_emulator.authorize_url, params=params, allow_redirects=False)
    assert response.status_code == 200
    assert "<title>Sign in to Contoso (emulated Entra ID)</title>" in response.text
    assert re.search(r'<input type="text" id="username" name="username" value="ana@contoso.example"', response.text)
    assert 'name="password"' in response.text and 'type="submit"' in response.text


def test_sign_in_redirects_with_code_and_state(entra_emulator):
    sign_in = entra_emulator.sign_in("ana@contoso.example")
    assert sign_in.code and sign_in.state


def test_wrong_password_shows_the_form_again_without_redirecting(entra_emulator):
    _, challenge = pkce_pair()
    params = entra_emulator.authorize_params(code_challenge=challenge)
    form = entra_emulator.http.get(entra_emulator.authorize_url, params=params, allow_redirects=False)
    answer = entra_emulator.submit_login(form.text, "ana@contoso.example", "not-the-password")
    assert answer.status_code == 200
    assert "Location" not in answer.headers
    assert "Your account or password is incorrect." in answer.text
    assert 'name="password"' in answer.text and 'value="ana@contoso.example"' in answer.text
    # The same sign-in can still be completed with the right password.
    retry = entra_emulator.submit_login(answer.text, "ana@contoso.example", entra_emulator.password)
    assert retry.status_code == 302 and "code=" in retry.headers["Location"]


def test_unknown_person_gets_the_same_message_as_a_wrong_password(entra_emulator):
    _, challenge = pkce_pair()
    params = entra_emulator.authorize_params(code_challenge=challenge)
    form = entra_emulator.http.get(entra_emulator.authorize_url, params=params, allow_redirects=False)
    answer = entra_emulator.submit_login(form.text, "nobody@contoso.example", entra_emulator.password)
    assert answer.status_code == 200 and "Location" not in answer.headers
    assert "Your account or password is incorrect." in answer.text


@pytest.mark.parametrize(
    ("overrides", "code", "shown"),
    [
        ({"client_id": "00000000-0000-4000-8000-000000000000"}, 700016, "was not found in the directory"),
        ({"redirect_uri": "https://attacker.example/callback"}, 50011, "does not match the redirect URIs"),
        ({"client_id": None}, 900144, "'client_id'"),
    ],
    ids=["unknown-client", "unregistered-redirect-uri", "no-client-id"],
)
def test_authorize_refuses_bad_clients_on_a_page_never_by_redirect(entra_emulator, overrides, code, shown):
    _, challenge = pkce_pair()
    params = entra_emulator.authorize_params(code_challenge=challenge, **overrides)
    response = entra_emulator.http.get(entra_emulator.authorize_url, params=params, allow_redirects=False)
    assert response.status_code == 400
    assert "Location" not in response.headers
    page = html.unescape(response.text)
    assert f"AADSTS{code}" in page and shown in page
    assert 'name="password"' not in response.text


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"code_challenge": None}, "invalid_request", 900144),
        ({"code_challenge_method": "plain"}, "invalid_request", 50149),
        ({"code_challenge_method": None}, "invalid_request", 50149),
        ({"code_challenge": "too-short"}, "invalid_request", 501491),
        ({"response_type": "token"}, "unsupported_response_type", 700054),
        ({"scope": None}, "invalid_request", 900144),
    ],
    ids=["no-pkce", "plain-pkce", "pkce-method-defaults-to-plain", "malformed-challenge", "implicit", "no-scope"],
)
def test_authorize_sends_request_errors_back_to_the_client(entra_emulator, overrides, error, code):
    _, challenge = pkce_pair()
    params = entra_emulator.authorize_params(code_challenge=challenge, state="st-123")
    params.update({k: v for k, v in overrides.items() if v is not None})
    for name in [k for k, v in overrides.items() if v is None]:
        params.pop(name)
    response = entra_emulator.http.get(entra_emulator.authorize_url, params=params, allow_redirects=False)
    assert response.status_code == 302
    query = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
    assert response.headers["Location"].startswith(entra_emulator.redirect_uri + "?")
    assert query["error"] == error and query["error_description"].startswith(f"AADSTS{code}: ")
    assert query["state"] == "st-123" and "code" not in query


# ---- token: authorization_code ------------------------------------------------------------------------------------


def test_code_redemption_returns_entra_shaped_tokens(entra_emulator):
    tokens, nonce = tokens_for(entra_emulator, "ana@contoso.example")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "openid profile offline_access"
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens)
    claims = verified(entra_emulator, tokens["id_token"], nonce)
    assert claims["ver"] == "2.0"
    assert claims["aud"] == entra_emulator.client_id
    assert claims["tid"] == entra_emulator.tenant_id
    assert claims["preferred_username"] == "ana@contoso.example"
    assert claims["name"] == "Ana Analyst"
    assert claims["nonce"] == nonce
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert claims["sub"] and claims["sub"] != claims["oid"]
    assert header_of(tokens["id_token"]) == {
        "alg": "RS256",
        "kid": next(iter(published_keys(entra_emulator))),
        "typ": "JWT",
    }


def test_oid_is_stable_and_matches_graph(entra_emulator):
    first, _ = tokens_for(entra_emulator, "sam@contoso.example")
    second, _ = tokens_for(entra_emulator, "SAM@contoso.example")
    oid = claims_of(first["id_token"])["oid"]
    assert claims_of(second["id_token"])["oid"] == oid == oid_of(entra_emulator, "sam@contoso.example")


def test_no_refresh_token_without_offline_access(entra_emulator):
    tokens, _ = tokens_for(entra_emulator, "ana@contoso.example", scope="openid profile")
    assert "refresh_token" not in tokens and "id_token" in tokens


def test_client_secret_by_http_basic_works_too(entra_emulator):
    sign_in = entra_emulator.sign_in("ana@contoso.example")
    response = entra_emulator.http.post(
        entra_emulator.token_url,
        auth=(entra_emulator.client_id, entra_emulator.client_secret),
        data={
            "grant_type": "authorization_code",
            "code": sign_in.code,
            "redirect_uri": sign_in.redirect_uri,
            "code_verifier": sign_in.code_verifier,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert "id_token" in response.json()


def test_wrong_code_verifier_is_refused_and_uses_the_code_up(entra_emulator):
    sign_in = entra_emulator.sign_in("ana@contoso.example")
    other_verifier, _ = pkce_pair()
    assert_aadsts(entra_emulator.redeem(sign_in, code_verifier=other_verifier), 400, "invalid_grant", 501481)
    assert_aadsts(entra_emulator.redeem(sign_in), 400, "invalid_grant", 54005)


def test_missing_code_verifier_is_refused(entra_emulator):
    sign_in = entra_emulator.sign_in("ana@contoso.example")
    body = assert_aadsts(entra_emulator.redeem(sign_in, code_verifier=None), 400, "invalid_request", 900144)
    assert "'code_verifier'" in body["error_description"]


def test_replayed_code_is_refused(entra_emulator):
    sign_in = entra_emulator.sign_in("ana@contoso.example")
    assert entra_emulator.redeem(sign_in).status_code == 200
    body = assert_aadsts(entra_emulator.redeem(sign_in), 400, "invalid_grant", 54005)
    assert "Authorization code was already redeemed" in body["error_description"]


def test_redirect_uri_must_match_the_authorization_request(entra_emulator):
    entra_emulator.add_redirect_uri("https://hub.test/other/callback")
    sign_in = entra_emulator.sign_in("ana@contoso.example")
    response = entra_emulator.redeem(sign_in, redirect_uri="https://hub.test/other/callback")
    assert_aadsts(response, 400, "invalid_grant", 500112)


def test_unknown_code_is_refused(entra_emulator):
    sign_in = entra_emulator.sign_in("ana@contoso.example")
    sign_in.code = "made-up-code"
    assert_aadsts(entra_emulator.redeem(sign_in), 400, "invalid_grant", 9002313)


@pytest.mark.parametrize(
    ("overrides", "status", "error", "code"),
    [
        ({"client_secret": "wrong-secret"}, 401, "invalid_client", 7000215),
        ({"client_secret": None}, 401, "invalid_client", 7000218),
        ({"client_id": "00000000-0000-4000-8000-000000000000"}, 400, "unauthorized_client", 700016),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ],
    ids=["wrong-secret", "no-secret", "unknown-client", "password-grant"],
)
def test_token_endpoint_refuses_bad_clients(entra_emulator, overrides, status, error, code):
    sign_in = entra_emulator.sign_in("ana@contoso.example")
    body = assert_aadsts(entra_emulator.redeem(sign_in, **overrides), status, error, code)
    assert entra_emulator.client_secret not in body["error_description"]


def test_wrong_secret_by_http_basic_is_refused(entra_emulator):
    response = entra_emulator.http.post(
        entra_emulator.token_url,
        auth=(entra_emulator.client_id, "wrong-secret"),
        data={"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"},
        timeout=10,
    )
    assert_aadsts(response, 401, "invalid_client", 7000215)


# ---- token: refresh_token ---------------------------------------------------------------------------------------


ALL_SCOPES = "openid profile offline_access"


def refresh(emulator, refresh_token: str, scope: str | None = ALL_SCOPES) -> requests.Response:
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "scope": scope,
    }
    return emulator.http.post(emulator.token_url, data={k: v for k, v in data.items() if v}, timeout=10)


def test_refresh_gives_new_tokens_and_the_used_refresh_token_stays_valid(entra_emulator):
    # ref: https://learn.microsoft.com/entra/identity-platform/refresh-tokens ("doesn't revoke old refresh tokens")
    tokens, _ = tokens_for(entra_emulator, "ana@contoso.example")
    response = refresh(entra_emulator, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    refreshed = response.json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    claims = verified(entra_emulator, refreshed["id_token"], None)
    assert "nonce" not in claims and claims["oid"] == claims_of(tokens["id_token"])["oid"]
    assert refresh(entra_emulator, tokens["refresh_token"]).status_code == 200
    assert refresh(entra_emulator, refreshed["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    ("scope", "id_token"),
    [(ALL_SCOPES, True), ("openid", True), ("offline_access profile", False), (None, False)],
    ids=["all", "openid", "without-openid", "no-scope"],
)
def test_refresh_returns_an_id_token_only_when_openid_is_asked_for(entra_emulator, scope, id_token):
    # ref: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
    tokens, _ = tokens_for(entra_emulator, "ana@contoso.example")
    refreshed = refresh(entra_emulator, tokens["refresh_token"], scope=scope)
    assert refreshed.status_code == 200, refreshed.text
    assert ("id_token" in refreshed.json()) is id_token
    assert {"access_token", "refresh_token"} <= set(refreshed.json())


def test_refresh_cannot_ask_for_more_than_was_granted(entra_emulator):
    tokens, _ = tokens_for(entra_emulator, "ana@contoso.example", scope="openid offline_access")
    body = assert_aadsts(
        refresh(entra_emulator, tokens["refresh_token"], scope="openid profile"), 400, "invalid_grant", 65001
    )
    assert "'profile'" in body["error_description"]


def test_no_id_token_on_refresh_mode(entra_emulator_reset):
    tokens, _ = tokens_for(entra_emulator_reset, "ana@contoso.example")
    assert entra_emulator_reset.set_modes(id_token_on_refresh=False)["id_token_on_refresh"] is False
    refreshed = refresh(entra_emulator_reset, tokens["refresh_token"])
    assert refreshed.status_code == 200 and "id_token" not in refreshed.json()
    assert "refresh_token" in refreshed.json() and "access_token" in refreshed.json()
    # Sign-in itself still gives one; reset goes back to the documented behaviour.
    assert "id_token" in tokens_for(entra_emulator_reset, "ana@contoso.example")[0]
    entra_emulator_reset.reset()
    assert "id_token" in refresh(entra_emulator_reset, tokens["refresh_token"]).json()


def test_short_token_lifetimes_for_tests(entra_emulator_reset):
    entra_emulator_reset.set_modes(token_lifetime_seconds=30)
    tokens, _ = tokens_for(entra_emulator_reset, "ana@contoso.example")
    claims = claims_of(tokens["id_token"])
    assert tokens["expires_in"] == 30 and claims["exp"] - claims["iat"] == 30


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"id_token_on_refresh": "no"}, "id_token_on_refresh must be true or false"),
        ({"token_lifetime_seconds": 0}, "token_lifetime_seconds must be a whole number 1-86400"),
        ({"offline": True}, "unknown mode 'offline': use id_token_on_refresh, token_lifetime_seconds"),
    ],
)
def test_modes_control_refuses_bad_requests(entra_emulator_reset, body, message):
    response = entra_emulator_reset.http.post(f"{entra_emulator_reset.url}/_emulator/modes", json=body, timeout=10)
    assert response.status_code == 400 and response.json()["error_description"] == message


def test_a_renamed_person_keeps_their_object_id_and_refresh_tokens(entra_emulator_reset):
    tokens, _ = tokens_for(entra_emulator_reset, "ana@contoso.example")
    oid = claims_of(tokens["id_token"])["oid"]
    renamed = entra_emulator_reset.rename("ana@contoso.example", "ana.analyst@contoso.example")
    assert renamed == {"username": "ana.analyst@contoso.example", "oid": oid}
    claims = claims_of(refresh(entra_emulator_reset, tokens["refresh_token"]).json()["id_token"])
    assert (claims["oid"], claims["preferred_username"]) == (oid, "ana.analyst@contoso.example")
    again, _ = tokens_for(entra_emulator_reset, "ana.analyst@contoso.example")
    assert claims_of(again["id_token"])["oid"] == oid == oid_of(entra_emulator_reset, "ana.analyst@contoso.example")
    taken = entra_emulator_reset.http.post(
        f"{entra_emulator_reset.url}/_emulator/users/sam%40contoso.example/rename",
        json={"username": "ana.analyst@contoso.example"},
        timeout=10,
    )
    assert taken.status_code == 409


def test_unknown_refresh_token_is_refused(entra_emulator):
    assert_aadsts(refresh(entra_emulator, "not-a-refresh-token"), 400, "invalid_grant", 9002313)


def test_revoked_sessions_refuse_their_refresh_tokens(entra_emulator_reset):
    tokens, _ = tokens_for(entra_emulator_reset, "sam@contoso.example")
    assert entra_emulator_reset.revoke_sessions("sam@contoso.example")["revoked"] >= 1
    assert_aadsts(refresh(entra_emulator_reset, tokens["refresh_token"]), 400, "invalid_grant", 50173)


def test_refresh_reflects_live_membership_changes(entra_emulator_reset):
    tokens, _ = tokens_for(entra_emulator_reset, "sam@contoso.example")
    assert set(claims_of(tokens["id_token"])["groups"]) == {ANALYSTS, DATA_ENGINEERS}
    entra_emulator_reset.set_groups("sam@contoso.example", [ANALYSTS])
    refreshed = refresh(entra_emulator_reset, tokens["refresh_token"]).json()
    assert claims_of(refreshed["id_token"])["groups"] == [ANALYSTS]
    entra_emulator_reset.reset()
    again = refresh(entra_emulator_reset, refreshed["refresh_token"]).json()
    assert set(claims_of(again["id_token"])["groups"]) == {ANALYSTS, DATA_ENGINEERS}


def test_set_groups_refuses_unknown_groups_and_people(entra_emulator_reset):
    url = f"{entra_emulator_reset.url}/_emulator/users"
    unknown_group = entra_emulator_reset.http.post(
        f"{url}/ana%40contoso.example/groups", json={"groups": ["11111111-2222-4333-8444-555555555555"]}
    )
    assert unknown_group.status_code == 400 and "unknown group" in unknown_group.json()["error_description"]
    unknown_person = entra_emulator_reset.http.post(f"{url}/nobody%40contoso.example/groups", json={"groups": []})
    assert unknown_person.status_code == 404


# ---- groups in the id_token -------------------------------------------------------------------------------------


def test_groups_claim_lists_the_persons_groups(entra_emulator):
    tokens, _ = tokens_for(entra_emulator, "ana@contoso.example")
    claims = claims_of(tokens["id_token"])
    assert claims["groups"] == [ANALYSTS]
    assert "_claim_names" not in claims and "hasgroups" not in claims


@pytest.mark.parametrize(
    ("username", "groups"),
    [
        ("alex@contoso.example", [PLATFORM_ADMINS]),
        ("noah@contoso.example", [SALES]),
        (GUEST_ADDRESS, [ANALYSTS]),
    ],
)
def test_demo_people_have_their_groups(entra_emulator, username, groups):
    tokens, _ = tokens_for(entra_emulator, username)
    claims = claims_of(tokens["id_token"])
    assert claims["groups"] == groups and claims["preferred_username"] == username


def test_the_token_carries_what_group_membership_claims_says_and_graph_every_group(entra_emulator_reset):
    # ref: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-fed-group-claims
    # ref: https://learn.microsoft.com/graph/api/user-list-transitivememberof (all group types)
    emulator = entra_emulator_reset
    emulator.set_groups("sam@contoso.example", [ANALYSTS, PROJECT_FALCON])
    oid = oid_of(emulator, "sam@contoso.example")
    in_graph = graph_get(emulator, f"/v1.0/users/{oid}/transitiveMemberOf/microsoft.graph.group", emulator.app_token())
    assert {g["id"] for g in in_graph.json()["value"]} == {ANALYSTS, PROJECT_FALCON}
    falcon = next(g for g in in_graph.json()["value"] if g["id"] == PROJECT_FALCON)
    assert (falcon["securityEnabled"], falcon["mailEnabled"]) == (False, True)
    # The demo registration emits security groups: the Microsoft 365 group is in Graph, not in the token.
    assert claims_of(tokens_for(emulator, "sam@contoso.example")[0]["id_token"])["groups"] == [ANALYSTS]
    emulator.set_app_registration(group_membership_claims="All")
    assert claims_of(tokens_for(emulator, "sam@contoso.example")[0]["id_token"])["groups"] == [ANALYSTS, PROJECT_FALCON]
    emulator.set_app_registration(group_membership_claims="ApplicationGroup", assigned_groups=[PROJECT_FALCON])
    assert claims_of(tokens_for(emulator, "sam@contoso.example")[0]["id_token"])["groups"] == [PROJECT_FALCON]
    emulator.set_app_registration(group_membership_claims="None")
    claims = claims_of(tokens_for(emulator, "sam@contoso.example")[0]["id_token"])
    assert "groups" not in claims and "_claim_names" not in claims and "hasgroups" not in claims


def test_app_registration_control_refuses_bad_settings(entra_emulator_reset):
    url = f"{entra_emulator_reset.url}/_emulator/app-registration"
    response = entra_emulator_reset.http.post(url, json={"group_membership_claims": "Everything"}, timeout=10)
    assert response.status_code == 400
    assert "group_membership_claims: unknown value 'Everything'" in response.json()["error_description"]


# ---- guests ---------------------------------------------------------------------------------------------------------


def test_a_guest_signs_in_with_their_own_address_and_is_known_by_idp(entra_emulator_reset):
    # ref: https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference (preferred_username, idp)
    tokens, nonce = tokens_for(entra_emulator_reset, GUEST_ADDRESS)
    claims = verified(entra_emulator_reset, tokens["id_token"], nonce)
    assert claims["preferred_username"] == GUEST_ADDRESS == claims["email"]
    assert claims["idp"].startswith("https://sts.windows.net/") and claims["idp"] != claims["iss"]
    assert claims["tid"] == entra_emulator_reset.tenant_id and "#EXT#" not in tokens["id_token"]
    assert "upn" not in claims and "acct" not in claims
    member = claims_of(tokens_for(entra_emulator_reset, "ana@contoso.example")[0]["id_token"])
    assert "idp" not in member


def test_the_ext_upn_appears_only_in_the_optional_upn_claim_and_acct_marks_guests(entra_emulator_reset):
    # ref: https://learn.microsoft.com/entra/identity-platform/optional-claims-reference (acct, upn)
    optional = [{"name": "upn", "additional_properties": ["include_externally_authenticated_upn"]}, "acct"]
    entra_emulator_reset.set_app_registration(optional_claims=optional)
    guest = claims_of(tokens_for(entra_emulator_reset, GUEST_ADDRESS)[0]["id_token"])
    assert (guest["upn"], guest["acct"], guest["preferred_username"]) == (GUEST, 1, GUEST_ADDRESS)
    member = claims_of(tokens_for(entra_emulator_reset, "ana@contoso.example")[0]["id_token"])
    assert (member["upn"], member["acct"]) == ("ana@contoso.example", 0)


def test_overage_replaces_groups_with_a_claim_source(entra_emulator):
    tokens, _ = tokens_for(entra_emulator, "olga@contoso.example")
    claims = verified(entra_emulator, tokens["id_token"], claims_of(tokens["id_token"])["nonce"])
    assert "groups" not in claims and "hasgroups" not in claims
    assert claims["_claim_names"] == {"groups": "src1"}
    endpoint = f"https://graph.windows.net/{entra_emulator.tenant_id}/users/{claims['oid']}/getMemberObjects"
    assert claims["_claim_sources"] == {"src1": {"endpoint": endpoint}}


def test_overage_starts_above_200_groups(entra_emulator_reset):
    entra_emulator_reset.set_groups("olga@contoso.example", [], filler_groups=200)
    tokens, _ = tokens_for(entra_emulator_reset, "olga@contoso.example")
    assert len(claims_of(tokens["id_token"])["groups"]) == 200
    entra_emulator_reset.set_groups("olga@contoso.example", [DATA_ENGINEERS], filler_groups=200)
    tokens, _ = tokens_for(entra_emulator_reset, "olga@contoso.example")
    assert "groups" not in claims_of(tokens["id_token"])


# ---- client credentials and Microsoft Graph -------------------------------------------------------------------------


@pytest.fixture
def without_ca_bundle_variables(monkeypatch):
    """MSAL's ``verify=`` sets ``requests.Session.verify``, which requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
    override (psf/requests#3829): with either set, MSAL would not trust the emulator's CA."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.mark.usefixtures("without_ca_bundle_variables")
def test_msal_confidential_client_gets_an_app_token(entra_emulator):
    app = msal.ConfidentialClientApplication(
        entra_emulator.client_id,
        client_credential=entra_emulator.client_secret,
        authority=entra_emulator.authority,
        instance_discovery=False,
        verify=entra_emulator.ca_path,
    )
    result = app.acquire_token_for_client(scopes=[f"{entra_emulator.graph_url}/.default"])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    claims = claims_of(result["access_token"])
    assert claims["aud"] == entra_emulator.graph_url
    assert claims["appid"] == entra_emulator.client_id and claims["idtyp"] == "app"
    assert claims["tid"] == entra_emulator.tenant_id
    assert claims["roles"] == ["GroupMember.Read.All", "User.ReadBasic.All"]  # the demo directory's grant
    # The token works against the emulator's Graph.
    oid = oid_of(entra_emulator, "ana@contoso.example")
    response = graph_get(entra_emulator, f"/v1.0/users/{oid}/transitiveMemberOf", result["access_token"])
    assert response.status_code == 200


@pytest.mark.usefixtures("without_ca_bundle_variables")
def test_msal_with_a_wrong_secret_gets_entras_error(entra_emulator):
    app = msal.ConfidentialClientApplication(
        entra_emulator.client_id,
        client_credential="wrong-secret",
        authority=entra_emulator.authority,
        instance_discovery=False,
        verify=entra_emulator.ca_path,
    )
    result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]


@pytest.mark.parametrize(
    ("scope", "error", "code"),
    [
        ("https://graph.microsoft.com/User.Read", "invalid_scope", 1002012),
        ("api://someone-else/.default", "invalid_resource", 500011),
        ("", "invalid_request", 900144),
    ],
    ids=["not-default", "other-resource", "no-scope"],
)
def test_client_credentials_refuses_other_scopes(entra_emulator, scope, error, code):
    data = {"grant_type": "client_credentials", "client_id": entra_emulator.client_id}
    data.update({"client_secret": entra_emulator.client_secret, "scope": scope})
    assert_aadsts(entra_emulator.http.post(entra_emulator.token_url, data=data, timeout=10), 400, error, code)


def test_graph_pages_all_of_olgas_251_groups(entra_emulator):
    token = entra_emulator.app_token()
    oid = oid_of(entra_emulator, "olga@contoso.example")
    url = f"{entra_emulator.graph_url}/v1.0/users/{oid}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName"
    pages, groups = 0, []
    while url:
        response = entra_emulator.http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        groups += page["value"]
        url = page.get("@odata.nextLink")
        assert url is None or url.startswith(f"{entra_emulator.graph_url}/v1.0/users/{oid}/transitiveMemberOf/")
    assert pages == 3  # Graph's default page size is 100
    assert len(groups) == 251 == len({g["id"] for g in groups})
    assert {"@odata.type": "#microsoft.graph.group", "id": DATA_ENGINEERS, "displayName": "Data Engineers"} in groups
    assert all(set(g) == {"@odata.type", "id", "displayName"} for g in groups)


def test_graph_honours_top_up_to_999(entra_emulator):
    token = entra_emulator.app_token(f"{entra_emulator.graph_url}/.default")
    oid = oid_of(entra_emulator, "olga@contoso.example")
    path = f"/v1.0/users/{oid}/transitiveMemberOf"
    one_page = graph_get(entra_emulator, path, token, **{"$select": "id,displayName", "$top": "999"}).json()
    assert len(one_page["value"]) == 251 and "@odata.nextLink" not in one_page
    small = graph_get(entra_emulator, path, token, **{"$top": "250"}).json()
    assert len(small["value"]) == 250 and "@odata.nextLink" in small
    too_big = graph_get(entra_emulator, path, token, **{"$top": "1000"})
    assert too_big.status_code == 400 and too_big.json()["error"]["code"] == "Request_BadRequest"


def test_graph_user_and_unknown_user(entra_emulator_reset):
    entra_emulator = entra_emulator_reset
    token = entra_emulator.app_token()
    oid = oid_of(entra_emulator, GUEST)
    user = graph_get(entra_emulator, f"/v1.0/users/{oid}", token).json()
    assert user["userPrincipalName"] == GUEST and user["displayName"] == "Gus Guest" and user["mail"] == GUEST_ADDRESS
    assert user["userType"] is None  # User.ReadBasic.All reads the basic profile only
    entra_emulator.set_app_registration(graph_permissions=["User.Read.All"])
    full = graph_get(entra_emulator, f"/v1.0/users/{oid}", entra_emulator.app_token()).json()
    assert full["userType"] == "Guest"
    # Graph finds people by object id or UPN, not by a guest's own address.
    assert graph_get(entra_emulator, f"/v1.0/users/{requests.utils.quote(GUEST, safe='@')}", token).json()["id"] == oid
    assert graph_get(entra_emulator, f"/v1.0/users/{GUEST_ADDRESS}", token).status_code == 404
    missing = "11111111-2222-4333-8444-555555555555"
    for path in (f"/v1.0/users/{missing}", f"/v1.0/users/{missing}/transitiveMemberOf/microsoft.graph.group"):
        response = graph_get(entra_emulator, path, token)
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "Request_ResourceNotFound" and missing in error["message"]
        assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])


def forged_app_token(emulator, key, **claim_overrides) -> str:
    """An app token that looks right, signed with ``key`` under the emulator's published kid."""
    now = int(time.time())
    claims = {
        "aud": emulator.graph_url,
        "iss": f"https://sts.windows.net/{emulator.tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "tid": emulator.tenant_id,
        "appid": emulator.client_id,
        "idtyp": "app",
        "roles": ["GroupMember.Read.All"],
        **claim_overrides,
    }
    kid = next(iter(published_keys(emulator)))
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_graph_refuses_missing_and_forged_bearer_tokens(entra_emulator):
    oid = oid_of(entra_emulator, "olga@contoso.example")
    path = f"/v1.0/users/{oid}/transitiveMemberOf/microsoft.graph.group"
    foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token, message in [
        (None, "Access token is empty."),
        ("not-a-jwt", "IDX14100: JWT is not well formed."),
        (forged_app_token(entra_emulator, foreign_key), "Access token validation failure. Invalid signature."),
    ]:
        response = graph_get(entra_emulator, path, token)
        assert response.status_code == 401
        assert response.json()["error"] == {**response.json()["error"], "code": "InvalidAuthenticationToken"}
        assert response.json()["error"]["message"] == message
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "value" not in response.json()


def test_graph_refuses_user_tokens_and_foreign_audiences(entra_emulator):
    oid = oid_of(entra_emulator, "ana@contoso.example")
    path = f"/v1.0/users/{oid}/transitiveMemberOf"
    tokens, _ = tokens_for(entra_emulator, "ana@contoso.example")
    forbidden = graph_get(entra_emulator, path, tokens["access_token"])
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "Authorization_RequestDenied"
    # The id_token is for the hub, not for Graph.
    wrong_audience = graph_get(entra_emulator, path, tokens["id_token"])
    assert wrong_audience.status_code == 401


# ---- Graph permissions and throttling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted", "user_status", "memberships_status", "group_names"),
    [
        ([], 403, 403, None),
        (["User.ReadBasic.All"], 200, 403, None),
        (["GroupMember.Read.All"], 403, 200, "Analysts"),
        (["User.Read.All"], 200, 200, None),  # memberships, but groups with only id and @odata.type
        (["GroupMember.Read.All", "User.ReadBasic.All"], 200, 200, "Analysts"),
    ],
    ids=["none", "user-basic", "group-member", "user-read-all", "demo"],
)
def test_graph_answers_only_with_the_permissions_the_app_was_granted(
    entra_emulator_reset, granted, user_status, memberships_status, group_names
):
    # ref: https://learn.microsoft.com/graph/api/user-get
    # ref: https://learn.microsoft.com/graph/api/user-list-transitivememberof
    emulator = entra_emulator_reset
    oid = oid_of(emulator, "ana@contoso.example")
    emulator.set_app_registration(graph_permissions=granted)
    token = emulator.app_token()
    assert claims_of(token).get("roles", []) == granted
    user = graph_get(emulator, f"/v1.0/users/{oid}", token)
    memberships = graph_get(emulator, f"/v1.0/users/{oid}/transitiveMemberOf/microsoft.graph.group", token)
    assert (user.status_code, memberships.status_code) == (user_status, memberships_status)
    for refused in [r for r in (user, memberships) if r.status_code == 403]:
        assert refused.json()["error"]["code"] == "Authorization_RequestDenied"
        assert refused.json()["error"]["message"] == "Insufficient privileges to complete the operation."
        assert "value" not in refused.json() and "id" not in refused.json()
    if memberships.status_code == 200:
        assert [(g["id"], g["displayName"]) for g in memberships.json()["value"]] == [(ANALYSTS, group_names)]


def test_graph_throttling_answers_429_with_retry_after(entra_emulator_reset):
    # ref: https://learn.microsoft.com/graph/throttling
    emulator = entra_emulator_reset
    oid = oid_of(emulator, "ana@contoso.example")
    token = emulator.app_token()
    assert emulator.throttle(2, retry_after=7) == {"count": 2, "retry_after": 7}
    path = f"/v1.0/users/{oid}/transitiveMemberOf/microsoft.graph.group"
    for _ in range(2):
        throttled = graph_get(emulator, path, token)
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
        assert throttled.json()["error"]["code"] == "TooManyRequests" and "value" not in throttled.json()
    assert graph_get(emulator, path, token).status_code == 200
    assert emulator.stats()["throttled_left"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"count": -1}, "count must be a whole number 0-10000"),
        ({"count": 1, "retry_after": 301}, "retry_after must be a whole number of seconds 0-300"),
    ],
)
def test_throttle_control_refuses_bad_requests(entra_emulator_reset, body, message):
    response = entra_emulator_reset.http.post(f"{entra_emulator_reset.url}/_emulator/throttle", json=body, timeout=10)
    assert response.status_code == 400 and response.json()["error_description"] == message


# ---- test controls ------------------------------------------------------------------------------------------------


def test_tamper_alg_none_produces_an_unsigned_token(entra_emulator_reset):
    entra_emulator_reset.tamper(alg="none")
    tokens, nonce = tokens_for(entra_emulator_reset, "ana@contoso.example")
    token = tokens["id_token"]
    assert header_of(token)["alg"] == "none" and token.endswith(".")
    assert claims_of(token)["nonce"] == nonce
    with pytest.raises(IdTokenError, match="algorithm 'none'"):
        verified(entra_emulator_reset, token, nonce)


def test_tamper_hs256_with_public_key_signs_with_the_published_key_as_hmac_secret(entra_emulator_reset):
    entra_emulator_reset.tamper(alg="HS256-with-public-key")
    tokens, nonce = tokens_for(entra_emulator_reset, "ana@contoso.example")
    token = tokens["id_token"]
    header = header_of(token)
    assert header["alg"] == "HS256"
    public_pem = published_keys(entra_emulator_reset)[header["kid"]].public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input, signature = token.rsplit(".", 1)
    expected = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) == expected
    with pytest.raises(IdTokenError, match="algorithm 'HS256'"):
        verified(entra_emulator_reset, token, nonce)


def test_tamper_foreign_key_keeps_the_kid_but_not_the_signature(entra_emulator_reset):
    entra_emulator_reset.tamper(alg="foreign-key")
    tokens, nonce = tokens_for(entra_emulator_reset, "ana@contoso.example")
    header = header_of(tokens["id_token"])
    assert header["alg"] == "RS256" and header["kid"] in published_keys(entra_emulator_reset)
    with pytest.raises(IdTokenError, match="signature does not verify"):
        verified(entra_emulator_reset, tokens["id_token"], nonce)


@pytest.mark.parametrize(
    ("claims", "drop", "refusal"),
    [
        ({"iss": "https://login.microsoftonline.com/other/v2.0"}, [], "another authority"),
        ({"aud": "someone-else"}, [], "another application"),
        ({"tid": "11111111-2222-4333-8444-555555555555"}, [], "another tenant"),
        ({"exp": 1_000_000_000}, [], "expired"),
        ({"nbf": 4_000_000_000}, [], "not valid yet"),
        ({"nonce": "replayed-nonce"}, [], "nonce does not match"),
        ({}, ["nonce"], "nonce does not match"),
        ({}, ["oid"], "lacks the required claim 'oid'"),
    ],
)
def test_tamper_claims_are_signed_properly_so_only_claim_checks_catch_them(entra_emulator_reset, claims, drop, refusal):
    entra_emulator_reset.tamper(claims=claims, drop=drop)
    tokens, nonce = tokens_for(entra_emulator_reset, "ana@contoso.example")
    token_claims = claims_of(tokens["id_token"])
    assert all(token_claims[k] == v for k, v in claims.items()) and not set(drop) & set(token_claims)
    with pytest.raises(IdTokenError, match=refusal):
        verified(entra_emulator_reset, tokens["id_token"], nonce)


def test_tamper_drop_groups_and_count(entra_emulator_reset):
    entra_emulator_reset.tamper(drop=["groups"], count=2)
    first, second, third = (tokens_for(entra_emulator_reset, "ana@contoso.example")[0] for _ in range(3))
    assert "groups" not in claims_of(first["id_token"]) and "groups" not in claims_of(second["id_token"])
    assert claims_of(third["id_token"])["groups"] == [ANALYSTS]


def test_tamper_refuses_unknown_modes(entra_emulator_reset):
    response = entra_emulator_reset.http.post(f"{entra_emulator_reset.url}/_emulator/tamper", json={"alg": "RS512"})
    assert response.status_code == 400 and "alg must be one of" in response.json()["error_description"]


def test_delay_slows_only_the_named_endpoints(entra_emulator_reset):
    entra_emulator_reset.delay(1.5, paths=["token"])
    started = time.monotonic()
    entra_emulator_reset.app_token()
    assert time.monotonic() - started >= 1.5
    started = time.monotonic()
    entra_emulator_reset.http.get(entra_emulator_reset.discovery_url, timeout=10)
    assert time.monotonic() - started < 1.0
    entra_emulator_reset.delay(0, paths=["token"])
    started = time.monotonic()
    entra_emulator_reset.app_token()
    assert time.monotonic() - started < 1.0


def test_delay_lets_a_client_time_out(entra_emulator_reset):
    entra_emulator_reset.delay(3, paths=["discovery"])
    with pytest.raises(requests.exceptions.ReadTimeout):
        entra_emulator_reset.http.get(entra_emulator_reset.discovery_url, timeout=0.5)


def test_rotate_key_publishes_the_new_key_and_optionally_the_old(entra_emulator_reset):
    [original] = published_keys(entra_emulator_reset)
    rotated = entra_emulator_reset.rotate_key()
    assert rotated["published"] == [rotated["kid"]] and rotated["kid"] != original
    assert list(published_keys(entra_emulator_reset)) == [rotated["kid"]]
    tokens, nonce = tokens_for(entra_emulator_reset, "ana@contoso.example")
    assert header_of(tokens["id_token"])["kid"] == rotated["kid"]
    verified(entra_emulator_reset, tokens["id_token"], nonce)
    both = entra_emulator_reset.rotate_key(keep_old=True)
    assert set(published_keys(entra_emulator_reset)) == {both["kid"], rotated["kid"]}
    entra_emulator_reset.reset()
    assert list(published_keys(entra_emulator_reset)) == [original]


def test_stats_count_requests_per_endpoint(entra_emulator_reset):
    for _ in range(3):
        published_keys(entra_emulator_reset)
    entra_emulator_reset.app_token()
    stats = entra_emulator_reset.stats()
    assert stats["requests"]["keys"] == 3
    assert stats["requests"]["token"] == 1 and stats["grants"] == {"client_credentials": 1}
    entra_emulator_reset.reset()
    assert entra_emulator_reset.stats()["requests"]["keys"] == 0


@pytest.mark.parametrize(
    "target",
    ["https://hub.test/hub/", "https://hub.test/hub/oauth_callback/", "https://attacker.example/hub/oauth_callback"],
    ids=["same-origin", "trailing-slash", "elsewhere"],
)
def test_logout_follows_only_an_exactly_registered_redirect_uri(entra_emulator, target):
    # ref: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#send-a-sign-out-request
    url = f"{entra_emulator.authority}/oauth2/v2.0/logout"
    registered = entra_emulator.http.get(
        url, params={"post_logout_redirect_uri": entra_emulator.redirect_uri}, allow_redirects=False
    )
    assert registered.status_code == 302 and registered.headers["Location"] == entra_emulator.redirect_uri
    other = entra_emulator.http.get(url, params={"post_logout_redirect_uri": target}, allow_redirects=False)
    assert other.status_code == 200 and "You signed out of your account." in other.text


def test_logout_hint_names_the_account_signed_out(entra_emulator_reset):
    emulator = entra_emulator_reset
    emulator.set_app_registration(optional_claims=["login_hint"])
    hint = claims_of(tokens_for(emulator, "ana@contoso.example")[0]["id_token"])["login_hint"]
    url = f"{emulator.authority}/oauth2/v2.0/logout"
    page = emulator.http.get(url, params={"logout_hint": hint}, allow_redirects=False)
    assert page.status_code == 200 and "ana@contoso.example signed out." in page.text
    emulator.http.get(url, params={"logout_hint": "not-a-hint"}, allow_redirects=False)
    back = {"logout_hint": hint, "post_logout_redirect_uri": emulator.redirect_uri}
    assert emulator.http.get(url, params=back, allow_redirects=False).status_code == 302
    assert emulator.stats()["sign_outs"] == ["ana@contoso.example", None, "ana@contoso.example"]


# ---- the process: start-up refusals, no controls by default, clean stop --------------------------------------------


def run_emulator(tmp_path, env_extra: dict, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENTRA_EMULATOR_")}
    command = [sys.executable, "-m", "entra_emulator", "--state-dir", str(tmp_path), "--port", str(free_port()), *args]
    return subprocess.run(command, env={**env, **env_extra}, capture_output=True, text=True, timeout=30, cwd=REPO)


def test_refuses_to_start_without_secrets_in_the_environment(tmp_path):
    result = run_emulator(tmp_path, {"ENTRA_EMULATOR_PASSWORD": "pw-123"}, "--directory", str(DEMO_DIRECTORY))
    assert result.returncode == 2
    assert "ENTRA_EMULATOR_CLIENT_SECRET is not set" in result.stderr
    assert "pw-123" not in result.stdout + result.stderr
    assert not (tmp_path / "ready").exists()


def test_refuses_a_bad_directory_naming_the_key(tmp_path):
    directory = tmp_path / "directory.yaml"
    directory.write_text(
        "tenant_id: 05635727-18e2-4663-9497-cc4ac795197b\n"
        "groups: []\n"
        "users:\n  - {username: ana@contoso.example, name: Ana, groups: [253daff1-76ee-47b8-9495-b4b707cbf668]}\n"
    )
    secrets_env = {"ENTRA_EMULATOR_CLIENT_SECRET": "s", "ENTRA_EMULATOR_PASSWORD": "p"}
    result = run_emulator(tmp_path, secrets_env, "--directory", str(directory))
    assert result.returncode == 2
    assert "directory.yaml: users[0].groups[0]: unknown group 253daff1-76ee-47b8-9495-b4b707cbf668" in result.stderr


def test_without_test_controls_there_are_none_and_sigterm_stops_cleanly(tmp_path):
    emulator = start_entra_emulator(tmp_path, test_controls=False)
    try:
        assert emulator.http.get(f"{emulator.url}/_emulator/stats", timeout=10).status_code == 404
        assert emulator.http.post(f"{emulator.url}/_emulator/reset", timeout=10).status_code == 404
        log = (tmp_path / "emulator.log").read_text()
        assert f"Entra ID emulator ready at {emulator.url} (tenant {emulator.tenant_id}" in log
        emulator.process.send_signal(signal.SIGTERM)
        assert emulator.process.wait(10) == 0
        assert not (tmp_path / "ready").exists() and (tmp_path / "ca.pem").exists()
        log = (tmp_path / "emulator.log").read_text()
        assert emulator.client_secret not in log and emulator.password not in log
    finally:
        stop(emulator.process)
