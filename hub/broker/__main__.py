"""``python -m hub.broker``: run the credential broker (JupyterHub starts it as a hub-managed service)."""

import asyncio
import logging
import sys

from authenticator.access_policy import AccessPolicyError
from authenticator.policy_file import AccessPolicyFile as PolicyFile

from .cache import CredentialCache, TTLCache
from .metrics import BrokerMetrics
from .minting import Minter
from .service import Broker, HubClient, make_app
from .settings import BrokerConfigError, BrokerSettings

log = logging.getLogger("aws_broker")


def sts_client(settings: BrokerSettings, region: str):
    import boto3
    from botocore.config import Config

    # Retries are the broker's own (throttling only, bounded in time); one attempt per call here.
    config = Config(
        retries={"total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=10,
        max_pool_connections=50,
    )
    return boto3.session.Session().client(
        "sts", region_name=region, endpoint_url=settings.sts_endpoint_url, config=config
    )


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


async def serve(settings: BrokerSettings, policy_file: PolicyFile) -> None:
    region = settings.region or policy_file.policy.deployment.aws_region
    client = sts_client(settings, region)
    if settings.chained_sessions == "auto":
        chained = await asyncio.to_thread(runs_on_role_credentials, client)
    else:
        chained = settings.chained_sessions == "true"
    metrics = BrokerMetrics()
    if settings.test_lifetime_seconds:
        log.warning(
            "TEST SETTING BROKER_TEST_CREDENTIAL_LIFETIME_SECONDS: credentials served as expiring %ss after minting",
            settings.test_lifetime_seconds,
        )
    minter = Minter(
        client,
        chained=chained,
        retry_budget_seconds=settings.sts_retry_seconds,
        test_lifetime_seconds=settings.test_lifetime_seconds,
        observe_sts=metrics.observe_sts,
    )
    broker = Broker(
        HubClient(settings.hub_api_url, settings.service_token, settings.hub_timeout_seconds),
        policy_file,
        minter,
        metrics,
        CredentialCache(settings.cache_margin_seconds, enabled=not settings.benchmark_no_cache),
        TTLCache(settings.token_cache_seconds),
    )
    app = make_app(broker, settings.prefix)
    app.listen(settings.listen_port, settings.listen_host, xheaders=True)
    log.info(
        "AWS credential broker listening on %s:%s%s (region %s, sessions capped at one hour: %s)",
        settings.listen_host,
        settings.listen_port,
        settings.prefix,
        region,
        chained,
    )
    await asyncio.Event().wait()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s %(name)s] %(message)s")
    try:
        settings = BrokerSettings.from_env()
        policy_file = PolicyFile(path=settings.access_policy_file, log=logging.getLogger("aws_broker"))
        policy_file.policy  # noqa: B018 - a bad file stops start-up
    except (BrokerConfigError, AccessPolicyError) as e:
        print(f"The AWS credential broker cannot start: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings, policy_file))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
