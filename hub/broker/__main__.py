"""``python -m hub.broker``: run the credential broker (JupyterHub starts it as a hub-managed service).

Its settings are the hub config's ``CredentialBroker``, ``NotebookJobs``, ``AirflowApi`` and ``AccessPolicyFile``
sections, handed over by ``hub/config/20-credential-broker.py`` (see :mod:`hub.broker.settings`); where the hub's API
is and its own token are JupyterHub's ``JUPYTERHUB_*`` variables, read by JupyterHub's :class:`HubAuth`; its AWS
identity is the AWS SDK's own (``AWS_*`` variables, web identity, instance profile).
"""

import asyncio
import logging
import os
import sqlite3
import sys

from jupyterhub.services.auth import HubAuth
from tornado.ioloop import PeriodicCallback
from traitlets import TraitError

from authenticator.access_policy import AccessPolicyError
from authenticator.policy_file import AccessPolicyFile
from hub.revocation.iam import RevocationPolicy, revocation_policy_arn
from hub.revocation.revoker import Revoker
from hub.revocation.store import RevocationStore

from ..jobs.airflow_api import AirflowApi, resend_queued
from ..jobs.runs import JobRuns
from ..jobs.settings import NotebookJobs
from ..jobs.store import JobStore
from .cache import CredentialCache, TTLCache
from .metrics import BrokerMetrics
from .minting import Minter, sts_client_config
from .service import Broker, HubClient, make_app
from .settings import CONFIG_VARIABLE, CredentialBroker, load_process_config

log = logging.getLogger("aws_broker")


def sts_client(settings: CredentialBroker, region: str):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "sts",
        region_name=region,
        endpoint_url=settings.sts_endpoint_url or None,
        config=Config(**sts_client_config(settings.sts_retry_seconds)),
    )


def revocation_policy(settings: CredentialBroker, region: str, policy_file: AccessPolicyFile) -> RevocationPolicy:
    """The revocations policy, through an IAM client of the broker's own AWS identity (the SDK's IAM endpoint:
    AWS_ENDPOINT_URL_IAM or AWS_ENDPOINT_URL where set)."""
    import boto3
    from botocore.config import Config

    # The same bounded retries and timeouts as the STS client.
    client = boto3.session.Session().client(
        "iam", region_name=region, config=Config(**sts_client_config(settings.sts_retry_seconds))
    )
    return RevocationPolicy(client, revocation_policy_arn(policy_file.policy.deployment))


def aws_region(policy_region: str) -> str:
    """The SDK's region when its environment names one (AWS_REGION, as EKS sets it, or AWS_DEFAULT_REGION), else
    the deployment's region from the access policy."""
    import boto3

    return os.environ.get("AWS_REGION") or boto3.session.Session().region_name or policy_region


def runs_on_role_credentials(client) -> bool:
    """Whether the broker's own identity is an assumed role (then AWS caps the sessions it mints at one hour)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        arn = client.get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError) as e:
        log.warning("Could not ask STS who the broker is (%s); capping sessions at one hour", type(e).__name__)
        return True
    log.info("The broker's AWS identity is %s", arn)
    return ":assumed-role/" in arn


async def serve(
    settings: CredentialBroker,
    jobs_settings: NotebookJobs,
    airflow_api: AirflowApi,
    policy_file: AccessPolicyFile,
    store: RevocationStore,
    hub_auth: HubAuth,
    minter_class: type[Minter],
    credential_cache_class: type[CredentialCache],
) -> None:
    region = aws_region(policy_file.policy.deployment.aws_region)
    client = sts_client(settings, region)
    if settings.chained_sessions == "auto":
        chained = await asyncio.to_thread(runs_on_role_credentials, client)
    else:
        chained = settings.chained_sessions == "true"
    metrics = BrokerMetrics()
    hub = HubClient(hub_auth.api_url, hub_auth.api_token, settings.hub_timeout_seconds)
    revoker = Revoker(store, hub, revocation_policy(settings, region, policy_file))
    # Scheduled runs: no run of a revoked person's jobs starts, and revoking closes their open runs.
    jobs = JobRuns(
        JobStore(jobs_settings.db_path),
        hub,
        policy_file,
        jobs_settings,
        is_revoked=lambda owner: store.find(username=owner) is not None,
    )
    revoker.close_job_runs = lambda owner: jobs.close_runs_of(owner, "Their access was revoked by a hub administrator.")
    broker = Broker(
        hub,
        policy_file,
        minter_class(client, chained=chained, observe_sts=metrics.observe_sts),
        metrics,
        credential_cache_class(settings.cache_margin_seconds),
        TTLCache(settings.token_cache_seconds),
        settings.laptop_token_max_days,
        jobs=jobs,
        revoker=revoker,
    )
    airflow = airflow_api.client()
    app = make_app(broker, hub_auth.base_url, airflow)
    app.listen(settings.port, settings.ip, xheaders=True)
    if airflow is not None:  # run requests Airflow could not be asked for are asked for again
        PeriodicCallback(lambda: resend_queued(broker.jobs.store, airflow), airflow_api.resend_seconds * 1000).start()
    log.info(
        "AWS credential broker listening on %s:%s%s, reached as %s (region %s, sessions capped at one hour: %s)",
        settings.ip,
        settings.port,
        hub_auth.base_url,
        settings.url,
        region,
        chained,
    )
    await asyncio.Event().wait()


def main(minter_class: type[Minter] = Minter, credential_cache_class: type[CredentialCache] = CredentialCache) -> int:
    """Start the broker; the minter and the credential cache are parameters so that other entry points can vary
    them (as the clock and sleep of the parts below are)."""
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s %(name)s] %(message)s")
    try:
        config = load_process_config(os.environ.get(CONFIG_VARIABLE, ""))
        settings = CredentialBroker(config=config)
        jobs_settings = NotebookJobs(config=config)
        airflow_api = AirflowApi(config=config)
        if not jobs_settings.db_path:
            raise TraitError("NotebookJobs.db_path is not set: start the broker from the hub config, which sets it")
        policy_file = AccessPolicyFile(config=config, log=log)
        policy_file.policy  # noqa: B018 - load it now: a missing or invalid file stops the start
        store = RevocationStore(config=config)
        store.revoked()  # open it now: an unset or unwritable path stops the start
        hub_auth = HubAuth()
        if not hub_auth.api_token:
            raise TraitError("JUPYTERHUB_API_TOKEN is not set: run the broker as a hub-managed service of the hub")
    except (TraitError, AccessPolicyError, sqlite3.Error) as e:
        print(f"The AWS credential broker cannot start: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(
            serve(
                settings, jobs_settings, airflow_api, policy_file, store, hub_auth, minter_class, credential_cache_class
            )
        )
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
