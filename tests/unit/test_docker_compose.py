"""docker-compose.yml, checked without Docker (there is no Docker engine where the tests run): every build context,
Dockerfile, image, port, mount, path and setting points at something that exists, and the stack is the one `make demo`
runs (hub/local_stack/plan.py, scheduler/local_airflow.py), Airflow included."""

import base64
import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

import pytest
import yaml
from cryptography.fernet import Fernet

from authenticator.access_policy import load_access_policy
from entra_emulator.__main__ import parse_args
from entra_emulator.directory import load_directory
from hub.broker.contract import SCHEDULER_TOKEN_ENV, SERVICE_PREFIX
from hub.jobs.airflow_api import PASSWORD_VARIABLE as AIRFLOW_PASSWORD_VARIABLE
from hub.local_stack import plan
from scheduler.local_airflow import (
    DAGS_FOLDER,
    AirflowSecrets,
    airflow_environment,
    migrate_command,
    prepare_home,
    server_commands,
)
from scheduler.run_notebook import HELPER_PATH
from tests.fixtures.tools import require_executable

pytestmark = pytest.mark.unit

REPO = plan.REPO
COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
SETTINGS = plan.settings_from_env({})  # the default ports: what the README and docker-compose.yml use
# make demo's settings with the state folder where the containers have it: the shared `state` volume
IN_CONTAINERS = plan.settings_from_env({"LOCAL_STACK_DIR": "/state"})
POLICY = load_access_policy(plan.DEMO_POLICY)
HUB_IMAGE_DOCKERFILE = "hub/images/hub/Dockerfile"
USER_IMAGE_DOCKERFILE = "hub/images/user/Dockerfile"
AIRFLOW_IMAGE_DOCKERFILE = "hub/images/airflow/Dockerfile"
IMAGES = {
    HUB_IMAGE_DOCKERFILE: "entra-aws-jupyterhub/hub:local",
    USER_IMAGE_DOCKERFILE: "entra-aws-jupyterhub/user:local",
    AIRFLOW_IMAGE_DOCKERFILE: "entra-aws-jupyterhub/airflow:local",
}
# Where the Airflow image has its virtualenv and the project's code (hub/images/airflow/Dockerfile; asserted below).
AIRFLOW_IMAGE_VENV = "/opt/airflow-venv"
AIRFLOW_PROJECT = "/opt/airflow/project"
# make demo's Airflow, with the `airflow` command where the Airflow image has it.
THE = plan.new_secrets()
AIRFLOW = dataclasses.replace(plan.airflow_settings(IN_CONTAINERS, THE), venv=Path(AIRFLOW_IMAGE_VENV))
AIRFLOW_SERVERS = tuple(server_commands(AIRFLOW))  # airflow-api-server, airflow-scheduler, airflow-dag-processor
AIRFLOW_SERVICES = ("airflow-migrate", *AIRFLOW_SERVERS)
# Only the one-off migration gets the passwords, to write the UI's password file.
MIGRATION_ONLY = {"AIRFLOW_ADMIN_PASSWORD", AIRFLOW_PASSWORD_VARIABLE}
# ${NAME:?message}: a value compose takes from the .env file, refusing to start without it.
FROM_ENV_FILE = re.compile(r"^\$\{([A-Z][A-Z0-9_]*):\?[^}]+\}$")
SERVICE_KEYS = {
    "image", "build", "user", "network_mode", "ports", "volumes", "environment", "entrypoint", "command",
    "depends_on", "healthcheck", "working_dir",
}  # fmt: skip


def env_of(service: str) -> dict:
    return SERVICES[service].get("environment") or {}


def mounts(service: str) -> list[tuple[str, str]]:
    """(source, target) of each volume; the source is ``./path`` for a bind mount, else a named volume."""
    return [tuple(v.split(":")[:2]) for v in SERVICES[service].get("volumes") or []]


def resolve(service: str, path: str) -> Path | str | None:
    """Where an absolute path inside ``service``'s container comes from: a repository path (bind mount), the name
    of a named volume (made at run time), or None (the image's own)."""
    best = None
    for source, target in mounts(service):
        if PurePosixPath(path) == PurePosixPath(target) or PurePosixPath(target) in PurePosixPath(path).parents:
            if best is None or len(target) > len(best[1]):
                best = (source, target)
    if best is None:
        return None
    source, target = best
    if not source.startswith("./"):
        return source
    return REPO / source[2:] / PurePosixPath(path).relative_to(target)


def absolute_paths(value) -> list[str]:
    texts = value if isinstance(value, list) else [value]
    found = []
    for text in texts:
        found += re.findall(r"(?<![\w:/.])(/(?:srv|src|state|tfstate|opt/airflow/project)(?:/[\w.\-]+)*)", str(text))
    return found


def env_file_recipe() -> list[str]:
    """The shell lines at the top of docker-compose.yml that make the .env file."""
    lines = COMPOSE_TEXT.splitlines()
    start = lines.index("#   cat > .env <<EOF")
    end = lines.index("#   EOF", start)
    return [line.removeprefix("#   ") for line in lines[start : end + 1]]


def interpolate(value: str, dotenv: dict) -> str:
    """What Compose makes of ``${NAME:?message}``, given the .env file's values."""
    match = FROM_ENV_FILE.match(value)
    return dotenv[match.group(1)] if match else value


def test_services_use_only_keys_this_file_is_checked_for():
    assert set(SERVICES) == {"moto", "setup", "entra", "terraform", "proxy", "hub", "user-image", *AIRFLOW_SERVICES}
    assert AIRFLOW_SERVERS == ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor")
    for name, service in SERVICES.items():
        assert set(service) <= SERVICE_KEYS, name
        assert set(service) & {"image", "build"}, f"{name} has no image"


def test_each_image_is_built_from_its_dockerfile_by_every_service_that_runs_it():
    built = {}
    for name, service in SERVICES.items():
        if "build" in service:
            built.setdefault(service["build"]["dockerfile"], set()).add(name)
            context = REPO / service["build"]["context"]
            assert context.resolve() == REPO, name
            assert (context / service["build"]["dockerfile"]).is_file(), name
            assert service["image"] == IMAGES[service["build"]["dockerfile"]], name
    assert built == {
        HUB_IMAGE_DOCKERFILE: {"setup", "entra", "hub"},
        USER_IMAGE_DOCKERFILE: {"user-image"},
        AIRFLOW_IMAGE_DOCKERFILE: set(AIRFLOW_SERVICES),
    }
    assert "FROM quay.io/jupyterhub/k8s-hub:4.4.0" in (REPO / HUB_IMAGE_DOCKERFILE).read_text()


def test_the_airflow_image_is_built_on_the_user_image_this_file_builds():
    dockerfile = (REPO / AIRFLOW_IMAGE_DOCKERFILE).read_text()
    assert re.search(r"^ARG USER_IMAGE$", dockerfile, re.MULTILINE)
    assert re.search(r"^FROM \$\{USER_IMAGE\}$", dockerfile, re.MULTILINE)
    for name in AIRFLOW_SERVICES:
        build = SERVICES[name]["build"]
        # BuildKit resolves FROM <name> to the additional context of that name: the user-image service's image,
        # which Compose therefore builds first (https://docs.docker.com/compose/how-tos/dependent-images/).
        base = build["args"]["USER_IMAGE"]
        assert build["args"] == {"USER_IMAGE": base}, name
        assert build["additional_contexts"] == {base: "service:user-image"}, name
    # The user-image service only builds: it runs nothing, gets no setting, no secret and no mount.
    assert SERVICES["user-image"]["command"] == ["true"]
    assert set(SERVICES["user-image"]) == {"build", "image", "network_mode", "command"}


def test_other_images_are_the_versions_the_repository_runs():
    moto = re.search(r"^moto==(\S+)$", (REPO / "requirements" / "dev.txt").read_text(), re.MULTILINE).group(1)
    assert SERVICES["moto"]["image"] == f"motoserver/moto:{moto}"
    chart = yaml.safe_load((REPO.parent / "shared" / "reference" / "z2jh-4.4.0" / "values.yaml").read_text())
    chp = chart["proxy"]["chp"]["image"]
    assert SERVICES["proxy"]["image"] == f"{chp['name']}:{chp['tag']}", "the chart's proxy image"
    assert re.fullmatch(r"hashicorp/terraform:1\.11\.\d+", SERVICES["terraform"]["image"]), "Terraform 1.11, as tested"


def test_the_ports_are_make_demos_on_loopback_only_and_everyone_shares_one_network():
    published = {name: SETTINGS.ports[name] for name in ("hub", "entra", "moto", "airflow")}
    assert SERVICES["moto"]["ports"] == [f"127.0.0.1:{port}:{port}" for port in published.values()]
    assert published == {"hub": 8000, "entra": 8443, "moto": 5000, "airflow": 8280}
    for name, service in SERVICES.items():
        if name != "moto":
            assert service["network_mode"] == "service:moto", name
            assert "ports" not in service, name


def test_every_mount_exists_and_every_named_volume_is_declared():
    for name in SERVICES:
        for source, target in mounts(name):
            assert target.startswith("/"), (name, target)
            if source.startswith("./"):
                assert (REPO / source[2:]).exists(), (name, source)
            else:
                assert source in COMPOSE["volumes"], (name, source)
    for name in ("setup", "entra", "hub", *AIRFLOW_SERVICES):
        assert ("state", "/state") in mounts(name)
    assert all(v.endswith(":ro") for n in SERVICES for v in SERVICES[n].get("volumes") or [] if v.startswith("./"))


def test_every_path_in_a_command_or_setting_exists_or_is_made_at_run_time():
    checked = 0
    for name, service in SERVICES.items():
        values = [*env_of(name).values(), service.get("command"), service.get("entrypoint"), service.get("working_dir")]
        for value in values:
            for path in absolute_paths(value):
                where = resolve(name, path)
                if where is None and any(PurePosixPath(path) in PurePosixPath(t).parents for _, t in mounts(name)):
                    continue  # a folder Docker makes to hold mounts (PYTHONPATH=/srv/emulator)
                assert where is not None, f"{name}: {path} is not in a mounted folder"
                if isinstance(where, Path):
                    assert where.exists(), f"{name}: {path} -> {where} does not exist"
                    checked += 1
                else:
                    assert where in COMPOSE["volumes"], (name, path)
    assert checked >= 11
    assert resolve("hub", env_of("hub")["LOCAL_STACK_POLICY_FILE"]) == plan.DEMO_POLICY
    assert resolve("hub", SERVICES["hub"]["command"][-1]) == plan.HUB_CONFIG
    assert resolve("hub", env_of("hub")["LOCAL_STACK_HUB_CONFIG_DIR"]) == REPO / "hub" / "config"
    assert resolve("entra", "/srv/emulator/entra_emulator/__main__.py") == REPO / "entra_emulator" / "__main__.py"
    assert resolve("setup", "/src/user-requirements.txt") == REPO / "hub" / "images" / "user" / "requirements.txt"
    assert resolve("terraform", "/src/terraform/examples/complete/main.tf").is_file()
    for name in AIRFLOW_SERVICES:
        assert resolve(name, env_of(name)["AIRFLOW__CORE__DAGS_FOLDER"]) == DAGS_FOLDER
        assert resolve(name, env_of(name)["AIRFLOW_HOME"]) == "state"


def test_the_emulator_runs_as_make_demo_runs_it():
    command = SERVICES["entra"]["command"]
    assert command[:3] == ["python3", "-m", "entra_emulator"]
    args = parse_args(command[3:])  # the emulator's own parser: every option exists
    hub = env_of("hub")
    assert resolve("entra", str(args.directory)) == plan.DEMO_DIRECTORY
    assert (args.host, args.port) == ("0.0.0.0", SETTINGS.ports["entra"])  # noqa: S104 - inside its container
    assert args.client_id == plan.CLIENT_ID == hub["LOCAL_STACK_ENTRA_CLIENT_ID"]
    # hub/local_stack/jupyterhub_config.py makes the hub's callback URL from its port
    assert args.redirect_uri == [SETTINGS.callback_url, SETTINGS.login_url]
    assert SETTINGS.callback_url == f"http://127.0.0.1:{hub['LOCAL_STACK_HUB_PORT']}/hub/oauth_callback"
    assert SETTINGS.login_url == f"http://127.0.0.1:{hub['LOCAL_STACK_HUB_PORT']}/hub/login"  # sign-out returns here
    assert not args.test_controls, "never the test controls: anyone could forge a sign-in"
    assert str(args.state_dir) + "/ca.pem" == hub["LOCAL_STACK_ENTRA_CA_BUNDLE"]
    assert SERVICES["entra"]["healthcheck"]["test"] == ["CMD", "test", "-f", f"{args.state_dir}/ready"]


def test_the_hub_gets_the_settings_make_demo_gives_it():
    emulator = {"tenant_id": "t", "url": SETTINGS.entra_url, "graph_url": SETTINGS.entra_url, "ca_path": "/ca.pem"}
    notebook_python = "/state/notebook-env/bin/python"  # the setup job's virtualenv for the notebook servers
    expected = plan.hub_environment({}, IN_CONTAINERS, THE, emulator, POLICY, notebook_python)
    hub = env_of("hub")
    # The image has the project installed (no PYTHONPATH); its config files live where compose mounts them.
    assert set(hub) == set(expected) - {"PYTHONPATH"}
    tenant = load_directory(plan.DEMO_DIRECTORY).tenant_id
    assert hub["LOCAL_STACK_ENTRA_TENANT_ID"] == tenant
    same = (
        "LOCAL_STACK_ENTRA_URL", "LOCAL_STACK_GRAPH_URL", "LOCAL_STACK_USERNAME_STRIP_DOMAINS",
        "LOCAL_STACK_ENTRA_CLIENT_ID", "LOCAL_STACK_BROKER_PORT", "LOCAL_STACK_MOTO_URL", "AWS_ENDPOINT_URL",
        "AWS_REGION", "LOCAL_STACK_HUB_PORT", "LOCAL_STACK_HUB_API_PORT", "LOCAL_STACK_PROXY_API_PORT",
        "LOCAL_STACK_DIR", "LOCAL_STACK_SERVER_COMMAND", "LOCAL_STACK_AIRFLOW_URL",
    )  # fmt: skip
    assert {k: hub[k] for k in same} == {k: expected[k] for k in same}
    assert hub["LOCAL_STACK_AIRFLOW_URL"] == f"http://127.0.0.1:{env_of('airflow-api-server')['AIRFLOW__API__PORT']}"
    assert hub["LOCAL_STACK_PROXY_COMMAND"] == "", "the proxy runs as its own service"
    # The rest: paths (checked above) and secrets (from .env: the test of secrets below)
    assert set(expected) - set(same) - {"PYTHONPATH", "LOCAL_STACK_PROXY_COMMAND", "LOCAL_STACK_ENTRA_TENANT_ID"} == {
        "LOCAL_STACK_HUB_CONFIG_DIR", "LOCAL_STACK_POLICY_FILE", "LOCAL_STACK_ENTRA_CA_BUNDLE",  # paths, checked above
        "OAUTH_CLIENT_SECRET", "JUPYTERHUB_CRYPT_KEY", "CONFIGPROXY_AUTH_TOKEN", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", SCHEDULER_TOKEN_ENV, AIRFLOW_PASSWORD_VARIABLE,
    }  # fmt: skip


def test_the_proxy_listens_where_the_hub_expects_it():
    hub, args = env_of("hub"), dict(a.removeprefix("--").split("=", 1) for a in SERVICES["proxy"]["command"])
    assert SERVICES["proxy"]["entrypoint"] == ["configurable-http-proxy"]
    assert args["port"] == hub["LOCAL_STACK_HUB_PORT"]
    assert args["api-port"] == hub["LOCAL_STACK_PROXY_API_PORT"]
    assert args["default-target"] == f"http://127.0.0.1:{hub['LOCAL_STACK_HUB_API_PORT']}"
    assert args["error-target"] == f"http://127.0.0.1:{hub['LOCAL_STACK_HUB_API_PORT']}/hub/error"


def test_secrets_come_only_from_the_env_file_and_the_same_one_wherever_it_is_used():
    secret_like = re.compile(r"SECRET|PASSWORD|CRYPT_KEY|FERNET|TOKEN|ACCESS_KEY_ID")
    references = {}
    for name in SERVICES:
        for variable, value in env_of(name).items():
            if secret_like.search(variable) and not variable.endswith("_FILE"):  # not a path to secrets
                match = FROM_ENV_FILE.match(str(value))
                assert match, f"{name}.{variable} must come from .env, not be written here"
                references[(name, variable)] = match.group(1)
    assert references[("entra", "ENTRA_EMULATOR_CLIENT_SECRET")] == references[("hub", "OAUTH_CLIENT_SECRET")]
    assert references[("proxy", "CONFIGPROXY_AUTH_TOKEN")] == references[("hub", "CONFIGPROXY_AUTH_TOKEN")]
    assert references[("terraform", "AWS_ACCESS_KEY_ID")] == references[("hub", "AWS_ACCESS_KEY_ID")]
    # Airflow's hub token is the one the hub registers for the scheduler's service; the password the migration
    # writes for the hub's Airflow account is the one the hub signs in with.
    for name in AIRFLOW_SERVICES:
        assert references[(name, SCHEDULER_TOKEN_ENV)] == references[("hub", SCHEDULER_TOKEN_ENV)]
    migration = "airflow-migrate"
    assert references[(migration, AIRFLOW_PASSWORD_VARIABLE)] == references[("hub", AIRFLOW_PASSWORD_VARIABLE)]
    # A variable of the same name is the same secret in every service; different secrets never share a value.
    by_variable = {}
    for (_, variable), source in references.items():
        by_variable.setdefault(variable, set()).add(source)
    assert all(len(sources) == 1 for sources in by_variable.values()), by_variable
    aliases = {("ENTRA_EMULATOR_CLIENT_SECRET", "OAUTH_CLIENT_SECRET")}  # the app registration's, on either side
    variables_of = {}
    for variable, (source,) in by_variable.items():
        variables_of.setdefault(source, set()).add(variable)
    assert {tuple(sorted(v)) for v in variables_of.values() if len(v) > 1} == aliases
    recipe = set(re.findall(r"^#   ([A-Z_]+)=", COMPOSE_TEXT, re.MULTILINE))
    assert set(references.values()) == recipe, "the .env recipe at the top makes exactly the variables used"


def test_the_env_file_recipe_makes_values_the_services_accept(tmp_path):
    bash = require_executable("bash", "install bash")
    require_executable("openssl", "install OpenSSL (Debian/Ubuntu: apt-get install openssl)")
    recipe = set(re.findall(r"^#   ([A-Z_]+)=", COMPOSE_TEXT, re.MULTILINE))
    made = []
    for attempt in ("first", "second"):
        (tmp_path / attempt).mkdir()
        subprocess.run([bash, "-c", "\n".join(env_file_recipe())], cwd=tmp_path / attempt, check=True, timeout=30)
        made.append(dict(line.split("=", 1) for line in (tmp_path / attempt / ".env").read_text().splitlines()))
    first, second = made
    assert set(first) == recipe
    assert all(re.fullmatch(r"[A-Za-z0-9_=-]{8,}", value) for value in first.values()), "nothing to quote in .env"
    assert all(first[name] != second[name] for name in recipe), "made anew each time"
    # Airflow encrypts with cryptography's Fernet: a URL-safe base64 encoding of 32 bytes, else it refuses to start
    # (https://cryptography.io/en/44.0.0/_sources/fernet.rst.txt)
    key = first["DEMO_AIRFLOW_FERNET_KEY"]
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert re.fullmatch(r"AKIALOCAL[0-9A-F]{8}", first["DEMO_AWS_ACCESS_KEY_ID"])


def test_terraform_gets_the_variables_make_demo_gives_it():
    declared = set(
        re.findall(r'^variable "([a-z_]+)"', (plan.REPO / "terraform/examples/complete/variables.tf").read_text(), re.M)
    )
    env = env_of("terraform")
    given = {k.removeprefix("TF_VAR_"): v for k, v in env.items() if k.startswith("TF_VAR_")}
    assert set(given) <= declared
    expected = plan.terraform_variables(SETTINGS, POLICY)
    assert set(given) == set(expected)
    assert resolve("terraform", given.pop("access_policy_file")) == Path(expected.pop("access_policy_file"))
    parsed = {k: json.loads(v) if v.startswith(("{", "[")) or v in ("true", "false") else v for k, v in given.items()}
    assert parsed == expected


def test_airflow_runs_the_code_of_this_checkout_where_the_image_keeps_it():
    dockerfile = (REPO / AIRFLOW_IMAGE_DOCKERFILE).read_text()
    assert f"PYTHONPATH={AIRFLOW_PROJECT}" in dockerfile
    assert f"COPY scheduler/ {AIRFLOW_PROJECT}/scheduler/" in dockerfile
    assert f"python3 -m venv {AIRFLOW_IMAGE_VENV}" in dockerfile
    assert f"PATH={AIRFLOW_IMAGE_VENV}/bin:" in dockerfile
    for name in AIRFLOW_SERVICES:
        # mounted over the image's copy: the DAGs, the run wrapper, the credential helper each run is given (found
        # beside the scheduler package) and the broker's contract are this checkout's
        assert resolve(name, f"{AIRFLOW_PROJECT}/scheduler/run_notebook.py") == REPO / "scheduler" / "run_notebook.py"
        assert resolve(name, f"{AIRFLOW_PROJECT}/{HELPER_PATH.relative_to(REPO)}") == HELPER_PATH
        assert resolve(name, f"{AIRFLOW_PROJECT}/hub/broker/contract.py") == REPO / "hub" / "broker" / "contract.py"
        assert SERVICES[name]["network_mode"] == "service:moto"
        assert SERVICES[name]["working_dir"] == str(AIRFLOW.home), "make demo runs Airflow in AIRFLOW_HOME"
    assert "/state/airflow" in SERVICES["setup"]["command"][0], "the setup job makes AIRFLOW_HOME for uid 1000"


def test_airflow_gets_the_environment_make_demo_gives_it():
    expected = airflow_environment({}, AIRFLOW, THE.airflow)
    servers = env_of("airflow-api-server")
    for name in AIRFLOW_SERVERS:
        assert env_of(name) == servers, name
    migration = env_of("airflow-migrate")
    assert set(migration) - set(servers) == MIGRATION_ONLY
    assert {k: v for k, v in migration.items() if k not in MIGRATION_ONLY} == servers
    assert set(servers) == set(expected)
    secret_values = {THE.scheduler_token, *THE.airflow.values()}
    secrets = {k for k, v in expected.items() if v in secret_values}
    assert secrets == {
        "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", SCHEDULER_TOKEN_ENV,
    }  # fmt: skip
    assert all(FROM_ENV_FILE.match(servers[k]) for k in secrets)
    different = {k: (servers[k], v) for k, v in expected.items() if k not in secrets and servers[k] != v}
    assert different == {
        # the same folder: this checkout's, mounted (checked above)
        "AIRFLOW__CORE__DAGS_FOLDER": (f"{AIRFLOW_PROJECT}/scheduler/dags", str(DAGS_FOLDER)),
        # make demo listens on 127.0.0.1 of this machine; in moto's network namespace the published port reaches
        # only the container's own address, so it listens there too (the port is published on 127.0.0.1 only)
        "AIRFLOW__API__HOST": ("0.0.0.0", "127.0.0.1"),  # noqa: S104 - inside its container
    }
    # the broker where the hub runs it, directly (not through the proxy)
    broker_port = env_of("hub")["LOCAL_STACK_BROKER_PORT"]
    assert servers["NOTEBOOK_SCHEDULER_BROKER_URL"] == f"http://127.0.0.1:{broker_port}{SERVICE_PREFIX}"


def test_airflow_runs_the_commands_make_demo_runs():
    assert SERVICES["airflow-migrate"]["command"] == migrate_command(AIRFLOW)
    for name, command in server_commands(AIRFLOW).items():
        assert SERVICES[name]["command"] == command
        assert "entrypoint" not in SERVICES[name], "the image's own (tini, which reaps the notebook processes)"
    assert 'ENTRYPOINT ["tini", "--"]' in (REPO / USER_IMAGE_DOCKERFILE).read_text()
    assert "ENTRYPOINT" not in (REPO / AIRFLOW_IMAGE_DOCKERFILE).read_text()
    assert SERVICES["airflow-migrate"]["entrypoint"][:2] == ["python3", "-c"]


def test_the_migration_writes_the_password_file_make_demo_writes_then_migrates(tmp_path):
    code = SERVICES["airflow-migrate"]["entrypoint"][2]
    # the command it then runs in its place: here one that shows what it was given
    show_environment = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]
    home = tmp_path / "compose"
    for admin_password in ("first-admin-password", "second-admin-password"):  # a second `up` with a new .env
        dotenv = {name: f"{name.lower()}-value" for name in re.findall(r"^#   ([A-Z_]+)=", COMPOSE_TEXT, re.M)}
        dotenv["DEMO_AIRFLOW_ADMIN_PASSWORD"] = admin_password
        env = {k: interpolate(v, dotenv) for k, v in env_of("airflow-migrate").items()}
        env["AIRFLOW_HOME"] = str(home)
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(home / AIRFLOW.passwords_file.name)
        result = subprocess.run(
            [sys.executable, "-c", code, *show_environment], env=env, capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout)
        assert not MIGRATION_ONLY & set(seen), "the migration itself never sees the passwords"
        assert {k: v for k, v in env.items() if k not in MIGRATION_ONLY}.items() <= seen.items()
        # make demo's own writer, given the same passwords
        make_demo = dataclasses.replace(AIRFLOW, home=tmp_path / f"make-demo-{admin_password}")
        hub_password = dotenv["DEMO_AIRFLOW_HUB_PASSWORD"]
        prepare_home(make_demo, AirflowSecrets(admin_password, "jwt", "api", "fernet", hub_password))
        written = home / AIRFLOW.passwords_file.name
        assert json.loads(written.read_text()) == json.loads(make_demo.passwords_file.read_text())
        assert json.loads(written.read_text())["admin"] == admin_password
        assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(make_demo.passwords_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(home.stat().st_mode) == 0o700


class _Broker(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # http.server's name
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_hubs_healthcheck_is_what_make_demo_waits_for_before_it_starts_airflow():
    check = SERVICES["hub"]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python3", "-c"]
    code = check[3]
    (url,) = re.findall(r"'(http[^']*)'", code)
    assert url == f"{SETTINGS.hub_url}{SERVICE_PREFIX}health"  # the broker, through the proxy (launcher.py)
    # healthy only while the broker answers 200: run the check against a stand-in at another address
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    here = code.replace(url, f"http://127.0.0.1:{server.server_port}{SERVICE_PREFIX}health")
    no_proxy = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}  # as in the container

    def run_check() -> int:
        return subprocess.run([sys.executable, "-c", here], env=no_proxy, capture_output=True, timeout=30).returncode

    outcomes = {}
    try:
        for status in (200, 503, 404):
            _Broker.status = status
            outcomes[status] = run_check()
    finally:
        server.shutdown()
        server.server_close()
    down = run_check()
    assert outcomes[200] == 0
    assert outcomes[503] != 0 and outcomes[404] != 0 and down != 0


def test_the_hub_starts_after_its_dependencies_are_ready():
    for name, service in SERVICES.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, (name, dependency)
            assert condition["condition"] in ("service_started", "service_healthy", "service_completed_successfully")
    assert SERVICES["hub"]["depends_on"] == {
        "setup": {"condition": "service_completed_successfully"},
        "entra": {"condition": "service_healthy"},
        "terraform": {"condition": "service_completed_successfully"},
        "proxy": {"condition": "service_started"},
    }


def test_airflow_starts_when_make_demo_starts_it_after_the_hub_and_its_broker_are_ready():
    assert SERVICES["airflow-migrate"]["depends_on"] == {
        "setup": {"condition": "service_completed_successfully"},  # AIRFLOW_HOME in the volume
        "hub": {"condition": "service_healthy"},
    }
    api, *others = AIRFLOW_SERVERS
    assert SERVICES[api]["depends_on"] == {"airflow-migrate": {"condition": "service_completed_successfully"}}
    # The scheduler only once the API server answers: a task started earlier cannot reach the execution API.
    health = SERVICES[api]["healthcheck"]["test"][-1]
    assert "http://127.0.0.1:8280/api/v2/monitor/health" in health
    for name in others:
        assert SERVICES[name]["depends_on"] == {api: {"condition": "service_healthy"}}
