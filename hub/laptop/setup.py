"""What the page "Use AWS from your laptop" tells a person to put on their laptop: pure builders, no I/O.

The AWS CLI and SDKs run ``credential_process`` without a shell: a path in it must be full (no ``~``, no ``$HOME`` or
``%USERPROFILE%``), of the characters A-Z a-z 0-9 - _ . and space, in double quotes when it has a space (on every
operating system). So the profile names the helper by its full path, from the home folder the person gives.
ref: https://docs.aws.amazon.com/cli/v1/userguide/cli-configure-sourcing-external.html (Syntax)
"""

import re
from dataclasses import dataclass

# Where on the laptop, under the person's home folder: beside the AWS CLI's own config, in a folder of its own.
FOLDER = (".aws", "jupyterhub")
HELPER_NAME = "aws_credential_process.py"
_WINDOWS_HOME = re.compile(r"^[A-Za-z]:[\\/]")
# A full path (POSIX, or a Windows drive) of the characters the AWS CLI accepts in credential_process.
_HOME = re.compile(r"^(/|[A-Za-z]:[\\/])[A-Za-z0-9 _.\-/\\]{0,200}$")


class SetupError(ValueError):
    """A value from the page's form that cannot be used; the message says what to give instead."""


def is_windows_home(home: str) -> bool:
    return _WINDOWS_HOME.match(home) is not None


def checked_home(text: str) -> str:
    """The laptop's home folder as typed: a full path (``/Users/sam``, ``/home/sam``, ``C:\\Users\\sam``)."""
    home = (text or "").strip()
    if not _HOME.fullmatch(home):
        raise SetupError(
            "Give your laptop's home folder as a full path, for example /Users/sam (macOS), /home/sam (Linux) or "
            "C:\\Users\\sam (Windows), of letters, digits, spaces and - _ . (what the AWS tools accept there)."
        )
    return home.rstrip("/\\") or "/"


@dataclass(frozen=True)
class LaptopSetup:
    profile: str  # the AWS profile's name
    helper_path: str  # where the person saves the helper
    token_path: str  # where the store command writes the token
    config_text: str  # the profile, for the AWS config file
    config_file: str  # the AWS config file it goes into
    store_command: str  # stores the token (read from standard input)
    check_command: str  # shows who the profile acts as


def laptop_setup(*, home: str, profile_prefix: str, access_group: str, broker_url: str, region: str) -> LaptopSetup:
    """Paths, the AWS profile and the commands for one access group on a laptop whose home folder is ``home``."""
    windows = is_windows_home(home)
    separator = "\\" if windows else "/"
    folder = separator.join([home.rstrip("/\\"), *FOLDER])
    profile = f"{profile_prefix}-{access_group}"
    helper_path = f"{folder}{separator}{HELPER_NAME}"
    token_path = f"{folder}{separator}{profile}.token"
    python = "python" if windows else "python3"  # the names python.org's installers put on the PATH
    helper = f"{python} {quote(helper_path)}"
    config_text = (
        f"[profile {profile}]\n"
        f"credential_process = {helper} --broker-url {quote(broker_url)} --token-file {quote(token_path)}\n"
        f"region = {region}\n"
    )
    return LaptopSetup(
        profile=profile,
        helper_path=helper_path,
        token_path=token_path,
        config_text=config_text,
        config_file=separator.join([home.rstrip("/\\"), ".aws", "config"]),
        store_command=f"{helper} store-token --token-file {quote(token_path)}",
        check_command=f"aws sts get-caller-identity --profile {profile}",
    )


def quote(text: str) -> str:
    """Double quotes around a word with a space: how credential_process groups words on every operating system (and
    how shells do, for the store command; the characters allowed in paths need no escaping)."""
    return f'"{text}"' if " " in text else text
