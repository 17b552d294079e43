"""GraphClient follows @odata.nextLink across pages, never off the configured Graph, and bounds the work; a throttled
Graph (429) is retried after Retry-After within a time budget; a refusal (403) names the missing permission."""

import pytest

from authenticator import graph
from authenticator.graph import (
    GraphClient,
    GraphError,
    GraphPermissionError,
    GraphRefused,
    GraphThrottled,
    retry_after_seconds,
)

pytestmark = pytest.mark.unit

GRAPH = "https://graph.example"


class FakeApp:
    def acquire_token_for_client(self, scopes):
        assert scopes == [f"{GRAPH}/.default"]
        return {"access_token": "app-token"}


def client(pages, budget=10):
    """A client whose Graph answers ``pages`` in turn (a GraphRefused is raised); sleeping is recorded, not done."""
    calls, sleeps = [], []

    async def fetch_json(url, headers):
        calls.append((url, headers["Authorization"]))
        answer = pages[len(calls) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(seconds):
        sleeps.append(seconds)

    c = GraphClient(
        authority="https://login.example/t",
        client_id="c",
        client_secret="s",
        graph_url=GRAPH,
        fetch_json=fetch_json,
        retry_budget_seconds=budget,
        sleep=sleep,
    )
    c._app = FakeApp()
    c.sleeps = sleeps
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


async def test_429_is_retried_after_retry_after():
    c, calls = client([GraphRefused(429, 2), GraphRefused(429, None), page(["a"])])
    assert await c.transitive_group_ids("oid-1") == {"a"}
    assert c.sleeps == [2, 1.0]  # Retry-After, then Graph's advice without one: back off from 1 s
    assert len(calls) == 3


async def test_429_past_the_budget_gives_up_without_waiting_in_vain():
    c, calls = client([GraphRefused(429, 30)], budget=10)
    with pytest.raises(GraphThrottled, match=r"throttling this application \(429\) beyond 10 s of retries"):
        await c.transitive_group_ids("oid-1")
    assert c.sleeps == [] and len(calls) == 1


@pytest.mark.parametrize(
    ("call", "permission", "purpose"),
    [
        (lambda c: c.transitive_group_ids("oid-1"), "GroupMember.Read.All", "read group memberships"),
        (lambda c: c.user("ana@contoso.example"), "User.ReadBasic.All", "look up users"),
    ],
    ids=["memberships", "user"],
)
async def test_403_names_the_permission_the_call_needs(call, permission, purpose):
    c, _ = client([GraphRefused(403)])
    with pytest.raises(GraphPermissionError) as refused:
        await call(c)
    assert refused.value.permission == permission
    assert str(refused.value) == (
        f"Microsoft Graph refused to {purpose}: the app registration lacks the application permission {permission}. "
        "Add it under API permissions (Microsoft Graph, Application) and grant admin consent"
    )


async def test_other_refusals_are_not_retried():
    c, calls = client([GraphRefused(404)])
    with pytest.raises(GraphRefused):
        await c.transitive_group_ids("oid-1")
    assert len(calls) == 1 and c.sleeps == []


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("0", 0.0), (None, None), ("soon", None), ("-1", None)])
def test_retry_after_is_read_as_seconds(header, seconds):
    assert retry_after_seconds(header) == seconds
