"""The revocations file: who is revoked, by whom and when; unrevoked entries kept as history."""

import sqlite3

import pytest
from traitlets import TraitError

from hub.revocation.document import Entry
from hub.revocation.store import Revocation, RevocationStore
from hub.state_files import beside_hub_database

pytestmark = pytest.mark.unit

ANA, SAM = "0b7a9a52-6f0e-4a8e-9d4c-1b2f3c4d5e6f", "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


@pytest.fixture
def store(tmp_path):
    return RevocationStore(path=str(tmp_path / "revocations.sqlite"))


def test_revoke_records_who_when_and_by_whom_once(store):
    assert store.revoke("ana", ANA, "alex", now=100.0) == (Revocation("ana", ANA, 100.0, "alex"), True)
    # again: the first revocation stands, with its time and author
    assert store.revoke("ana", ANA, "bea", now=200.0) == (Revocation("ana", ANA, 100.0, "alex"), False)
    assert store.revoked() == [Revocation("ana", ANA, 100.0, "alex")]
    assert store.find(username="ana") == store.find(oid=ANA) == Revocation("ana", ANA, 100.0, "alex")
    assert store.find(username="sam") is None and store.find(oid=SAM) is None


def test_unrevoke_lifts_it_and_keeps_it_as_history(store):
    store.revoke("ana", ANA, "alex", now=100.0)
    store.revoke("sam", SAM, "alex", now=150.0)
    lifted = store.unrevoke("ana", "bea", now=300.0)
    assert lifted == Revocation("ana", ANA, 100.0, "alex", 300.0, "bea")
    assert lifted.entry == Entry(ANA, 100.0, 300.0)
    assert store.revoked() == [Revocation("sam", SAM, 150.0, "alex")]
    assert store.find(username="ana") is None
    assert store.unrevoked_since(300.0) == [lifted] and store.unrevoked_since(300.1) == []
    assert store.unrevoke("ana", "bea", now=400.0) is None  # nothing open to lift
    # revoked again later: a new entry, the old one stays history
    assert store.revoke("ana", ANA, "alex", now=500.0) == (Revocation("ana", ANA, 500.0, "alex"), True)
    assert store.unrevoked_since(0) == [lifted]


def test_two_open_revocations_of_one_person_are_impossible(store, tmp_path):
    store.revoke("ana", ANA, "alex", now=100.0)
    with sqlite3.connect(store.path) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO revocations (username, oid, revoked_at, revoked_by) VALUES ('ana', 'x', 1, 'y')")


def test_the_file_goes_beside_the_hubs_sqlite_database(tmp_path):
    def beside(db_url, cwd):
        return beside_hub_database(db_url, "revocations.sqlite", "RevocationStore.path", cwd)

    assert beside("sqlite:////srv/jupyterhub/jupyterhub.sqlite", str(tmp_path)) == "/srv/jupyterhub/revocations.sqlite"
    # JupyterHub's default db_url is relative to the hub's working folder
    assert beside("sqlite:///jupyterhub.sqlite", str(tmp_path)) == str(tmp_path / "revocations.sqlite")


@pytest.mark.parametrize(
    ("db_url", "named"),
    [("postgresql://hub@db/jupyterhub", "'postgresql'"), ("sqlite:///:memory:", "'sqlite'"), ("sqlite://", "'sqlite'")],
)
def test_without_a_sqlite_file_the_path_must_be_set(db_url, named):
    with pytest.raises(TraitError) as refused:
        beside_hub_database(db_url, "revocations.sqlite", "RevocationStore.path", "/srv")
    assert str(refused.value) == (
        f"RevocationStore.path is not set and the hub's database ({named}) is not a SQLite file to put it beside: "
        "set RevocationStore.path to a file on storage the hub keeps (its volume)"
    )


def test_an_unset_path_is_refused_with_the_setting_named():
    with pytest.raises(TraitError) as refused:
        RevocationStore().revoked()
    assert str(refused.value) == ("RevocationStore.path is not set: the hub config sets it beside the hub's database")
