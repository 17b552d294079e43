"""The broker's settings, from its environment (the hub passes them to the hub-managed service).

Set by JupyterHub for every hub-managed service: ``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_API_URL``,
``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_SERVICE_PREFIX``. Set by ``hub/config/20-credential-broker.py``:

==========================================  =====================================================================
``ACCESS_POLICY_FILE``                      the access policy YAML, the same file the authenticator reads
``BROKER_STS_ENDPOINT_URL``                 STS endpoint override (default: ``AWS_ENDPOINT_URL``, then AWS's)
``BROKER_CACHE_MARGIN_SECONDS``             reuse credentials until this long before expiry (900, botocore's)
``BROKER_TOKEN_CACHE_SECONDS``              remember who a token belongs to this long (30)
``BROKER_STS_RETRY_SECONDS``                time budget for retrying STS throttling (10)
``BROKER_HUB_TIMEOUT_SECONDS``              limit for each hub API request (10)
``BROKER_CHAINED_SESSIONS``                 ``auto`` (default: ask STS who the broker is), ``true`` or ``false``
``BROKER_TEST_CREDENTIAL_LIFETIME_SECONDS`` TEST ONLY: pretend credentials expire after this many seconds
``BROKER_BENCHMARK_NO_CACHE``               BENCHMARK ONLY: ``true`` mints on every request (uncached figures)
==========================================  =====================================================================
"""

import os
from dataclasses import dataclass
from urllib.parse import urlparse


class BrokerConfigError(ValueError):
    """A setting is missing or wrong; the message names the variable and the fix."""


@dataclass(frozen=True)
class BrokerSettings:
    hub_api_url: str
    service_token: str
    listen_host: str
    listen_port: int
    prefix: str
    access_policy_file: str
    sts_endpoint_url: str | None = None
    region: str | None = None
    cache_margin_seconds: float = 900.0
    token_cache_seconds: float = 30.0
    sts_retry_seconds: float = 10.0
    hub_timeout_seconds: float = 10.0
    chained_sessions: str = "auto"
    test_lifetime_seconds: float | None = None
    benchmark_no_cache: bool = False

    @classmethod
    def from_env(cls, env=None) -> "BrokerSettings":
        env = os.environ if env is None else env

        def required(name, fix):
            value = env.get(name, "").strip()
            if not value:
                raise BrokerConfigError(f"{name} is not set: {fix}")
            return value

        def number(name, default, minimum=0.0):
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise BrokerConfigError(f"{name}={raw!r} is not a number of seconds") from None
            if value < minimum:
                raise BrokerConfigError(f"{name}={raw!r} must be at least {minimum}")
            return value

        service_url = required("JUPYTERHUB_SERVICE_URL", "run the broker as a hub-managed service with a `url`")
        parsed = urlparse(service_url)
        if not parsed.port:
            raise BrokerConfigError(f"JUPYTERHUB_SERVICE_URL={service_url!r} needs an explicit port")
        chained = env.get("BROKER_CHAINED_SESSIONS", "auto").strip().lower() or "auto"
        if chained not in ("auto", "true", "false"):
            raise BrokerConfigError(f"BROKER_CHAINED_SESSIONS={chained!r} must be auto, true or false")
        test_lifetime = number("BROKER_TEST_CREDENTIAL_LIFETIME_SECONDS", None, minimum=1)
        return cls(
            hub_api_url=required("JUPYTERHUB_API_URL", "run the broker as a hub-managed service").rstrip("/"),
            service_token=required("JUPYTERHUB_API_TOKEN", "run the broker as a hub-managed service"),
            listen_host=parsed.hostname or "127.0.0.1",
            listen_port=parsed.port,
            prefix=env.get("JUPYTERHUB_SERVICE_PREFIX", "/services/aws-credentials/").rstrip("/") + "/",
            access_policy_file=required("ACCESS_POLICY_FILE", "point it at the access policy YAML the hub uses"),
            sts_endpoint_url=env.get("BROKER_STS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            cache_margin_seconds=number("BROKER_CACHE_MARGIN_SECONDS", 900.0),
            token_cache_seconds=number("BROKER_TOKEN_CACHE_SECONDS", 30.0),
            sts_retry_seconds=number("BROKER_STS_RETRY_SECONDS", 10.0),
            hub_timeout_seconds=number("BROKER_HUB_TIMEOUT_SECONDS", 10.0, minimum=0.1),
            chained_sessions=chained,
            test_lifetime_seconds=test_lifetime,
            benchmark_no_cache=env.get("BROKER_BENCHMARK_NO_CACHE", "").strip().lower() == "true",
        )
