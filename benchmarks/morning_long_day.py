"""Figure 4 of the morning benchmark: a long day, simulated on a fake clock through the broker's real credential cache.

Each person's server has several AWS SDK clients (the kernel's boto3, S3Contents, the AWS CLI), each holding
credentials and fetching new ones when less than botocore's advisory refresh window remains, checked every simulated
minute, as botocore does on each call. A fetch goes to :class:`hub.broker.cache.CredentialCache` with the broker's
margin; a miss is an STS call, answered with credentials of the person's access group's session length (the demo
policy's groups, in turn). The baseline is one STS call per person per usable session length (the session less the
margin the cache keeps), the first fetch of the morning included, so the ratio should be 1.
"""

import asyncio
import math
from datetime import UTC, datetime, timedelta

from authenticator.access_policy import load_access_policy
from hub.broker.cache import CredentialCache
from hub.broker.minting import Credentials
from hub.broker.settings import CredentialBroker
from tests.fixtures.jupyterhub import DEMO_POLICY

# botocore refreshes credential_process credentials when less than this remains (its advisory refresh window).
BOTOCORE_ADVISORY_REFRESH_SECONDS = 15 * 60
SDK_CLIENTS_PER_SERVER = 3
STEP_SECONDS = 60


def usable_seconds(session_seconds: float, margin_seconds: float) -> float:
    """How long the cache serves one set of credentials (hub/broker/cache.py's rule)."""
    return session_seconds - min(margin_seconds, session_seconds / 2)


def simulate(people: int, hours: float) -> dict:
    groups = load_access_policy(DEMO_POLICY).access_groups
    margin = CredentialBroker().cache_margin_seconds
    clock = {"now": 1_900_000_000.0}
    cache = CredentialCache(margin, clock=lambda: clock["now"])
    sts_calls = [0] * people
    session_of = [groups[p % len(groups)].session_duration_seconds for p in range(people)]

    def mint_for(p: int):
        async def mint():
            sts_calls[p] += 1
            now = clock["now"]
            expiration = datetime.fromtimestamp(now, UTC) + timedelta(seconds=session_of[p])
            return Credentials(f"ASIA{p:016d}", "secret", "token", expiration, now)

        return mint

    async def day():
        held: dict[tuple[int, int], Credentials | None] = dict.fromkeys(
            ((p, c) for p in range(people) for c in range(SDK_CLIENTS_PER_SERVER)), None
        )
        end = clock["now"] + hours * 3600
        while clock["now"] < end:
            for (p, c), credentials in held.items():
                left = None if credentials is None else credentials.expiration.timestamp() - clock["now"]
                if left is None or left < BOTOCORE_ADVISORY_REFRESH_SECONDS:
                    held[(p, c)], _ = await cache.get((f"person-{p}",), mint_for(p))
            clock["now"] += STEP_SECONDS

    asyncio.run(day())
    expected = [math.ceil(hours * 3600 / usable_seconds(s, margin)) for s in session_of]
    return {
        "people": people,
        "hours": hours,
        "sessions": sorted(set(session_of)),
        "sts_calls_per_person_per_hour": sum(sts_calls) / people / hours,
        "expected_per_person_per_hour": sum(expected) / people / hours,
        "most_calls_of_one_person": max(sts_calls),
    }
