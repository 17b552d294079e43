"""The user server's S3Contents (hub/user-server/): a folder read from one S3 listing, against a real moto server.

Each test compares with S3Contents' own ``S3ContentsManager`` on the same bucket: the same models, fewer listings.
"""

import json
import sys
from datetime import UTC, datetime

import boto3
import nbformat
import pytest
from tornado.web import HTTPError
from traitlets.config.loader import PyFileConfigLoader

from tests.fixtures.servers import REPO

USER_SERVER = REPO / "hub" / "user-server"
sys.path.insert(0, str(USER_SERVER))

from s3_folder_listing import OneListingS3ContentsManager  # noqa: E402
from s3contents import S3ContentsManager  # noqa: E402

pytestmark = pytest.mark.integration

BUCKET = "listing-test"
PREFIX = "home/ana"
NOTEBOOK = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []})


@pytest.fixture
def bucket(moto_reset, monkeypatch):
    """ana's home with a folder of notebooks, a sub-folder, a plain file, and a folder made without .s3keep."""
    moto_keys = {"AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto", "AWS_REGION": "us-east-1"}
    for name, value in {
        **moto_keys,
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_CONFIG_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=moto_reset, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    keys = {
        f"{PREFIX}/.s3keep": "",
        f"{PREFIX}/projects/.s3keep": "",
        f"{PREFIX}/projects/report.csv": "a,b\n1,2\n",
        f"{PREFIX}/projects/drafts/.s3keep": "",
        f"{PREFIX}/projects/no-keep-file/orphan.ipynb": NOTEBOOK,
        f"{PREFIX}/data.csv": "x\n1\n",
        **{f"{PREFIX}/projects/analysis-{i:02d}.ipynb": NOTEBOOK for i in range(12)},
    }
    for key, body in keys.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    return moto_reset


def manager(cls, endpoint):
    return cls(bucket=BUCKET, prefix=PREFIX, endpoint_url=endpoint, region_name="us-east-1")


def folder_listings(contents_manager, action) -> int:
    """How many times ``action`` lists the folder's own prefix (counted on botocore's own event, no stand-in)."""
    prefixes = []

    def record(params, **kwargs):
        prefixes.append(params["query_string"]["prefix"])

    events = contents_manager.fs.fs.s3.meta.events
    events.register("before-call.s3.ListObjectsV2", record)
    try:
        action()
    finally:
        events.unregister("before-call.s3.ListObjectsV2", record)
    return prefixes


def folder_prefix(path: str) -> str:
    return f"{PREFIX}/{path.strip('/')}/".replace("//", "/")


def without_dates(model):
    return {k: v for k, v in model.items() if k not in ("content", "last_modified", "created")}


@pytest.mark.parametrize("path", ["projects", "projects/", "", "projects/drafts"])
def test_a_folder_is_the_same_model_from_one_listing(bucket, path):
    stock, ours = manager(S3ContentsManager, bucket), manager(OneListingS3ContentsManager, bucket)
    answers = {}

    our_listings = folder_listings(ours, lambda: answers.update(got=ours.get(path)))
    expected, got = stock.get(path), answers["got"]

    assert our_listings.count(folder_prefix(path)) == 1
    assert without_dates(got) == without_dates(expected)
    assert got["type"] == "directory" and got["format"] == "json"
    assert got["last_modified"] == expected["last_modified"] and got["created"] == expected["created"]
    assert sorted(got["content"], key=lambda m: m["path"]) == sorted(expected["content"], key=lambda m: m["path"])


def test_after_a_save_in_the_folder_it_is_listed_once_where_s3contents_lists_it_twice(bucket):
    """What the file browser does after each save: list the folder the notebook was saved in."""
    listings = {}
    for name, cls in (("stock", S3ContentsManager), ("ours", OneListingS3ContentsManager)):
        contents = manager(cls, bucket)
        contents.save({"type": "notebook", "content": nbformat.reads(NOTEBOOK, 4)}, "projects/saved.ipynb")
        listings[name] = folder_listings(contents, lambda c=contents: c.get("projects")).count(PREFIX + "/projects/")

    assert listings == {"stock": 2, "ours": 1}


def test_the_folder_lists_notebooks_files_and_sub_folders(bucket):
    got = manager(OneListingS3ContentsManager, bucket).get("projects")

    entries = {m["name"]: m for m in got["content"]}
    assert sorted(entries) == sorted(["report.csv", "drafts", *(f"analysis-{i:02d}.ipynb" for i in range(12))])
    assert entries["report.csv"]["type"] == "file" and entries["report.csv"]["size"] == 8
    assert entries["analysis-03.ipynb"]["type"] == "notebook"
    assert entries["analysis-03.ipynb"]["path"] == "projects/analysis-03.ipynb"
    assert entries["drafts"]["type"] == "directory"
    assert "no-keep-file" not in entries  # S3Contents hides a prefix without .s3keep; so does the subclass
    assert ".s3keep" not in entries
    assert got["last_modified"].microsecond == 0
    assert abs((datetime.now(UTC) - got["last_modified"]).total_seconds()) < 300


def test_a_folder_sees_a_notebook_written_since_the_last_listing(bucket):
    ours = manager(OneListingS3ContentsManager, bucket)
    before = len(ours.get("projects")["content"])
    boto3.client("s3", endpoint_url=bucket, region_name="us-east-1").put_object(
        Bucket=BUCKET, Key=f"{PREFIX}/projects/new.ipynb", Body=NOTEBOOK.encode()
    )

    assert len(ours.get("projects")["content"]) == before + 1  # never served from s3fs's listing cache


def test_a_missing_folder_is_refused_as_s3contents_refuses_it(bucket):
    stock, ours = manager(S3ContentsManager, bucket), manager(OneListingS3ContentsManager, bucket)

    with pytest.raises(HTTPError) as refused:
        ours.get("nope", type="directory")
    assert refused.value.status_code == 404
    assert refused.value.log_message == "No such entity: [nope]"
    with pytest.raises(HTTPError) as stock_refused:
        stock.get("nope", type="directory")
    assert stock_refused.value.status_code == 404
    with pytest.raises(HTTPError) as guessed:
        ours.get("nope")  # no type: S3Contents guesses "file" and refuses the missing file
    assert guessed.value.status_code == 404


def test_files_and_notebooks_are_s3contents_own(bucket):
    stock, ours = manager(S3ContentsManager, bucket), manager(OneListingS3ContentsManager, bucket)

    for path in ("data.csv", "projects/report.csv", "projects/analysis-01.ipynb"):
        assert without_dates(ours.get(path)) == without_dates(stock.get(path))
    assert ours.get("data.csv")["content"] == "x\n1\n"
    assert ours.get("projects/analysis-01.ipynb")["type"] == "notebook"
    assert ours.get("projects", content=False)["content"] is None


def load_user_server_config(monkeypatch, env: dict):
    for name in ("S3CONTENTS_BUCKET", "S3CONTENTS_PREFIX", "S3CONTENTS_REGION", "S3CONTENTS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader("jupyter_server_config.py", str(USER_SERVER)).load_config()


def test_the_user_server_config_selects_the_one_listing_manager(monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(USER_SERVER)])
    config = load_user_server_config(
        monkeypatch,
        {
            "S3CONTENTS_BUCKET": "notebooks",
            "S3CONTENTS_PREFIX": "home/ana",
            "S3CONTENTS_REGION": "eu-west-1",
            "S3CONTENTS_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com",
        },
    )

    assert config.ServerApp.contents_manager_class == "s3_folder_listing.OneListingS3ContentsManager"
    assert config.S3ContentsManager.bucket == "notebooks"
    assert config.S3ContentsManager.prefix == "home/ana"
    assert str(USER_SERVER) in sys.path  # the config file makes its neighbour importable


def test_without_a_bucket_the_server_keeps_its_local_disk(monkeypatch):
    config = load_user_server_config(monkeypatch, {})

    assert "contents_manager_class" not in config.ServerApp
