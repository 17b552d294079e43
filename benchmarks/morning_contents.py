"""Figure 2 of the morning benchmark: folders and notebooks in S3, through a running server's contents API.

Two real Jupyter servers side by side, configured by the user image's own ``hub/user-server/jupyter_server_config.py``:
one with S3Contents on the moto server (static moto keys: credentials are not what is measured here), one on its
local disk (the baseline). Each figure is measured on both, alternating, and reported as the ratio S3 / local disk.

What JupyterLab sends (read from its 4.6 bundle, ``Context._save`` and ``_maybeCheckpoint``):
- listing a folder: ``GET /api/contents/<folder>?content=1``;
- opening a notebook: ``GET /api/contents/<path>?type=notebook&content=1``, then ``GET .../checkpoints``;
- saving it: ``GET /api/contents/<path>?content=0&hash=1`` (has it changed on disk?), ``PUT`` the notebook,
  ``POST .../checkpoints``.
"""

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests

from tests.fixtures.servers import REPO, free_port, stop, wait_until_up

USER_SERVER_CONFIG = REPO / "hub" / "user-server"
PREFIX = "home/bench"
FOLDER = "many"
BIG_NOTEBOOK = f"{FOLDER}/big.ipynb"  # the person works in that folder: saves land in it


@dataclass
class ContentsServer:
    name: str
    url: str
    token: str
    proc: subprocess.Popen
    http: requests.Session

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.http.request(method, f"{self.url}/api/contents/{path}", timeout=120, **kwargs)
        assert response.status_code < 300, f"{self.name}: {method} {path}: {response.status_code} {response.text[:300]}"
        return response


def small_notebook(i: int) -> dict:
    """A notebook of about 1 KB, as a folder of everyday notebooks holds."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            {"cell_type": "markdown", "id": f"md-{i}", "metadata": {}, "source": f"# Analysis {i}"},
            {
                "cell_type": "code",
                "id": f"code-{i}",
                "metadata": {},
                "execution_count": 1,
                "source": "import pandas as pd\ndf = pd.read_parquet('s3://bucket/data.parquet')\ndf.describe()",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "ok\n"}],
            },
        ],
    }


def big_notebook(megabytes: float) -> dict:
    """A notebook of about ``megabytes`` MB: code cells with large text outputs (printed tables)."""
    rng = secrets.SystemRandom(7)
    cells, size, i = [], 0, 0
    while size < megabytes * 1_000_000:
        text = "".join(f"{rng.random():.12f},{rng.random():.12f},{rng.random():.12f}\n" for _ in range(2000))
        cells.append(
            {
                "cell_type": "code",
                "id": f"cell-{i}",
                "metadata": {},
                "execution_count": i + 1,
                "source": f"print(table_{i}.to_csv())",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": text}],
            }
        )
        size += len(text)
        i += 1
    notebook = small_notebook(0)
    notebook["cells"] = cells
    return notebook


def start_contents_server(state: Path, name: str, env_extra: dict, args: tuple = ()) -> ContentsServer:
    """``jupyter server`` with the user image's config file, on a free port, token-authenticated."""
    token = secrets.token_hex(16)
    port = free_port()
    root = state / name
    root.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3CONTENTS_", "JUPYTER"))},
        "JUPYTER_CONFIG_PATH": str(USER_SERVER_CONFIG),
        "JUPYTER_RUNTIME_DIR": str(state / f"{name}-runtime"),
        "JUPYTER_DATA_DIR": str(state / f"{name}-data"),
        **env_extra,
    }
    log = open(state / f"{name}.log", "wb")  # closed with the process
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter-server"),
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={token}",
            *(["--allow-root"] if os.geteuid() == 0 else []),
            *args,
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/api/status", proc, timeout=60)
    except RuntimeError:
        stop(proc)
        log_text = (state / f"{name}.log").read_text()[-3000:]
        raise RuntimeError(f"the {name} Jupyter server did not start:\n{log_text}") from None
    http = requests.Session()
    http.headers["Authorization"] = f"token {token}"
    return ContentsServer(name, url, token, proc, http)


def s3_client(moto: str):
    return boto3.client(
        "s3",
        endpoint_url=moto,
        region_name="us-east-1",
        aws_access_key_id="moto",
        aws_secret_access_key="moto",  # noqa: S106
    )


def populate(local_root: Path, moto: str, buckets: list[str], notebooks: int) -> None:
    """The same folder of ``notebooks`` small notebooks on the disk and in each bucket, written straight there
    (an upload of each through the API would only slow the set-up); the folder itself is made through the API."""
    client = s3_client(moto)
    for i in range(notebooks):
        body = json.dumps(small_notebook(i))
        (local_root / FOLDER / f"analysis-{i:04d}.ipynb").write_text(body)
        for bucket in buckets:
            client.put_object(Bucket=bucket, Key=f"{PREFIX}/{FOLDER}/analysis-{i:04d}.ipynb", Body=body.encode())


def list_folder(server: ContentsServer) -> int:
    return len(server.api("GET", FOLDER, params={"content": "1"}).json()["content"])


def open_notebook(server: ContentsServer) -> int:
    model = server.api("GET", BIG_NOTEBOOK, params={"type": "notebook", "content": "1"}).json()
    if not server.api("GET", f"{BIG_NOTEBOOK}/checkpoints").json():
        server.api("POST", f"{BIG_NOTEBOOK}/checkpoints")
    return len(model["content"]["cells"])


def save_notebook(server: ContentsServer, body: bytes) -> None:
    server.api("GET", BIG_NOTEBOOK, params={"content": "0", "hash": "1"})
    server.api("PUT", BIG_NOTEBOOK, data=body, headers={"Content-Type": "application/json"})
    server.api("POST", f"{BIG_NOTEBOOK}/checkpoints")


def list_in_s3(client, bucket: str) -> int:
    """The folder's S3 listing alone (every page), as S3Contents must make it: the floor of an S3 listing."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/{FOLDER}/", Delimiter="/")
    return sum(len(page.get("Contents", [])) for page in pages)


def timed(action, *args) -> float:
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


# name -> (bucket, or None for the local disk; command-line arguments beyond the user image's config). A bucket
# each: moto's ListObjectsV2 filters every key of a bucket, so a shared bucket would slow both.
SERVERS = {
    "local disk": (None, ()),
    "S3, ours": ("morning-ours", ()),
    "S3, stock S3Contents": ("morning-stock", ("--ServerApp.contents_manager_class=s3contents.S3ContentsManager",)),
}


def s3_env(moto: str, bucket: str) -> dict:
    return {
        "S3CONTENTS_BUCKET": bucket,
        "S3CONTENTS_PREFIX": PREFIX,
        "S3CONTENTS_REGION": "us-east-1",
        "S3CONTENTS_ENDPOINT_URL": moto,
        "AWS_ACCESS_KEY_ID": "moto",
        "AWS_SECRET_ACCESS_KEY": "moto",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def measure(state: Path, moto: str, notebooks: int, megabytes: float, repeats: int) -> dict:
    """Seconds per operation on each server, ``repeats`` rounds, each round every server in turn."""
    state.mkdir(parents=True, exist_ok=True)
    buckets = [bucket for bucket, _ in SERVERS.values() if bucket]
    for bucket in buckets:
        s3_client(moto).create_bucket(Bucket=bucket)
    servers = []
    try:
        for i, (bucket, args) in enumerate(SERVERS.values()):
            servers.append(start_contents_server(state, f"server-{i}", s3_env(moto, bucket) if bucket else {}, args))
        for server in servers:
            server.api("PUT", FOLDER, json={"type": "directory"})  # as the file browser's "New Folder" does
        populate(state / servers[0].name, moto, buckets, notebooks)
        body = json.dumps({"type": "notebook", "format": "json", "content": big_notebook(megabytes)}).encode()
        for server in servers:  # created once first (not measured), then a warm-up round
            server.api("PUT", BIG_NOTEBOOK, data=body, headers={"Content-Type": "application/json"})
            assert list_folder(server) == notebooks + 1, f"{server.name} lists a different folder"
            save_notebook(server, body)
            open_notebook(server)
        times = {(op, name): [] for op in ("list", "open", "save") for name in SERVERS}
        times[("list", "S3 listing alone")] = []
        client = s3_client(moto)
        for _ in range(repeats):
            times[("list", "S3 listing alone")].append(timed(list_in_s3, client, buckets[0]))
            for name, server in zip(SERVERS, servers, strict=True):
                times[("list", name)].append(timed(list_folder, server))
                times[("save", name)].append(timed(save_notebook, server, body))
                times[("open", name)].append(timed(open_notebook, server))
        return {"times": times, "notebook_bytes": len(body)}
    finally:
        for server in servers:
            stop(server.proc)
