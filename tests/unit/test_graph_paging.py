"""GraphClient follows @odata.nextLink across pages, never off the configured Graph, and bounds the work."""

import pytest

from authenticator import graph
from authenticator.graph import GraphClient, GraphError, has_group_overage

pytestmark = pytest.mark.unit

GRAPH = "https://graph.example"


class FakeApp:
    def acquire_token_for_client(self, scopes):
        assert scopes == [f"{GRAPH}/.default"]
        return {"access_token": "app-token"}


def client(pages):
    calls = []

    async def fetch_json(url, headers):
        calls.append((url, headers["Authorization"]))
        return pages[len(calls) - 1]

    c = GraphClient(
        authority="https://login.example/t", client_id="c", client_secret="s", graph_url=GRAPH, fetch_json=fetch_json
    )
    c._app = FakeApp()
    return c, calls


def page(ids, next_link=None):
    body = {"value": [{"@odata.type": "#microsoft.graph.group", "id": i} for i in ids]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body


async def test_all_pages_are_read_with_the_application_token():
    c, calls = client([page(["A", "b"], f"{GRAPH}/v1.0/next?skip=2"), page(["c"])])
    assert await c.transitive_group_ids("oid-1") == {"a", "b", "c"}
    assert calls == [
        (
            f"{GRAPH}/v1.0/users/oid-1/transitiveMemberOf/microsoft.graph.group?$select=id,displayName&$top=999",
            "Bearer app-token",
        ),
        (f"{GRAPH}/v1.0/next?skip=2", "Bearer app-token"),
    ]


async def test_a_next_link_to_another_host_is_not_followed():
    c, calls = client([page(["a"], "https://attacker.example/steal")])
    with pytest.raises(GraphError, match="next page link points outside the configured graph_url"):
        await c.transitive_group_ids("oid-1")
    assert len(calls) == 1  # the application token never went to the other host


async def test_endless_paging_is_bounded(monkeypatch):
    monkeypatch.setattr(graph, "MAX_PAGES", 3)
    c, calls = client([page(["a"], f"{GRAPH}/v1.0/next")] * 5)
    with pytest.raises(GraphError, match="more than 3 pages of groups"):
        await c.transitive_group_ids("oid-1")
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("claims", "overage"),
    [
        ({"groups": ["a"]}, False),
        ({"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "x"}}}, True),
        ({"hasgroups": True}, True),
        ({}, False),
    ],
)
def test_overage_signals(claims, overage):
    assert has_group_overage(claims) is overage
