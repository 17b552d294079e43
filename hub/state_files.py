"""Where the hub's own state files go when no setting names them: beside its SQLite database (on Kubernetes, the hub's
persistent volume), so that the broker process and the hub open the same file and it survives restarts."""

import os
from urllib.parse import urlparse

from traitlets import TraitError


def beside_hub_database(db_url: str, file_name: str, setting: str, cwd: str) -> str:
    """``file_name`` in the folder of the hub's SQLite database ``db_url``, absolute (SQLAlchemy's
    ``sqlite:///relative.sqlite`` is relative to the hub's working folder ``cwd``; ``sqlite:////abs.sqlite`` is not).
    Any other database needs ``setting``: a TraitError says so."""
    parsed = urlparse(db_url)
    if parsed.scheme != "sqlite" or parsed.path in ("", "/", "/:memory:"):
        raise TraitError(
            f"{setting} is not set and the hub's database ({parsed.scheme or db_url!r}) is not a SQLite file to put it "
            f"beside: set {setting} to a file on storage the hub keeps (its volume)"
        )
    return os.path.join(cwd, os.path.dirname(os.path.expanduser(parsed.path[1:])), file_name)
