"""The person's notebooks in their S3 home, read with their own credentials (minted by the broker for them, as for
their server: the same role, session policy and cache), never with the broker's own identity.

The scheduled-runs page uses them to check that a job's notebook exists (HeadObject) and to offer the person's
notebooks in the form (ListObjectsV2). What the person's session policy does not allow, the page cannot see either.

ref: https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html (404 without the object; 403 when the
     caller may not read it, or may not list the bucket and the object does not exist)
ref: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
"""

import asyncio
import logging
from dataclasses import dataclass

from authenticator.safe_names import safe_name

from ..broker.errors import Refusal
from ..broker.grants import decide_grant_for
from ..broker.minting import Credentials
from .validation import NOTEBOOK_SUFFIX

log = logging.getLogger("aws_broker.jobs")
# The audit line's kind for the page's own use of the person's credentials (listing and checking their notebooks).
JOBS_PAGE = "jobs-page"

# The form offers at most this many notebooks (the path field takes any other).
LISTED_MAX = 500
# Folders of the home that hold no notebooks to schedule: the runs' outputs, JupyterLab's checkpoints.
SKIPPED_FOLDERS = ("runs/", ".ipynb_checkpoints/")


class NotebookCheckFailed(Exception):
    """S3 could not say whether the notebook exists; ``message`` is for the person."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Home:
    bucket: str
    prefix: str  # "home/<name>/"

    def url(self, path: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{path}"


def home_of(policy, username: str) -> Home:
    """The person's home in the notebook bucket (the access policy's ``home_prefix`` and their safe name)."""
    location = policy.deployment.home_location(safe_name(username))
    return Home(location.bucket, location.prefix)


def listed_notebooks(keys: list[str], prefix: str) -> list[str]:
    """The paths (relative to the home) of the notebooks among ``keys``, sorted, outputs and checkpoints left out."""
    paths = (key[len(prefix) :] for key in keys if key.startswith(prefix))
    return sorted(
        path
        for path in paths
        if path.endswith(NOTEBOOK_SUFFIX)
        and not path.startswith(SKIPPED_FOLDERS)
        and "/.ipynb_checkpoints/" not in path
    )


class HomeNotebooks:
    """One person's home, as their own credentials for one of their roles see it."""

    def __init__(self, broker, user_model: dict, access_group: str):
        self.broker, self.user_model, self.access_group = broker, user_model, access_group
        policy = broker.policy_file.policy
        self.home = home_of(policy, user_model["name"])
        self.region = policy.deployment.aws_region

    async def _credentials(self) -> Credentials:
        grant = decide_grant_for(
            self.user_model,
            self.broker.policy_file.policy,
            self.access_group,
            not_eligible=f"You are no longer eligible for the role of access group {self.access_group!r} (your roles "
            "now: {roles}): choose one of them for the job.",
        )
        credentials, _ = await self.broker.issue(grant, JOBS_PAGE)
        return credentials

    def _client(self, credentials: Credentials):
        import boto3

        # The endpoint is the AWS SDK's own choice (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL where a stand-in is used).
        return boto3.session.Session().client(
            "s3",
            region_name=self.region,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
        )

    async def exists(self, path: str) -> bool:
        """Whether the notebook ``path`` (relative to the home) exists; :class:`NotebookCheckFailed` or a
        :class:`Refusal` (no longer eligible, STS) when that cannot be said."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client(await self._credentials())

        def head() -> bool:
            try:
                client.head_object(Bucket=self.home.bucket, Key=f"{self.home.prefix}{path}")
            except ClientError as e:
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 404:
                    return False
                if status == 403:
                    raise NotebookCheckFailed(
                        f"Your AWS role may not read {self.home.url(path)}: choose a notebook in your home."
                    ) from None
                raise
            return True

        try:
            return await asyncio.to_thread(head)
        except (BotoCoreError, ClientError) as e:
            log.warning("Could not check %s for %s: %s", self.home.url(path), self.user_model["name"], e)
            raise NotebookCheckFailed(
                "S3 did not answer whether the notebook exists, so nothing was saved: try again in a minute."
            ) from None

    async def notebooks(self) -> list[str]:
        """The paths of the person's notebooks (at most :data:`LISTED_MAX`); [] when S3 cannot list them (the
        form's path field still takes any path)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client = self._client(await self._credentials())
        except Refusal:
            return []

        def list_keys() -> list[str]:
            keys: list[str] = []
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.home.bucket, Prefix=self.home.prefix
            ):
                keys.extend(item["Key"] for item in page.get("Contents", ()))
                if len(keys) >= 10 * LISTED_MAX:  # a home of mostly data files: enough looked at
                    break
            return keys

        try:
            keys = await asyncio.to_thread(list_keys)
        except (BotoCoreError, ClientError) as e:
            log.warning("Could not list %s for %s: %s", self.home.url(), self.user_model["name"], e)
            return []
        return listed_notebooks(keys, self.home.prefix)[:LISTED_MAX]
