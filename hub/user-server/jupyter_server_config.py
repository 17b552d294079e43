# The notebook server's own configuration (local spawner: found through JUPYTER_CONFIG_PATH, which the spawn hook
# sets; user image: copy it to /etc/jupyter/). The file browser is the person's S3 home: s3://<bucket>/home/<name>/.
# Credentials come from the AWS SDK's default chain, i.e. the `credential_process` in AWS_CONFIG_FILE, which fetches
# short-lived, refreshable credentials from the hub's broker. No keys are configured here.
import os

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

_bucket = os.environ.get("S3CONTENTS_BUCKET")
if _bucket:
    c.ServerApp.contents_manager_class = "s3contents.S3ContentsManager"
    c.S3ContentsManager.bucket = _bucket
    c.S3ContentsManager.prefix = os.environ["S3CONTENTS_PREFIX"]
    c.S3ContentsManager.region_name = os.environ["S3CONTENTS_REGION"]
    c.S3ContentsManager.endpoint_url = os.environ["S3CONTENTS_ENDPOINT_URL"]
    # Checkpoints ("Revert to checkpoint") are S3Contents' default GenericFileCheckpoints: on the server's local disk
    # (.ipynb_checkpoints under its working folder), not in S3, so they end with the server. Notebooks themselves are
    # always saved to S3, where the bucket's versioning keeps earlier versions.
