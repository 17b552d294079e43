"""The hub and user images' Dockerfiles (they cannot be built here): base image and tag, install lines, pins, no
secrets, a non-root user; and that what they install agrees with the tested pins and the chart's hub image."""

import random
import re
import string
from pathlib import Path

import pytest

from hub.kubernetes_secrets import is_secret_env_name
from tests.kubernetes.chart import REPO, reference_file

pytestmark = pytest.mark.kubernetes

HUB = REPO / "hub" / "images" / "hub"
USER = REPO / "hub" / "images" / "user"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    result, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\") + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            result.append((keyword.upper(), " ".join(arguments.split())))
            pending = ""
    return result


def pins(requirements: Path) -> dict[str, str]:
    """name -> version of a pip requirements file (names normalised)."""
    found = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[3]
    return found


def hashed_pins(requirements: Path) -> dict[str, int]:
    """name -> number of --hash options of each pin."""
    counts, current = {}, None
    for line in requirements.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if match:
            current = re.sub(r"[-_.]+", "-", match[1]).lower()
            counts[current] = 0
        elif current and line.strip().startswith("--hash=sha256:"):
            counts[current] += 1
    return counts


def last(items, keyword):
    return [arguments for kw, arguments in items if kw == keyword][-1]


def secrets_in(dockerfile: Path) -> list[str]:
    problems = []
    for keyword, arguments in instructions(dockerfile):
        if keyword in ("ARG", "ENV"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", arguments) or [arguments.split("=")[0]]:
                if is_secret_env_name(name):
                    problems.append(f"{keyword} {name}")
    text = dockerfile.read_text()
    for pattern in (r"AKIA[0-9A-Z]{16}", r"(?i)aws_secret_access_key", r"(?i)password\s*=", r"(?i)token\s*=\s*\S"):
        problems += re.findall(pattern, text)
    return problems


# ---- the hub image -------------------------------------------------------------------------------------------------


def test_hub_image_builds_on_the_charts_hub_image_only():
    bases = [arguments.split()[0] for keyword, arguments in instructions(HUB / "Dockerfile") if keyword == "FROM"]
    assert bases == ["quay.io/jupyterhub/k8s-hub:4.4.0", "quay.io/jupyterhub/k8s-hub:4.4.0"]


def test_hub_image_adds_exactly_what_the_base_lacks_at_the_pinned_versions():
    base = pins(reference_file("hub-requirements.txt"))
    project = pins(REPO / "requirements" / "hub.txt")
    added = pins(HUB / "requirements.txt")
    assert sorted(added) == sorted(set(project) - set(base))
    assert {name: project[name] for name in added} == added
    assert set(added) & set(base) == set(), "nothing the base image pins is installed again"
    assert all(count >= 1 for count in hashed_pins(HUB / "requirements.txt").values())


def test_the_constraints_used_by_make_lock_are_the_reference_images_pins():
    assert pins(REPO / "requirements" / "k8s-hub-4.4.0-constraints.txt") == pins(reference_file("hub-requirements.txt"))


def test_hub_image_install_lines_take_no_dependencies_and_check_the_result():
    final_stage = instructions(HUB / "Dockerfile")
    final_stage = final_stage[max(i for i, (kw, _) in enumerate(final_stage) if kw == "FROM") :]
    installs = [
        command
        for keyword, arguments in final_stage
        if keyword == "RUN"
        for command in arguments.split("&&")
        if "pip install" in command
    ]
    assert [c.strip() for c in installs] == [
        "python3 -m pip install --no-cache-dir --no-deps --require-hashes -r /tmp/requirements.txt",
        "python3 -m pip install --no-cache-dir --no-deps /tmp/wheels/entra_aws_jupyterhub-*.whl",
    ]
    assert any("pip check" in arguments for keyword, arguments in final_stage if keyword == "RUN")
    assert all(count >= 1 for count in hashed_pins(HUB / "build-requirements.txt").values())


def test_hub_image_runs_as_the_charts_non_root_user():
    assert last(instructions(HUB / "Dockerfile"), "USER") == "1000"


# ---- the user image ------------------------------------------------------------------------------------------------


def test_user_image_builds_on_a_pinned_official_python_image_matching_the_lock():
    [base] = [arguments for keyword, arguments in instructions(USER / "Dockerfile") if keyword == "FROM"]
    match = re.fullmatch(r"python:(3\.(\d+))\.\d+-slim-bookworm", base)
    assert match, f"FROM {base}: pin the patch release of the official image"
    header = (USER / "requirements.txt").read_text().splitlines()[1]
    assert f"-p {match[1]}" in header, "requirements.txt must be compiled for the image's Python"


def test_user_image_pins_everything_with_hashes_at_the_tested_versions():
    image = pins(USER / "requirements.txt")
    tested = pins(REPO / "requirements" / "dev.txt")
    hub = pins(REPO / "requirements" / "hub.txt")
    assert image["s3contents"] == "0.11.2"
    assert image["jupyterhub"] == hub["jupyterhub"], "jupyterhub-singleuser matches the hub"
    assert "jupyterlab" in image and "boto3" in image and "awscli" in image
    assert {name: image[name] for name in image if name in tested} == {
        name: tested[name] for name in image if name in tested
    }
    assert all(count >= 1 for count in hashed_pins(USER / "requirements.txt").values())
    install = [arguments for keyword, arguments in instructions(USER / "Dockerfile") if "pip install" in arguments]
    assert install == [
        "python3 -m pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt "
        "&& python3 -m pip check && rm /tmp/requirements.txt"
    ]


def test_user_image_carries_the_credential_helper_where_the_aws_config_runs_it(generator):
    copies = [arguments for keyword, arguments in instructions(USER / "Dockerfile") if keyword == "COPY"]
    helper_path = generator.HELPER_COMMAND.split()[-1]
    assert f"hub/aws_credential_process.py {helper_path}" in copies
    assert "hub/user-server/jupyter_server_config.py /etc/jupyter/jupyter_server_config.py" in copies
    assert "hub/user-server/s3_folder_listing.py /etc/jupyter/s3_folder_listing.py" in copies  # the config imports it
    assert generator.HELPER_COMMAND.startswith("python3 -I ")


def test_user_image_runs_as_the_user_the_chart_expects(project_values):
    items = instructions(USER / "Dockerfile")
    assert last(items, "USER") == str(project_values["singleuser"]["uid"]) == "1000"
    useradd = next(a for k, a in items if k == "RUN" and "useradd" in a)
    assert f"--uid {project_values['singleuser']['uid']} --gid {project_values['singleuser']['fsGid']}" in useradd
    assert last(items, "CMD") == f'["{project_values["singleuser"]["cmd"]}"]'


# ---- both ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", [HUB / "Dockerfile", USER / "Dockerfile"], ids=["hub", "user"])
def test_no_secret_in_the_dockerfile(dockerfile):
    assert secrets_in(dockerfile) == []


def test_the_secret_check_is_not_vacuous(tmp_path):
    # A key id of the real shape, made at run time: no credential-looking literal lives in the repository.
    key_id = "AKIA" + "".join(random.choices(string.ascii_uppercase + string.digits, k=16))
    leaky = tmp_path / "Dockerfile"
    leaky.write_text(f"FROM python:3.11.14-slim-bookworm\nARG GITHUB_TOKEN\nENV AWS_ACCESS_KEY_ID={key_id}\n")
    assert secrets_in(leaky) == ["ARG GITHUB_TOKEN", key_id]


@pytest.mark.parametrize("dockerfile", [HUB / "Dockerfile", USER / "Dockerfile"], ids=["hub", "user"])
def test_every_copied_file_is_in_the_build_context(dockerfile):
    """The images build from the repository root; .dockerignore lets only what they need in."""
    rules = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*", ".dockerignore lists what goes in, not what stays out"

    def included(path: str) -> bool:
        verdict = False
        for rule in rules:
            pattern = rule.removeprefix("!").rstrip("/")
            if pattern == "*" or path == pattern or path.startswith(pattern + "/"):
                verdict = rule.startswith("!")
        return verdict

    for keyword, arguments in instructions(dockerfile):
        if keyword == "COPY" and "--from=" not in arguments:
            *sources, _ = [a for a in arguments.split() if not a.startswith("--")]
            for source in sources:
                assert (REPO / source).exists(), f"{dockerfile.name}: COPY {source}: no such file"
                assert included(source), f"{dockerfile.name}: COPY {source}: excluded by .dockerignore"
    assert not included(".venv") and not included("tests") and not included("hub/demo")


def test_the_image_requirement_inputs_say_how_to_re_pin():
    for folder in (HUB, USER):
        header = (folder / "requirements.txt").read_text().splitlines()[:2]
        assert header[0] == "# This file was autogenerated by uv via the following command:"
        assert header[1].startswith(f"#    uv pip compile hub/images/{folder.name}/requirements.in ")
