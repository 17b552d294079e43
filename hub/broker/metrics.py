"""Prometheus metrics of the broker, in a registry of its own (served at ``<service prefix>metrics``)."""

from prometheus_client import CollectorRegistry, Counter, Histogram


class BrokerMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.issued = Counter(
            "aws_broker_credentials_issued",
            "Credentials served to a notebook server, by source (sts: freshly minted, cache: reused)",
            ["source", "access_group"],
            registry=self.registry,
        )
        self.refused = Counter(
            "aws_broker_refusals",
            "Requests refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "aws_broker_cache_hits",
            "Credential requests answered from the cache without calling STS",
            registry=self.registry,
        )
        self.sts_calls = Counter(
            "aws_broker_sts_calls",
            "AssumeRole requests, each after the AWS SDK's own retries, by outcome (ok, or the STS error code)",
            ["outcome"],
            registry=self.registry,
        )
        self.sts_seconds = Histogram(
            "aws_broker_sts_seconds",
            "Duration of AssumeRole requests, the AWS SDK's retries included",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

        self.request_seconds = Histogram(
            "aws_broker_request_seconds",
            "Time to answer a request, by endpoint (the handler) and status",
            ["endpoint", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

    def observe_sts(self, outcome: str, seconds: float) -> None:
        self.sts_calls.labels(outcome).inc()
        self.sts_seconds.observe(seconds)
