"""Where the access policy file is, and the policy it holds now: one setting for the authenticator, the spawner and
the broker (``c.AccessPolicyFile.path``), and one reload rule.

The file is reloaded when it changes (looked at most every ``check_seconds``). An invalid new version is logged and
the previous policy stays in force: a typo in a ConfigMap must not lock everyone out. The first load raises
:class:`AccessPolicyError`, so a bad file still stops start-up.
"""

import os
import threading
import time

from traitlets import Float, TraitError, Unicode, validate
from traitlets.config import LoggingConfigurable

from .access_policy import AccessPolicy, AccessPolicyError, load_access_policy


class AccessPolicyFile(LoggingConfigurable):
    """The access policy file. Configure as ``c.AccessPolicyFile.path`` (Helm: ``hub.config.AccessPolicyFile.path``)."""

    path = Unicode(
        "",
        config=True,
        help="""
        Path of the access policy YAML: which Entra groups grant which AWS role and S3 locations, and which make
        hub admins. The same file Terraform reads. Required: the authenticator, the spawner and the credential broker
        all read it, and a missing or invalid file stops the hub at start-up (run `entra-access check --policy FILE`
        before deploying a change). A changed file is picked up without a restart (see `check_seconds`); if the new
        content is invalid, the previous policy stays in force and an error is logged.
        """,
    )

    check_seconds = Float(
        10,
        config=True,
        help="How often, at most, to look whether the access policy file (`path`) has changed.",
    )

    @validate("check_seconds")
    def _valid_check_seconds(self, proposal):
        if proposal.value < 0:
            raise TraitError(f"AccessPolicyFile.check_seconds must be 0 or more (got {proposal.value!r})")
        return proposal.value

    @property
    def policy(self) -> AccessPolicy:
        """The policy in force, loaded on first use. Raises ``TraitError`` when no path is set and
        :class:`AccessPolicyError` when the file cannot be loaded."""
        if not self.path:
            raise TraitError(
                "AccessPolicyFile.path is not set: point it at the access policy YAML "
                "(c.AccessPolicyFile.path in the hub config; hub.config.AccessPolicyFile.path in the Helm values)"
            )
        return _loaded(self.path, self.check_seconds, self.log).policy


class _LoadedPolicy:
    """One file's current policy, shared by every component in the process that names the same path."""

    def __init__(self, path: str, check_seconds: float, log):
        self.path, self.check_seconds, self._log = path, check_seconds, log
        self._policy = load_access_policy(path)
        self._mtime = os.stat(path).st_mtime
        self._checked = time.monotonic()

    @property
    def policy(self) -> AccessPolicy:
        now = time.monotonic()
        if now - self._checked >= self.check_seconds:
            self._checked = now
            try:
                mtime = os.stat(self.path).st_mtime
                if mtime != self._mtime:
                    self._policy, self._mtime = load_access_policy(self.path), mtime
                    self._log.info("Access policy reloaded from %s", self.path)
            except (OSError, AccessPolicyError) as e:
                self._log.error("Access policy not reloaded, the previous one stays in force: %s", e)
        return self._policy


_files: dict[str, _LoadedPolicy] = {}
_files_lock = threading.Lock()


def _loaded(path: str, check_seconds: float, log) -> _LoadedPolicy:
    with _files_lock:
        loaded = _files.get(path)
        if loaded is None:
            loaded = _files[path] = _LoadedPolicy(path, check_seconds, log)
        return loaded
