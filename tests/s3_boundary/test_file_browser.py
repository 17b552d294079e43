"""The product's file browser (S3Contents, as `hub/user-server/jupyter_server_config.py` configures it) with a person's
brokered credentials on the real policy engine: what the role and session policies grant is what it needs in the
person's home, and it cannot open anyone else's."""

import pytest
from s3contents import S3ContentsManager

from .cases import CEPH_MULTI_DELETE
from .conftest import NOTEBOOKS, REGION

pytestmark = pytest.mark.policy_engine


def file_browser(boundary, who: str, home: str) -> S3ContentsManager:
    session = boundary.sessions[who]
    c = session.credentials
    return S3ContentsManager(
        bucket=NOTEBOOKS,
        prefix=home.rstrip("/"),  # as the spawn hook sets S3CONTENTS_PREFIX
        endpoint_url=session.endpoint,
        region_name=REGION,
        access_key_id=c.access_key_id,
        secret_access_key=c.secret_access_key,
        session_token=c.session_token,
    )


def test_the_file_browser_works_in_the_persons_home(ceph_per_person):
    contents = file_browser(ceph_per_person, "sam@data-engineers", "home/sam/")
    assert "notes.ipynb" in [item["path"] for item in contents.get("")["content"]]
    notebook = contents.new_untitled(type="notebook")["path"]
    folder = contents.new_untitled(type="directory")["path"]
    contents.save({"type": "file", "format": "text", "content": "hello"}, f"{folder}/hello.txt")
    assert contents.get(f"{folder}/hello.txt")["content"] == "hello"
    assert contents.get(notebook)["type"] == "notebook"
    listed = ceph_per_person.engine.s3.list_objects_v2(Bucket=NOTEBOOKS, Prefix=f"home/sam/{folder}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"home/sam/{folder}/.s3keep", f"home/sam/{folder}/hello.txt"]


@pytest.mark.xfail(strict=True, raises=PermissionError, reason=CEPH_MULTI_DELETE)
def test_the_file_browser_renames_and_deletes_in_the_persons_home(ceph_per_person):
    """s3fs deletes (and finishes a rename) with DeleteObjects: refused by Ceph 16 whatever the policies say."""
    contents = file_browser(ceph_per_person, "ana@analysts", "home/ana/")
    contents.save({"type": "file", "format": "text", "content": "draft"}, "draft.txt")
    contents.rename("draft.txt", "final.txt")
    contents.delete("final.txt")


def test_the_file_browser_cannot_open_someone_elses_home(ceph_per_person):
    """It writes its folder marker when it starts, so it stops there."""
    with pytest.raises(PermissionError):
        file_browser(ceph_per_person, "ana@analysts", "home/noah/")
    listed = ceph_per_person.engine.s3.list_objects_v2(Bucket=NOTEBOOKS, Prefix="home/noah/")
    assert [o["Key"] for o in listed["Contents"]] == ["home/noah/notes.ipynb"]
