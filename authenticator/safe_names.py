"""The one rule that turns a person's name into a name safe everywhere it is used.

A JupyterHub username here also becomes an S3 key segment (``home/<name>/``), a Kubernetes label value, a
file name, and an STS ``RoleSessionName``. The rule:

1. Lowercase the name (Entra ID user principal names are case-insensitive).
2. If the result is *already safe* it is used as it is. Safe means: only ``a-z 0-9 . _ -``; starts and ends
   with a letter or digit; no ``..`` (path traversal, and S3 console confusion); no ``--`` except in the
   shape step 3 writes; 2 to 48 characters (a Kubernetes label holds 63, a RoleSessionName 64, and both get
   prefixes).
3. Otherwise every run of other characters becomes one ``-``, the result is trimmed to 38 characters and of
   leading/trailing punctuation, and ``--`` plus the first 8 hex digits of the SHA-256 of the lowercased name
   is appended: ``"Jöhn Smith"`` becomes ``"j-hn-smith--55bdb458"``.

Deterministic (the same input gives the same name on every hub), idempotent (a name the rule produced passes
through it unchanged, so every layer may apply it again safely), and collision-resistant: two different inputs
that both need rewriting differ in their hash suffix, and a name kept as it is contains no ``--``, so it never
equals a rewritten one. The one way to meet a rewritten name is an input that already has its exact shape
(``<stem>--<8 hex digits>``); user principal names are assigned by administrators, and the authenticator binds
each hub account to one Entra object id, so such an input is refused, not merged. Case is the only thing folded
on purpose.
"""

import hashlib
import re

MIN_LENGTH = 2  # STS refuses a one-character RoleSessionName
MAX_LENGTH = 48
_HASH_LENGTH = 8
_SEPARATOR = "--"
_STEM_LENGTH = MAX_LENGTH - len(_SEPARATOR) - _HASH_LENGTH
_SAFE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")
_UNSAFE_RUN = re.compile(r"[^a-z0-9._-]+")
_HASH = re.compile(rf"[0-9a-f]{{{_HASH_LENGTH}}}")


def is_safe_name(name: str) -> bool:
    """True when ``name`` is kept unchanged by :func:`safe_name` (and is therefore safe everywhere)."""
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH or _SAFE.fullmatch(name) is None or ".." in name:
        return False
    stem, separator, suffix = name.rpartition(_SEPARATOR)
    # Either no separator at all, or exactly the shape step 3 writes: <stem without "--">--<hash>.
    return not separator or (_SEPARATOR not in stem and _HASH.fullmatch(suffix) is not None)


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
