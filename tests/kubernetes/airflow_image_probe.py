"""Run by tests/kubernetes/test_airflow_image.py with the Airflow image's own packages (.venv-airflow-image, from
hub/images/airflow/requirements.txt): what the real KubernetesExecutor makes of the pod template, and what the real
FAB security manager class of helm/airflow_webserver_config.py does at sign-in. Prints one JSON document.

    python airflow_image_probe.py executor-pod <pod template file> <image> <workload json>
    python airflow_image_probe.py sign-in <access policy file> <work dir>

For sign-in, the tenant (discovery document, signing keys) and Microsoft Graph are answered here in their documented
shapes (ref: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc,
https://learn.microsoft.com/graph/api/user-list-transitivememberof): the id_tokens are real RS256 tokens signed with a
key made for the run, verified by the project's verifier; Graph's pages are read by the project's Graph client.
"""

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[2]
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
CLIENT = "0b9d8f4e-3c7a-4e5b-9a61-2f1e8d7c6b5a"
OTHER_CLIENT = "11111111-2222-4333-8444-555555555555"
AUTHORITY = "https://login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com"
ISSUER = f"{AUTHORITY}/{TENANT}/v2.0"
JWKS_URI = f"{AUTHORITY}/{TENANT}/discovery/v2.0/keys"
PLATFORM_ADMINS = "2a95bd00-d53d-4f76-87f4-0e8a179a4fd6"  # hub_admin in hub/demo/access-policy.yaml
ANALYSTS = "253daff1-76ee-47b8-9495-b4b707cbf668"
PEOPLE = {
    # oid: the groups Graph answers for that person, page by page
    "0f6c6e47-1f2e-4b8e-9c1d-2a3b4c5d6e7f": [[ANALYSTS], [PLATFORM_ADMINS]],  # admin, found on the second page
    "5a1f0c3e-8d2b-4e7a-9f6c-1b2d3e4f5a6b": [[ANALYSTS]],
}


def executor_pod(template: str, image: str, workload: str) -> dict:
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
    from kubernetes.client import ApiClient

    pod = PodGenerator.construct_pod(
        dag_id="notebook-job-k3v9x2m1qa",
        task_id="run",
        pod_id="notebook-job-k3v9x2m1qa-run",
        try_number=1,
        kube_image=image,
        date=None,
        args=["python", "-m", "airflow.sdk.execution_time.execute_workload", "--json-string", workload],
        pod_override_object=None,
        base_worker_pod=PodGenerator.deserialize_model_file(template),
        namespace="jupyterhub",
        scheduler_job_id="1",
        run_id="manual__2026-11-29T07:00:00+00:00",
    )
    return ApiClient().sanitize_for_serialization(pod)


def sign_in(policy_file: str, work: Path) -> dict:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "use": "sig"}
    client_secret = os.urandom(16).hex()
    (work / "client-secret").write_text(client_secret)
    os.environ.update(
        {
            "ENTRA_TENANT_ID": TENANT,
            "ENTRA_CLIENT_ID": CLIENT,
            "ENTRA_CLIENT_SECRET_FILE": str(work / "client-secret"),
            "ACCESS_POLICY_FILE": policy_file,
        }
    )
    spec = importlib.util.spec_from_file_location("webserver_config", REPO / "helm" / "airflow_webserver_config.py")
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)

    async def tenant_json(url):
        documents = {
            f"{AUTHORITY}/{TENANT}/v2.0/.well-known/openid-configuration": {
                "issuer": ISSUER,
                "authorization_endpoint": f"{AUTHORITY}/{TENANT}/oauth2/v2.0/authorize",
                "token_endpoint": f"{AUTHORITY}/{TENANT}/oauth2/v2.0/token",
                "jwks_uri": JWKS_URI,
            },
            JWKS_URI: {"keys": [jwk]},
        }
        return documents[url]

    graph_state = {"throttle": False, "asked": []}

    async def graph_json(url, headers):
        from authenticator.graph import GraphRefused

        graph_state["asked"].append(url.split("?")[0])
        if graph_state["throttle"]:
            raise GraphRefused(429, 30)
        oid = url.split("/users/")[1].split("/")[0]
        pages = PEOPLE[oid]
        page = int(url.split("page=")[1]) if "page=" in url else 0
        answer = {"value": [{"id": group, "displayName": group} for group in pages[page]]}
        if page + 1 < len(pages):
            next_page = f"{GRAPH}/v1.0/users/{oid}/transitiveMemberOf/microsoft.graph.group?page={page + 1}"
            answer["@odata.nextLink"] = next_page
        return answer

    async def app_token():
        return "graph-application-token"

    def id_token(oid, **overrides):
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": CLIENT, "tid": TENANT, "oid": oid, "iat": now, "nbf": now, "exp": now + 600}
        claims.update({"name": "A Person", "preferred_username": f"{oid[:4]}@contoso.example", **overrides})
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    admin, analyst = list(PEOPLE)
    scenarios = {
        "hub admin": {"id_token": id_token(admin), "userinfo": {}},
        "not a hub admin": {"id_token": id_token(analyst), "userinfo": {}},
        "expired": {"id_token": id_token(admin, exp=int(time.time()) - 3600), "userinfo": {}},
        "another tenant": {"id_token": id_token(admin, tid=OTHER_TENANT), "userinfo": {}},
        "another application": {"id_token": id_token(admin, aud=OTHER_CLIENT), "userinfo": {}},
        "no id_token tied to the sign-in": {"id_token": id_token(admin)},
        "graph throttled": {"id_token": id_token(admin), "userinfo": {}},
    }
    from flask import Flask, get_flashed_messages

    app = Flask("probe")
    app.secret_key = os.urandom(16)
    results = {
        "security manager is FAB's": issubclass(
            config.SECURITY_MANAGER_CLASS, config.FabAirflowSecurityManagerOverride
        ),
        "settings": {
            "AUTH_TYPE": config.AUTH_TYPE,
            "AUTH_ROLES_MAPPING": config.AUTH_ROLES_MAPPING,
            "AUTH_ROLES_SYNC_AT_LOGIN": config.AUTH_ROLES_SYNC_AT_LOGIN,
            "AUTH_USER_REGISTRATION": config.AUTH_USER_REGISTRATION,
            "providers": [provider["name"] for provider in config.OAUTH_PROVIDERS],
        },
        "scenarios": {},
    }
    for name, resp in scenarios.items():
        graph_state["throttle"] = name == "graph throttled"
        graph_state["asked"] = []
        manager = object.__new__(config.SECURITY_MANAGER_CLASS)  # the class's own methods, no database behind it
        stored = mock.Mock(roles=["Admin"])
        manager.find_user = mock.Mock(return_value=stored)
        manager.update_user = mock.Mock()
        with (
            app.test_request_context("/auth/oauth-authorized/entra-id"),
            mock.patch.object(config._TENANT, "_fetch_json", tenant_json),
            mock.patch.object(config._GRAPH, "_fetch_json", graph_json),
            mock.patch.object(config._GRAPH, "_app_token", app_token),
            mock.patch.object(config._GRAPH, "_sleep", mock.AsyncMock()),
            mock.patch.object(config.FabAirflowSecurityManagerOverride, "auth_user_oauth", return_value="signed in"),
        ):
            userinfo = manager.get_oauth_user_info("entra-id", resp)
            outcome = manager.auth_user_oauth(userinfo) if userinfo else None
            results["scenarios"][name] = {
                "userinfo": userinfo,
                "outcome": outcome,
                "stored roles": stored.roles,
                "roles emptied": manager.update_user.called,
                "flashed": get_flashed_messages(),
                "graph pages asked": len(graph_state["asked"]),
            }
    results["client secret shown"] = client_secret in json.dumps(results)
    return results


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    sys.path.insert(0, str(REPO))
    if command == "executor-pod":
        print(json.dumps(executor_pod(*args)))
    elif command == "sign-in":
        print(json.dumps(sign_in(args[0], Path(args[1]))))
    else:
        raise SystemExit(f"unknown command {command!r}")
