"""The per-person S3 boundary, on a real policy engine (Ceph's object gateway) and on moto.

Each row of the table (``cases.py``) runs three times:
- ``ceph-per-person``: the roles' policies as AWS evaluates them for that person (Terraform's document with the
  person's name for ``${aws:PrincipalTag/user}``), intersected with the broker's session policy;
- ``ceph-any-home``: the same roles under Terraform's own names, their home prefix opened to every person (``*``), so
  that the session policy alone keeps people apart;
- ``moto``: the demo's AWS. moto evaluates neither role nor session policies: every row that expects a refusal is
  marked xfail(strict=True), so the gap stays visible and a moto that starts to enforce them fails here. Only the
  observation may fail there (``raises=AssertionError``): an error of any other kind still fails the row.
"""

import pytest

from .cases import ALLOWED, CASES, REFUSED, observe

pytestmark = pytest.mark.policy_engine

MOTO_GAP = "moto evaluates no role or session policy: the request is not refused"
ENGINES = ("ceph_per_person", "ceph_any_home", "moto_per_person")


def table():
    for engine in ENGINES:
        for case in CASES:
            marks = ()
            if engine.startswith("moto") and (case.expect == REFUSED or case.moto_differs):
                marks = (pytest.mark.xfail(strict=True, raises=AssertionError, reason=case.moto_differs or MOTO_GAP),)
            if engine.startswith("ceph") and case.ceph_differs:
                marks = (pytest.mark.xfail(strict=True, raises=AssertionError, reason=case.ceph_differs),)
            yield pytest.param(engine, case, marks=marks, id=f"{engine}: {case.id}")


@pytest.mark.parametrize(("engine", "case"), list(table()))
def test_boundary(engine, case, request):
    boundary = request.getfixturevalue(engine)
    observed, returned = observe(case, boundary.sessions[case.who].s3, boundary)
    assert observed == case.expect, f"{case.id}: expected {case.expect}, observed {observed}"
    if case.expect == ALLOWED and case.gives is not None:
        assert returned == case.gives
    for check in case.after:
        check(boundary.engine)
