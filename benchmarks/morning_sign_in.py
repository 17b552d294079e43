"""Figure 1 of the morning benchmark: what verifying a sign-in costs, through a real hub and the Entra ID emulator.

The hub runs the real authenticator, timed from inside (``sign_in_timing.py``): for each sign-in, the authenticator's
whole step (token exchange, id_token verification, groups, the access decision, the identity binding) and, within it,
the token endpoint's round trip, the baseline. What the authenticator adds is the difference. Discovery, the signing
keys and MSAL's application token are fetched by a warm-up sign-in first, as a running hub has them cached.
Sign-ins alternate between a person whose groups are in the id_token (ana) and one with group overage (olga: 251
groups), so both see the same machine; the authenticator reads both people's groups from Graph.
"""

import json
from pathlib import Path

from sign_in_timing import PARTS

from tests.fixtures.emulator import start_entra_emulator
from tests.fixtures.jupyterhub import sign_in_through_entra, start_entra_hub, stop_hub
from tests.fixtures.servers import stop

PEOPLE = {"groups in the id_token": "ana@contoso.example", "group overage (Graph)": "olga@contoso.example"}
TIMED_AUTHENTICATOR = "benchmarks.sign_in_timing.TimedEntraIDOAuthenticator"


def measure(state: Path, moto: str, sign_ins: int) -> dict:
    """Per kind of person: seconds of the authenticator's step, of its token exchange, of Graph, and of the whole
    callback request as the browser waited for it."""
    emulator_state = state / "entra"
    emulator_state.mkdir(parents=True)
    emulator = start_entra_emulator(emulator_state)
    timings = state / "sign-in-timings.jsonl"
    env = {
        "HUB_TEST_AUTHENTICATOR_CLASS": TIMED_AUTHENTICATOR,
        "MORNING_SIGN_IN_TIMINGS": str(timings),
        "HUB_TEST_AUTH_REFRESH_AGE": "300",  # the deployment's membership check interval: no re-check mid-run
    }
    try:
        hub = start_entra_hub(emulator, moto, state / "hub", extra_env=env)
        try:
            for username in PEOPLE.values():  # warm-up: caches filled, accounts made (a first sign-in creates one)
                sign_in_through_entra(hub, emulator, username)
            timings.unlink()
            callbacks = {kind: [] for kind in PEOPLE}
            for _ in range(sign_ins):
                for kind, username in PEOPLE.items():
                    callbacks[kind].append(sign_in_through_entra(hub, emulator, username).seconds)
            records = [json.loads(line) for line in timings.read_text().splitlines()]
        finally:
            stop_hub(hub)
    finally:
        emulator.http.close()
        stop(emulator.process)
    names = {kind: username.split("@")[0] for kind, username in PEOPLE.items()}
    result = {}
    for kind in PEOPLE:
        mine = [r for r in records if r["name"] == names[kind]]
        assert len(mine) == sign_ins, f"{len(mine)} timed sign-ins of {names[kind]}, expected {sign_ins}"
        result[kind] = {
            "added": [r["authenticator"] - r["token_exchange"] for r in mine],
            **{part: [r[part] for r in mine] for part in PARTS},
            "callback": callbacks[kind],
        }
    return result
