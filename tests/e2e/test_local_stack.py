"""`make demo` run again in the same state folder, as a person does after Ctrl-C: it starts from a clean slate, says
who can sign in and what each should see, and stops cleanly again. (The first run is the browser test's.)"""

import pytest
import requests

from tests.fixtures.local_stack import listening, start_local_stack, stop_local_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_a_second_run_in_the_same_folder_starts_fresh_and_says_who_can_sign_in(local_stack_dir, tmp_path):
    (local_stack_dir / "hub").mkdir(parents=True, exist_ok=True)
    (local_stack_dir / "hub" / "left-over-from-before").write_text("x")
    stack = start_local_stack(local_stack_dir, tmp_path / "output.txt")
    try:
        assert not (local_stack_dir / "hub" / "left-over-from-before").exists()
        assert requests.get(f"{stack.hub_url}/hub/api/", timeout=10).status_code == 200
        output = stack.output()
        assert f"open {stack.hub_url} in a browser" in output
        assert f"Everyone's password for this run: {stack.password}" in output
        for line in (
            "ana@contoso.example  (Ana Analyst; hub name ana)",
            "gets a server with the role Analysts at once",
            "sam@contoso.example  (Sam Both; hub name sam)",
            "picks a role (Analysts or Data Engineers) in a form before the server starts",
            "alex@contoso.example  (Alex Admin; hub name alex)",
            "is a hub admin (Platform Admins): the Admin page, and anyone's access page",
            "noah@contoso.example  (Noah Noaccess; hub name noah)",
            "is refused: a page says they are in no group that grants access, and names the groups that do",
            "olga@contoso.example  (Olga Overage; hub name olga)",
            "in 251 groups, so the sign-in token has no group list and the hub reads them from Microsoft Graph",
            "gus@fabrikam.example  (Gus Guest; hub name gus_fabrikam.example-guest)",
            "Press Ctrl-C to stop everything.",
        ):
            assert line in output
    finally:
        code, alive = stop_local_stack(stack.proc)
    assert (code, alive) == (0, [])
    assert [name for name, port in stack.ports.items() if listening(port)] == []
