"""The one rule that turns a person's name into a name safe everywhere it is used.

A JupyterHub username here also becomes an S3 key segment (``home/<name>/``), a Kubernetes label value, a
file name, and an STS ``RoleSessionName``. The rule:

1. Lowercase the name (Entra ID user principal names are case-insensitive).
2. If the result is *already safe* it is used as it is. Safe means: only ``a-z 0-9 . _ -``; starts and ends
   with a letter or digit; no ``..`` (path traversal, and S3 console confusion); no ``--`` (reserved for the
   suffix below); at most 48 characters (a Kubernetes label holds 63, a RoleSessionName 64, and both get
   prefixes).
3. Otherwise every run of other characters becomes one ``-``, the result is trimmed to 38 characters and of
   leading/trailing punctuation, and ``--`` plus the first 8 hex digits of the SHA-256 of the lowercased name
   is appended: ``"Jöhn Smith"`` becomes ``"j-hn-smith--5e8d2b1c"``.

Deterministic (the same input gives the same name on every hub and in Terraform's eyes), and
collision-resistant: two different inputs that both need rewriting differ in their hash suffix, and a rewritten
name always contains ``--``, which no name kept as it is may contain, so a rewritten name never equals a kept
one. Case is the only thing folded on purpose.
"""

import hashlib
import re

MAX_LENGTH = 48
_HASH_LENGTH = 8
_SEPARATOR = "--"
_STEM_LENGTH = MAX_LENGTH - len(_SEPARATOR) - _HASH_LENGTH - 2  # room to spare for callers' prefixes
_SAFE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")
_UNSAFE_RUN = re.compile(r"[^a-z0-9._-]+")


def is_safe_name(name: str) -> bool:
    """True when ``name`` is kept unchanged by :func:`safe_name` (and is therefore safe everywhere)."""
    return len(name) <= MAX_LENGTH and _SAFE.fullmatch(name) is not None and ".." not in name and _SEPARATOR not in name


def safe_name(name: str) -> str:
    """Return the safe form of ``name`` by the rule in this module's docstring."""
    if not name:
        raise ValueError("a name must not be empty")
    lowered = name.lower()
    if is_safe_name(lowered):
        return lowered
    digest = hashlib.sha256(lowered.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    stem = _UNSAFE_RUN.sub("-", lowered)
    stem = re.sub(r"\.{2,}", ".", stem)
    stem = re.sub(r"-{2,}", "-", stem)
    stem = stem[:_STEM_LENGTH].strip("._-")
    return f"{stem}{_SEPARATOR}{digest}" if stem else f"user{_SEPARATOR}{digest}"
