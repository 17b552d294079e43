"""The boundary table: who tries what, and what must happen. One row per request (or short sequence of requests).

Each case acts with one session's S3 client and is observed as ``allowed`` (with what it returned), ``refused``
(403 AccessDenied, what a person sees as "Access Denied") or ``missing`` (404: the key does not exist). After a
refused write or delete, ``after`` checks as the administrator that nothing was written or removed.
"""

import hashlib
import http.client
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError

from .conftest import FINANCE, LANDING, NOTEBOOKS, REGION, SESSIONS, old_bytes, seed_bytes

ALLOWED, REFUSED, MISSING = "allowed", "refused", "missing"


@dataclass(frozen=True)
class Case:
    id: str
    who: str  # a session of conftest.SESSIONS: person@access-group
    act: Callable  # (s3 client, boundary) -> what the request returned
    expect: str  # ALLOWED or REFUSED
    gives: object = None  # for ALLOWED: what act returns (None: not compared)
    after: tuple[Callable, ...] = ()  # (engine) -> None, asserting as the administrator
    moto_differs: str = ""  # why moto answers otherwise though the row expects an answer S3 gives (xfail on moto)
    ceph_differs: str = ""  # the same for Ceph (xfail on Ceph)

    @property
    def person(self) -> str:
        return self.who.split("@")[0]


def refused_error(status: int, code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def observe(case: Case, s3, boundary) -> tuple[str, object]:
    """What happened: (ALLOWED, returned value), (REFUSED, None) or (MISSING, None); anything else is an error."""
    try:
        return ALLOWED, case.act(s3, boundary)
    except ClientError as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        code = e.response["Error"]["Code"]
        if status == 403 and code == "AccessDenied":
            return REFUSED, None
        if status == 404 and code in ("NoSuchKey", "404", "NoSuchUpload"):
            return MISSING, None
        raise


# ---- requests ---------------------------------------------------------------------------------------------------


def get(key, bucket=NOTEBOOKS, version=None):
    def act(s3, b):
        extra = {"VersionId": b.engine.versions[key][version]} if version is not None else {}
        return s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()

    return act


def put(key, bucket=NOTEBOOKS, body=b"written by the test"):
    return lambda s3, b: s3.put_object(Bucket=bucket, Key=key, Body=body) and None


def delete(key, bucket=NOTEBOOKS):
    return lambda s3, b: s3.delete_object(Bucket=bucket, Key=key) and None


def put_then_delete(key, bucket=NOTEBOOKS, bulk=False):
    """Write ``key``, then delete it with DeleteObject (or, ``bulk``, with DeleteObjects)."""

    def act(s3, b):
        s3.put_object(Bucket=bucket, Key=key, Body=b"short-lived")
        if bulk:
            delete_many(key, bucket)(s3, b)
        else:
            s3.delete_object(Bucket=bucket, Key=key)

    return act


def delete_many(key, bucket=NOTEBOOKS):
    """DeleteObjects answers 200 and reports refusals per key: a refused key is a refusal."""

    def act(s3, b):
        result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})
        if any(e["Code"] == "AccessDenied" for e in result.get("Errors", [])):
            raise refused_error(403, "AccessDenied", "DeleteObjects")
        assert [d["Key"] for d in result.get("Deleted", [])] == [key], result

    return act


def lists(prefix, bucket=NOTEBOOKS, expect_key=None):
    """Lists ``prefix``; returns whether ``expect_key`` is among the keys (and every key is under the prefix)."""

    def act(s3, b):
        extra = {"Prefix": prefix} if prefix is not None else {}
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, **extra).get("Contents", [])]
        assert all(k.startswith(prefix or "") for k in keys)
        return expect_key in keys

    return act


def copy(source_key, key, version=None):
    def act(s3, b):
        source = {"Bucket": NOTEBOOKS, "Key": source_key}
        if version is not None:
            source["VersionId"] = b.engine.versions[source_key][version]
        s3.copy_object(Bucket=NOTEBOOKS, Key=key, CopySource=source)

    return act


def multipart(key, complete=True):
    """A whole multipart upload: create, one part, list the parts, then complete (or abort)."""

    def act(s3, b):
        upload = s3.create_multipart_upload(Bucket=NOTEBOOKS, Key=key)["UploadId"]
        etag = s3.upload_part(Bucket=NOTEBOOKS, Key=key, UploadId=upload, PartNumber=1, Body=b"part one")["ETag"]
        assert [p["PartNumber"] for p in s3.list_parts(Bucket=NOTEBOOKS, Key=key, UploadId=upload)["Parts"]] == [1]
        if complete:
            parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
            s3.complete_multipart_upload(Bucket=NOTEBOOKS, Key=key, UploadId=upload, MultipartUpload=parts)
        else:
            s3.abort_multipart_upload(Bucket=NOTEBOOKS, Key=key, UploadId=upload)

    return act


def on_upload(operation, key):
    """One request on the upload someone else left in progress under ``key`` (seeded)."""

    def act(s3, b):
        upload = b.engine.uploads[key]
        if operation == "upload_part":
            s3.upload_part(Bucket=NOTEBOOKS, Key=key, UploadId=upload, PartNumber=2, Body=b"intruder")
        elif operation == "list_parts":
            s3.list_parts(Bucket=NOTEBOOKS, Key=key, UploadId=upload)
        elif operation == "complete":
            parts = {"Parts": [{"PartNumber": 1, "ETag": b.engine.upload_etags[key]}]}
            s3.complete_multipart_upload(Bucket=NOTEBOOKS, Key=key, UploadId=upload, MultipartUpload=parts)
        elif operation == "abort":
            s3.abort_multipart_upload(Bucket=NOTEBOOKS, Key=key, UploadId=upload)

    return act


def copy_part_from(source_key, key):
    """Start an upload of one's own and copy a part into it from ``source_key``."""

    def act(s3, b):
        upload = s3.create_multipart_upload(Bucket=NOTEBOOKS, Key=key)["UploadId"]
        try:
            source = {"Bucket": NOTEBOOKS, "Key": source_key}
            s3.upload_part_copy(Bucket=NOTEBOOKS, Key=key, UploadId=upload, PartNumber=1, CopySource=source)
        finally:
            s3.abort_multipart_upload(Bucket=NOTEBOOKS, Key=key, UploadId=upload)

    return act


def list_uploads(prefix):
    return lambda s3, b: s3.list_multipart_uploads(Bucket=NOTEBOOKS, Prefix=prefix) and None


def list_versions(prefix):
    return lambda s3, b: s3.list_object_versions(Bucket=NOTEBOOKS, Prefix=prefix) and None


def delete_version(key, version):
    def act(s3, b):
        s3.delete_object(Bucket=NOTEBOOKS, Key=key, VersionId=b.engine.versions[key][version])

    return act


def raw(method, path, body=b""):
    """A request whose path is sent exactly as written (percent-escapes and dot segments included), SigV4-signed
    with the session's credentials: boto3 would escape or normalize these paths itself."""

    def act(s3, b):
        session = next(x for x in b.sessions.values() if x.s3 is s3)
        c = session.credentials
        url = f"{session.endpoint}/{NOTEBOOKS}/{path}"
        # Signed as the gateway canonicalizes the path (decoded, then escaped once), sent as written.
        request = AWSRequest(method=method, url=f"{session.endpoint}/{NOTEBOOKS}/{quote(unquote(path))}", data=body)
        request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        signer = S3SigV4Auth(BotoCredentials(c.access_key_id, c.secret_access_key, c.session_token), "s3", REGION)
        signer.add_auth(request)
        where = urlsplit(session.endpoint)
        connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
        try:
            connection.request(method, urlsplit(url).path, body=body or None, headers=dict(request.headers))
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status >= 300:
            code = data.split(b"<Code>")[1].split(b"</Code>")[0].decode() if b"<Code>" in data else str(response.status)
            raise refused_error(response.status, code, f"{method} {path}")
        return data if method == "GET" else None

    return act


# ---- what must hold afterwards (as the administrator) -------------------------------------------------------------


def keeps(key, bucket=NOTEBOOKS):
    def check(engine):
        assert engine.s3.get_object(Bucket=bucket, Key=key)["Body"].read() == seed_bytes(bucket, key)

    check.__name__ = f"keeps s3://{bucket}/{key}"
    return check


def absent(key, bucket=NOTEBOOKS):
    def check(engine):
        listed = engine.s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
        assert key not in [o["Key"] for o in listed], f"s3://{bucket}/{key} was written"

    return check


def etag(body: bytes, uploaded_in_one_part: bool = False) -> str:
    """S3's ETag of ``body`` written by one request, or by a multipart upload of one part (MD5 of the parts' MD5s)."""
    digest = hashlib.md5(body, usedforsecurity=False)
    if uploaded_in_one_part:
        return f'"{hashlib.md5(digest.digest(), usedforsecurity=False).hexdigest()}-1"'
    return f'"{digest.hexdigest()}"'


def lands(key, body, bucket=NOTEBOOKS, uploaded_in_one_part=False):
    """``key`` holds ``body``: seen in the administrator's listing (on Ceph a bucket owner cannot read objects that
    a role session wrote: it owns them)."""

    def check(engine):
        listed = engine.s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
        assert {o["Key"]: o["ETag"] for o in listed}.get(key) == etag(body, uploaded_in_one_part)

    return check


def upload_kept(key):
    def check(engine):
        parts = engine.s3.list_parts(Bucket=NOTEBOOKS, Key=key, UploadId=engine.uploads[key])["Parts"]
        assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 1024)]

    return check


def version_kept(key, version):
    def check(engine):
        version_id = engine.versions[key][version]
        got = engine.s3.get_object(Bucket=NOTEBOOKS, Key=key, VersionId=version_id)["Body"].read()
        assert got == old_bytes(NOTEBOOKS, key)

    return check


# ---- the table ----------------------------------------------------------------------------------------------------

WRITTEN = b"written by the test"


def own_home(who: str) -> list[Case]:
    me = who.split("@")[0]
    home = f"home/{me}/"
    mine = f"{home}notes.ipynb"
    new = f"{home}written-as-{who.split('@')[1]}.txt"
    gone = f"{home}deleted-as-{who.split('@')[1]}.txt"
    return [
        Case(f"{who} lists own home", who, lists(home, expect_key=mine), ALLOWED, True),
        Case(f"{who} reads own notebook", who, get(mine), ALLOWED, seed_bytes(NOTEBOOKS, mine)),
        Case(f"{who} writes own home", who, put(new), ALLOWED, after=(lands(new, WRITTEN),)),
        Case(f"{who} deletes in own home", who, put_then_delete(gone), ALLOWED, after=(absent(gone),)),
        Case(f"{who} writes own folder marker (key = prefix)", who, put(home, body=b""), ALLOWED),
    ]


def others_home(who: str, other: str) -> list[Case]:
    theirs = f"home/{other}/notes.ipynb"
    return [
        Case(f"{who} lists home/{other}/", who, lists(f"home/{other}/", expect_key=theirs), REFUSED),
        Case(f"{who} reads {theirs}", who, get(theirs), REFUSED),
        Case(f"{who} writes {theirs}", who, put(theirs), REFUSED, after=(keeps(theirs),)),
        Case(f"{who} deletes {theirs}", who, delete(theirs), REFUSED, after=(keeps(theirs),)),
    ]


ANA = "ana@analysts"
SAM_A, SAM_D = "sam@analysts", "sam@data-engineers"
ALEX, NINA = "alex@platform-admins", "nina@notebooks-only"
SAMS = "home/sam/notes.ipynb"
ANAS = "home/ana/notes.ipynb"
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html: S3 checks s3:DeleteObject per key.
CEPH_MULTI_DELETE = "Ceph 16 checks DeleteObjects against the bucket ARN, where no policy grants s3:DeleteObject"
# RFC 3986 section 2.1/2.3: a percent-escaped octet in a path means that octet (and S3 keys are the decoded path).
MOTO_ESCAPES = "moto does not decode percent-escaped octets in an object's path: it answers 404 for the key"

CASES: list[Case] = [
    # Own home, for every session.
    *(case for who in SESSIONS for case in own_home(who)),
    # Someone else's home: one group, two groups (either role), a hub admin, a group that shares nothing.
    *others_home(ANA, "sam"),
    *others_home(SAM_A, "ana"),
    *others_home(SAM_D, "ana"),
    *others_home(ALEX, "sam"),
    *others_home(NINA, "ana"),
    # Listing tricks: no trailing slash, a parent, the whole bucket, a name that starts with one's own.
    Case("ana lists prefix home/sam (no slash)", ANA, lists("home/sam", expect_key=SAMS), REFUSED),
    Case("ana lists prefix home/", ANA, lists("home/", expect_key=SAMS), REFUSED),
    Case("ana lists the whole bucket", ANA, lists(None, expect_key=SAMS), REFUSED),
    Case("ana lists prefix home/ana (no slash: home/ana-b/ too)", ANA, lists("home/ana", expect_key=ANAS), REFUSED),
    Case("ana lists home/ana-b/", ANA, lists("home/ana-b/", expect_key="home/ana-b/notes.ipynb"), REFUSED),
    Case("sam lists prefix home/sam (no slash: home/sam-other/ too)", SAM_A, lists("home/sam"), REFUSED),
    Case("sam lists home/sam-other/", SAM_A, lists("home/sam-other/"), REFUSED),
    # Key tricks: names that start with one's own, dot segments, a key equal to a prefix.
    Case("ana reads home/ana-b/notes.ipynb", ANA, get("home/ana-b/notes.ipynb"), REFUSED),
    Case(
        "ana writes home/ana-b/notes.ipynb",
        ANA,
        put("home/ana-b/notes.ipynb"),
        REFUSED,
        after=(keeps("home/ana-b/notes.ipynb"),),
    ),
    Case("sam reads home/sam-other/notes.ipynb", SAM_A, get("home/sam-other/notes.ipynb"), REFUSED),
    Case(
        "sam writes home/sam-other/notes.ipynb",
        SAM_D,
        put("home/sam-other/notes.ipynb"),
        REFUSED,
        after=(keeps("home/sam-other/notes.ipynb"),),
    ),
    Case("ana reads home/./sam/notes.ipynb", ANA, get("home/./sam/notes.ipynb"), REFUSED),
    Case("ana writes home/./sam/notes.ipynb", ANA, put("home/./sam/notes.ipynb"), REFUSED, after=(keeps(SAMS),)),
    Case("ana reads home/ana/../sam/notes.ipynb", ANA, get("home/ana/../sam/notes.ipynb"), REFUSED),
    Case(
        "ana writes home/ana/../noah/notes.ipynb (a key of her own)",
        ANA,
        put("home/ana/../noah/notes.ipynb"),
        ALLOWED,
        after=(keeps("home/noah/notes.ipynb"), lands("home/ana/../noah/notes.ipynb", WRITTEN)),
    ),
    Case(
        "ana writes key home/ana (her prefix without the slash)",
        ANA,
        put("home/ana"),
        REFUSED,
        after=(absent("home/ana"),),
    ),
    Case(
        "ana writes key home/noah/ (noah's prefix itself)",
        ANA,
        put("home/noah/"),
        REFUSED,
        after=(absent("home/noah/"),),
    ),
    Case("ana reads key home/sam/", ANA, get("home/sam/"), REFUSED),
    # URL-encoded paths, sent as written; each refusal has a control that the same encoding reaches her own key.
    Case(
        "ana GET home%2Fana%2Fnotes.ipynb (control)",
        ANA,
        raw("GET", "home%2Fana%2Fnotes.ipynb"),
        ALLOWED,
        seed_bytes(NOTEBOOKS, ANAS),
        moto_differs=MOTO_ESCAPES,
    ),
    Case("ana GET home%2Fsam%2Fnotes.ipynb", ANA, raw("GET", "home%2Fsam%2Fnotes.ipynb"), REFUSED),
    Case(
        "ana GET home/%61na/notes.ipynb (control)",
        ANA,
        raw("GET", "home/%61na/notes.ipynb"),
        ALLOWED,
        seed_bytes(NOTEBOOKS, ANAS),
        moto_differs=MOTO_ESCAPES,
    ),
    Case("ana GET home/%73am/notes.ipynb", ANA, raw("GET", "home/%73am/notes.ipynb"), REFUSED),
    Case(
        "ana PUT home%2Fsam%2Fnotes.ipynb",
        ANA,
        raw("PUT", "home%2Fsam%2Fnotes.ipynb", b"x"),
        REFUSED,
        after=(keeps(SAMS),),
    ),
    Case("ana GET home/ana/%2E%2E/sam/notes.ipynb", ANA, raw("GET", "home/ana/%2E%2E/sam/notes.ipynb"), REFUSED),
    Case("ana GET home/ana/../sam/notes.ipynb (raw)", ANA, raw("GET", "home/ana/../sam/notes.ipynb"), REFUSED),
    # Deleting and copying across homes by other requests. On Ceph the DeleteObjects refusal is the bucket-level one
    # (CEPH_MULTI_DELETE), so there it shows nothing about the documents; on AWS it is per key.
    Case(
        "ana deletes in her own home with DeleteObjects",
        ANA,
        put_then_delete("home/ana/bulk.txt", bulk=True),
        ALLOWED,
        after=(absent("home/ana/bulk.txt"),),
        ceph_differs=CEPH_MULTI_DELETE,
    ),
    Case("ana deletes sam's notebook with DeleteObjects", ANA, delete_many(SAMS), REFUSED, after=(keeps(SAMS),)),
    Case(
        "ana copies sam's notebook into her home",
        ANA,
        copy(SAMS, "home/ana/from-sam.ipynb"),
        REFUSED,
        after=(absent("home/ana/from-sam.ipynb"),),
    ),
    # Shared locations: read-write, read-only, and the role a two-group person chose.
    Case(
        "ana writes shared/analysts/",
        ANA,
        put("shared/analysts/ana.md"),
        ALLOWED,
        after=(lands("shared/analysts/ana.md", WRITTEN),),
    ),
    Case(
        "ana deletes in shared/analysts/",
        ANA,
        put_then_delete("shared/analysts/gone.md"),
        ALLOWED,
        after=(absent("shared/analysts/gone.md"),),
    ),
    Case(
        "ana lists datasets/curated/ (read)",
        ANA,
        lists("datasets/curated/", expect_key="datasets/curated/sales.csv"),
        ALLOWED,
        True,
    ),
    Case(
        "ana reads datasets/curated/ (read)",
        ANA,
        get("datasets/curated/sales.csv"),
        ALLOWED,
        seed_bytes(NOTEBOOKS, "datasets/curated/sales.csv"),
    ),
    Case(
        "ana writes datasets/curated/ (read)",
        ANA,
        put("datasets/curated/new.csv"),
        REFUSED,
        after=(absent("datasets/curated/new.csv"),),
    ),
    Case(
        "ana deletes in datasets/curated/ (read)",
        ANA,
        delete("datasets/curated/sales.csv"),
        REFUSED,
        after=(keeps("datasets/curated/sales.csv"),),
    ),
    Case(
        "alex reads datasets/ (read)",
        ALEX,
        get("datasets/raw/events.csv"),
        ALLOWED,
        seed_bytes(NOTEBOOKS, "datasets/raw/events.csv"),
    ),
    Case(
        "alex writes datasets/ (read)",
        ALEX,
        put("datasets/raw/alex.csv"),
        REFUSED,
        after=(absent("datasets/raw/alex.csv"),),
    ),
    Case(
        "alex deletes in datasets/ (read)",
        ALEX,
        delete("datasets/raw/events.csv"),
        REFUSED,
        after=(keeps("datasets/raw/events.csv"),),
    ),
    Case(
        "sam as data engineer writes datasets/",
        SAM_D,
        put("datasets/raw/sam.csv"),
        ALLOWED,
        after=(lands("datasets/raw/sam.csv", WRITTEN),),
    ),
    Case(
        "sam as analyst writes datasets/",
        SAM_A,
        put("datasets/raw/sam-as-analyst.csv"),
        REFUSED,
        after=(absent("datasets/raw/sam-as-analyst.csv"),),
    ),
    Case("sam as analyst reads datasets/raw/", SAM_A, get("datasets/raw/events.csv"), REFUSED),
    Case(
        "sam as data engineer writes shared/analysts/",
        SAM_D,
        put("shared/analysts/sam.md"),
        REFUSED,
        after=(absent("shared/analysts/sam.md"),),
    ),
    Case(
        "sam as data engineer lists the landing bucket's landing/ (read)",
        SAM_D,
        lists("landing/", LANDING, "landing/feed.json"),
        ALLOWED,
        True,
    ),
    Case(
        "sam as data engineer reads landing/ (read)",
        SAM_D,
        get("landing/feed.json", LANDING),
        ALLOWED,
        seed_bytes(LANDING, "landing/feed.json"),
    ),
    Case(
        "sam as data engineer writes landing/ (read)",
        SAM_D,
        put("landing/new.json", LANDING),
        REFUSED,
        after=(absent("landing/new.json", LANDING),),
    ),
    # Buckets and prefixes no group grants.
    Case("ana reads datasets/raw/ (not granted)", ANA, get("datasets/raw/events.csv"), REFUSED),
    Case("ana lists datasets/", ANA, lists("datasets/", expect_key="datasets/curated/sales.csv"), REFUSED),
    Case("ana lists datasets/raw/", ANA, lists("datasets/raw/", expect_key="datasets/raw/events.csv"), REFUSED),
    Case("ana reads shared/finance/", ANA, get("shared/finance/q3.csv"), REFUSED),
    Case("ana lists the finance bucket", ANA, lists("reports/", FINANCE, "reports/q3.csv"), REFUSED),
    Case("ana reads the finance bucket", ANA, get("reports/q3.csv", FINANCE), REFUSED),
    Case(
        "ana writes the finance bucket",
        ANA,
        put("reports/ana.csv", FINANCE),
        REFUSED,
        after=(absent("reports/ana.csv", FINANCE),),
    ),
    Case("ana reads the landing bucket", ANA, get("landing/feed.json", LANDING), REFUSED),
    Case(
        "sam as data engineer reads archive/ of the landing bucket",
        SAM_D,
        get("archive/feed-2019.json", LANDING),
        REFUSED,
    ),
    Case(
        "sam as data engineer lists archive/ of the landing bucket",
        SAM_D,
        lists("archive/", LANDING, "archive/feed-2019.json"),
        REFUSED,
    ),
    Case("nina reads shared/analysts/", NINA, get("shared/analysts/plan.md"), REFUSED),
    Case("nina reads datasets/curated/", NINA, get("datasets/curated/sales.csv"), REFUSED),
    Case("nina lists the landing bucket", NINA, lists("landing/", LANDING, "landing/feed.json"), REFUSED),
    # Multipart uploads.
    Case(
        "ana uploads in parts to her home",
        ANA,
        multipart("home/ana/parts.bin"),
        ALLOWED,
        after=(lands("home/ana/parts.bin", b"part one", uploaded_in_one_part=True),),
    ),
    Case(
        "ana aborts her own upload",
        ANA,
        multipart("home/ana/aborted.bin", complete=False),
        ALLOWED,
        after=(absent("home/ana/aborted.bin"),),
    ),
    Case(
        "ana starts an upload in sam's home",
        ANA,
        multipart("home/sam/ana.bin"),
        REFUSED,
        after=(absent("home/sam/ana.bin"),),
    ),
    Case(
        "ana starts an upload in datasets/curated/ (read)",
        ANA,
        multipart("datasets/curated/ana.bin"),
        REFUSED,
        after=(absent("datasets/curated/ana.bin"),),
    ),
    Case(
        "ana uploads a part to sam's upload",
        ANA,
        on_upload("upload_part", "home/sam/big.bin"),
        REFUSED,
        after=(upload_kept("home/sam/big.bin"),),
    ),
    Case("ana lists the parts of sam's upload", ANA, on_upload("list_parts", "home/sam/big.bin"), REFUSED),
    Case(
        "ana completes sam's upload",
        ANA,
        on_upload("complete", "home/sam/big.bin"),
        REFUSED,
        after=(upload_kept("home/sam/big.bin"),),
    ),
    Case(
        "ana aborts sam's upload",
        ANA,
        on_upload("abort", "home/sam/big.bin"),
        REFUSED,
        after=(upload_kept("home/sam/big.bin"),),
    ),
    Case("ana copies a part from sam's notebook", ANA, copy_part_from(SAMS, "home/ana/copied-part.bin"), REFUSED),
    Case("ana lists uploads in progress in her home (not granted)", ANA, list_uploads("home/ana/"), REFUSED),
    # Versions.
    Case("ana reads her notebook's first version", ANA, get(ANAS, version=0), ALLOWED, old_bytes(NOTEBOOKS, ANAS)),
    Case(
        "ana restores her first version as a copy",
        ANA,
        copy(ANAS, "home/ana/restored.ipynb", version=0),
        ALLOWED,
        after=(lands("home/ana/restored.ipynb", old_bytes(NOTEBOOKS, ANAS)),),
    ),
    Case("ana reads sam's notebook's first version", ANA, get(SAMS, version=0), REFUSED),
    Case(
        "ana copies sam's first version into her home",
        ANA,
        copy(SAMS, "home/ana/sams-v1.ipynb", version=0),
        REFUSED,
        after=(absent("home/ana/sams-v1.ipynb"),),
    ),
    Case("ana deletes sam's first version", ANA, delete_version(SAMS, 0), REFUSED, after=(version_kept(SAMS, 0),)),
    Case(
        "ana deletes her own first version (not granted)",
        ANA,
        delete_version(ANAS, 0),
        REFUSED,
        after=(version_kept(ANAS, 0),),
    ),
    Case("ana lists versions in her home (not granted)", ANA, list_versions("home/ana/"), REFUSED),
]
