"""The notebook of a run as another OS user than the Airflow task that starts it (privilege separation).

The task holds the scheduler's hub token (which can start anyone's due run) and Airflow's task token. Code in a
notebook run as the same OS user could read them from the task's process (``/proc/<pid>/environ``). With
``NOTEBOOK_RUN_AS_USER`` set, papermill and the kernel run as that user instead: another uid, no supplementary group,
no capability (the kernel drops them all when a process leaves uid 0), so the task's ``/proc`` entries and its
root-only files are closed to the notebook. Empty (the local stack): the notebook runs as the task's user, as before.

Switching needs the task to run as root with the capabilities in :data:`SWITCH_CAPABILITIES` (the job pod's, in
helm/airflow-values.yaml). The pure parts (:func:`effective_capabilities`, :func:`refusal`,
:func:`probe_command`) are tested against literal values; :func:`check_switch` tries the switch itself once.
"""

import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

RUN_AS_USER_ENV = "NOTEBOOK_RUN_AS_USER"
# What the task needs to run the notebook as another user (Linux capability numbers, linux/capability.h):
# SETUID, SETGID to switch (and drop the supplementary groups); CHOWN to give the user its private folder;
# DAC_OVERRIDE to read the executed notebook back from that folder (0700, the user's) and remove it.
SWITCH_CAPABILITIES = {"CHOWN": 0, "DAC_OVERRIDE": 1, "SETGID": 6, "SETUID": 7}
PROBE_TIMEOUT_SECONDS = 30
FIX = "tell your administrator"


@dataclass(frozen=True)
class NotebookUser:
    name: str
    uid: int
    gid: int

    def process_identity(self) -> dict:
        """``subprocess`` arguments that start a process as this user, with its own group and no other."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


# ---- pure -----------------------------------------------------------------------------------------------------------


def effective_capabilities(proc_status: str) -> frozenset[str]:
    """Which of :data:`SWITCH_CAPABILITIES` a process has, from its ``/proc/<pid>/status`` text (``CapEff``)."""
    for line in proc_status.splitlines():
        if line.startswith("CapEff:"):
            mask = int(line.split(":", 1)[1].strip(), 16)
            return frozenset(name for name, bit in SWITCH_CAPABILITIES.items() if mask >> bit & 1)
    return frozenset()


def refusal(setting: str, user: NotebookUser | None, own_uid: int, capabilities: frozenset[str]) -> str | None:
    """Why the notebook cannot run as ``setting`` (the variable's value), in words; None when it can."""
    who = f'the notebook cannot run as "{setting}" ({RUN_AS_USER_ENV})'
    if user is None:
        return f"{who}: no such user where the task runs; {FIX} (it must name an existing user, e.g. jovyan)"
    if user.uid == 0:
        return f"{who}: that is root, which would give the notebook every privilege; {FIX} (it must name another user)"
    if user.uid == own_uid:
        return (
            f"{who}: that is the user the task itself runs as (uid {own_uid}), so the notebook could read the "
            f"scheduler's token; {FIX} (the task must run as root to switch, helm/airflow-values.yaml)"
        )
    missing = sorted(set(SWITCH_CAPABILITIES) - capabilities)
    if missing:
        return (
            f"{who}: the task (uid {own_uid}) lacks the capabilities {', '.join(missing)} needed to switch users; "
            f"{FIX} (the job pod's container runs as root with {', '.join(SWITCH_CAPABILITIES)})"
        )
    return None


def probe_command(python: str, helper: Path) -> list[str]:
    """What the notebook's user must be able to do: start the run's Python and read the credential helper."""
    return [python, "-I", "-c", "import sys; open(sys.argv[1], 'rb').close()", str(helper)]


# ---- I/O ------------------------------------------------------------------------------------------------------------


def find_user(setting: str) -> NotebookUser | None:
    """The user a name or a uid names, from the user database; None when there is none."""
    try:
        entry = pwd.getpwuid(int(setting)) if setting.isdigit() else pwd.getpwnam(setting)
    except KeyError:
        return None
    return NotebookUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def check_switch(setting: str, python: str, helper: Path) -> NotebookUser:
    """The user to run notebooks as, after trying the switch once; raises :class:`CannotRunAs` with the reason."""
    user = find_user(setting)
    reason = refusal(setting, user, os.geteuid(), effective_capabilities(Path("/proc/self/status").read_text()))
    if reason:
        raise CannotRunAs(reason)
    who = f'the notebook cannot run as "{setting}" ({RUN_AS_USER_ENV})'
    try:
        probe = subprocess.run(
            probe_command(python, helper),
            **user.process_identity(),
            env={},
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except OSError as e:  # the switch itself (setgroups, setgid, setuid) or starting the Python as that user
        raise CannotRunAs(f"{who}: starting {python} as that user failed: {e.strerror or e}; {FIX}") from None
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        raise CannotRunAs(f"{who}: as that user, {python} cannot read the credential helper {helper}: {last}; {FIX}")
    return user


def hand_over(paths: list[Path], user: NotebookUser) -> None:
    """Make what the wrapper prepared the notebook user's own (a symlink is never followed)."""
    for path in paths:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def read_users_file(path: Path, uid: int) -> bytes | None:
    """A file the notebook wrote, read only if its user could read it anyway: a regular file (not a symlink the
    notebook planted to a file of the task's, not a FIFO) owned by that user. None otherwise, or when absent."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as f:
        status = os.fstat(f.fileno())
        if not stat.S_ISREG(status.st_mode) or status.st_uid != uid:
            return None
        return f.read()


class CannotRunAs(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
