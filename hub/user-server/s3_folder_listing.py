"""S3Contents, with a folder read from one S3 listing.

S3Contents 0.11.2 answers ``GET /api/contents/<folder>?content=1`` (JupyterLab's file browser) in steps that each ask
S3 again: ``guess_type`` asks whether the path is a folder (``isdir``: a full listing unless s3fs has the folder in
its listing cache), ``lstat`` reads the folder's ``.s3keep`` for its date (a HEAD, after evicting the folder and its
parents from that cache), ``dir_exists`` lists the folder again, and the content comes from that last listing. So each
folder view costs one listing and a HEAD, and two listings and a HEAD whenever the folder is not cached: on the first
view and after every save into it (a write evicts the folder), which is what the file browser shows after each save.
With 1,000 notebooks a listing is two ListObjectsV2 pages (at most 1,000 keys each), the whole cost of the view.
ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/ListingKeysUsingAPIs.html

Here the listing is made once, from S3 (never from the cache): it tells that the folder exists, holds its ``.s3keep``
(the folder's date) and its entries. Notebooks, files and everything else are S3Contents' own code.
"""

import os

from fsspec.asyn import sync
from s3contents import S3ContentsManager
from s3contents.genericmanager import base_directory_model


class OneListingS3ContentsManager(S3ContentsManager):
    """``S3ContentsManager`` that lists a folder once per request (see the module's docstring)."""

    def get(self, path, content=True, type=None, format=None):
        path = path.strip("/")
        if content and type in (None, "directory") and not (type is None and path.endswith(".ipynb")):
            listing = self._listing(path)
            if listing or path == "":
                return self._directory_model(path, listing)
            if type == "directory":
                self.no_such_entity(path)
            type = "file"  # no key below ``path/``: what guess_type would have concluded, without listing again
        return super().get(path, content=content, type=type, format=format)

    def _listing(self, path: str) -> list[dict]:
        """Every entry directly below ``path`` (keys and sub-prefixes), read from S3 now (never from a cache)."""
        s3fs = self.fs.fs
        return sync(s3fs.loop, s3fs._lsdir, self.fs.path(path), refresh=True)

    def _directory_model(self, path: str, listing: list[dict]) -> dict:
        model = base_directory_model(path)
        keep_file = self.fs.dir_keep_file
        for entry in listing:
            if os.path.basename(entry["Key"]) == keep_file and entry.get("LastModified"):
                # S3Contents dates a folder by its .s3keep, to the second (as its lstat does)
                model["created"] = model["last_modified"] = entry["LastModified"].replace(microsecond=0)
        entries = [
            entry
            for entry in listing
            if os.path.basename(entry["Key"]) != keep_file and self.fs.remove_prefix(entry["Key"]) != path
        ]
        # S3Contents' own steps from here: sub-folders dated by their .s3keep, then the models.
        entries = self.filter_deleted_markers(sync(self.fs.fs.loop, self.get_content_s3_metadata, entries))
        model["format"] = "json"
        model["content"] = self.convert_s3_details_to_models(entries)
        return model
