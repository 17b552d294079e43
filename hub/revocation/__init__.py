"""Revoking one person now: the hub refuses them everywhere and AWS denies the sessions they already hold.

- ``document.py``: the revocations IAM policy, a pure function of the revocations (literal JSON in the tests);
- ``store.py``: who is revoked, by whom and when (SQLite beside the hub's database; the broker writes it, the
  authenticator reads it at sign-in);
- ``iam.py``: writes the document as a new version of the one managed policy the broker may change;
- ``revoker.py``: revoke and unrevoke, in order (record, stop servers, delete hub tokens, close job runs, IAM, audit);
- ``api.py``: the broker's ``v1/revocations`` endpoints for hub admins (``entra-access revoke|unrevoke|revocations``).
"""
