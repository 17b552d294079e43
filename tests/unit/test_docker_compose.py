"""docker-compose.yml, checked without Docker: every build context, Dockerfile, image, port, mount, path and setting
points at something that exists, and the stack is the one `make demo` runs (hub/local_stack/plan.py)."""

import json
import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

from authenticator.access_policy import load_access_policy
from entra_emulator.__main__ import parse_args
from entra_emulator.directory import load_directory
from hub.local_stack import plan

pytestmark = pytest.mark.unit

REPO = plan.REPO
COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
SETTINGS = plan.settings_from_env({})  # the default ports: what the README and docker-compose.yml use
POLICY = load_access_policy(plan.DEMO_POLICY)
HUB_IMAGE_DOCKERFILE = "hub/images/hub/Dockerfile"
# ${NAME:?message}: a value compose takes from the .env file, refusing to start without it.
FROM_ENV_FILE = re.compile(r"^\$\{([A-Z][A-Z0-9_]*):\?[^}]+\}$")
SERVICE_KEYS = {
    "image", "build", "user", "network_mode", "ports", "volumes", "environment", "entrypoint", "command",
    "depends_on", "healthcheck",
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
        found += re.findall(r"(?<![\w:/.])(/(?:srv|src|state|tfstate)(?:/[\w.\-]+)*)", str(text))
    return found


def test_services_use_only_keys_this_file_is_checked_for():
    assert set(SERVICES) == {"moto", "setup", "entra", "terraform", "proxy", "hub"}
    for name, service in SERVICES.items():
        assert set(service) <= SERVICE_KEYS, name
        assert set(service) & {"image", "build"}, f"{name} has no image"


def test_the_hub_image_is_built_from_the_hub_dockerfile_by_every_service_that_runs_it():
    built = {name: s for name, s in SERVICES.items() if "build" in s}
    assert set(built) == {"setup", "entra", "hub"}
    for service in built.values():
        context = REPO / service["build"]["context"]
        assert context.resolve() == REPO
        assert (context / service["build"]["dockerfile"]).is_file()
        assert service["build"]["dockerfile"] == HUB_IMAGE_DOCKERFILE
        assert service["image"] == "entra-aws-jupyterhub/hub:local"
    assert "FROM quay.io/jupyterhub/k8s-hub:4.4.0" in (REPO / HUB_IMAGE_DOCKERFILE).read_text()


def test_other_images_are_the_versions_the_repository_runs():
    moto = re.search(r"^moto==(\S+)$", (REPO / "requirements" / "dev.txt").read_text(), re.MULTILINE).group(1)
    assert SERVICES["moto"]["image"] == f"motoserver/moto:{moto}"
    chart = yaml.safe_load((REPO.parent / "shared" / "reference" / "z2jh-4.4.0" / "values.yaml").read_text())
    chp = chart["proxy"]["chp"]["image"]
    assert SERVICES["proxy"]["image"] == f"{chp['name']}:{chp['tag']}", "the chart's proxy image"
    assert re.fullmatch(r"hashicorp/terraform:1\.11\.\d+", SERVICES["terraform"]["image"]), "Terraform 1.11, as tested"


def test_the_ports_are_make_demos_on_loopback_only_and_everyone_shares_one_network():
    published = {name: SETTINGS.ports[name] for name in ("hub", "entra", "moto")}
    assert SERVICES["moto"]["ports"] == [f"127.0.0.1:{port}:{port}" for port in published.values()]
    assert published == {"hub": 8000, "entra": 8443, "moto": 5000}
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
    for name in ("setup", "entra", "hub"):
        assert ("state", "/state") in mounts(name)
    assert all(v.endswith(":ro") for n in SERVICES for v in SERVICES[n].get("volumes") or [] if v.startswith("./"))


def test_every_path_in_a_command_or_setting_exists_or_is_made_at_run_time():
    checked = 0
    for name, service in SERVICES.items():
        values = [*env_of(name).values(), service.get("command"), service.get("entrypoint")]
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
    assert checked >= 7
    assert resolve("hub", env_of("hub")["LOCAL_STACK_POLICY_FILE"]) == plan.DEMO_POLICY
    assert resolve("hub", SERVICES["hub"]["command"][-1]) == plan.HUB_CONFIG
    assert resolve("hub", env_of("hub")["LOCAL_STACK_HUB_CONFIG_DIR"]) == REPO / "hub" / "config"
    assert resolve("entra", "/srv/emulator/entra_emulator/__main__.py") == REPO / "entra_emulator" / "__main__.py"
    assert resolve("setup", "/src/user-requirements.txt") == REPO / "hub" / "images" / "user" / "requirements.txt"
    assert resolve("terraform", "/src/terraform/examples/complete/main.tf").is_file()


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
    the = plan.new_secrets()
    expected = plan.hub_environment({}, SETTINGS, the, emulator, POLICY, "/venv/bin/python")
    hub = env_of("hub")
    # The image has the project installed (no PYTHONPATH); its config files live where compose mounts them.
    assert set(hub) == set(expected) - {"PYTHONPATH"}
    tenant = load_directory(plan.DEMO_DIRECTORY).tenant_id
    assert hub["LOCAL_STACK_ENTRA_TENANT_ID"] == tenant
    same = (
        "LOCAL_STACK_ENTRA_URL", "LOCAL_STACK_GRAPH_URL", "LOCAL_STACK_USERNAME_STRIP_DOMAINS",
        "LOCAL_STACK_ENTRA_CLIENT_ID", "LOCAL_STACK_BROKER_PORT", "LOCAL_STACK_MOTO_URL", "AWS_ENDPOINT_URL",
        "AWS_REGION", "LOCAL_STACK_HUB_PORT", "LOCAL_STACK_HUB_API_PORT", "LOCAL_STACK_PROXY_API_PORT",
    )  # fmt: skip
    assert {k: hub[k] for k in same} == {k: expected[k] for k in same}
    assert hub["LOCAL_STACK_PROXY_COMMAND"] == "", "the proxy runs as its own service"


def test_the_proxy_listens_where_the_hub_expects_it():
    hub, args = env_of("hub"), dict(a.removeprefix("--").split("=", 1) for a in SERVICES["proxy"]["command"])
    assert SERVICES["proxy"]["entrypoint"] == ["configurable-http-proxy"]
    assert args["port"] == hub["LOCAL_STACK_HUB_PORT"]
    assert args["api-port"] == hub["LOCAL_STACK_PROXY_API_PORT"]
    assert args["default-target"] == f"http://127.0.0.1:{hub['LOCAL_STACK_HUB_API_PORT']}"
    assert args["error-target"] == f"http://127.0.0.1:{hub['LOCAL_STACK_HUB_API_PORT']}/hub/error"


def test_secrets_come_only_from_the_env_file_and_the_same_one_wherever_it_is_used():
    secret_like = re.compile(r"SECRET|PASSWORD|CRYPT_KEY|TOKEN|ACCESS_KEY_ID")
    references = {}
    for name in SERVICES:
        for variable, value in env_of(name).items():
            if secret_like.search(variable):
                match = FROM_ENV_FILE.match(str(value))
                assert match, f"{name}.{variable} must come from .env, not be written here"
                references[(name, variable)] = match.group(1)
    assert references[("entra", "ENTRA_EMULATOR_CLIENT_SECRET")] == references[("hub", "OAUTH_CLIENT_SECRET")]
    assert references[("proxy", "CONFIGPROXY_AUTH_TOKEN")] == references[("hub", "CONFIGPROXY_AUTH_TOKEN")]
    assert references[("terraform", "AWS_ACCESS_KEY_ID")] == references[("hub", "AWS_ACCESS_KEY_ID")]
    recipe = set(re.findall(r"^#   ([A-Z_]+)=", COMPOSE_TEXT, re.MULTILINE))
    assert set(references.values()) == recipe, "the .env recipe at the top makes exactly the variables used"


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
