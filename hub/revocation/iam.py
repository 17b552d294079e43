"""Writing the revocations policy: a new default version of the one customer-managed policy the broker may change.

The broker's role may only read and version that policy (``iam:GetPolicy``, ``iam:GetPolicyVersion``,
``iam:ListPolicyVersions``, ``iam:CreatePolicyVersion``, ``iam:DeletePolicyVersion`` on its ARN; Terraform's
broker-role module). IAM keeps at most five versions of a managed policy, so the oldest version that is not the
default is deleted before a sixth is created.

ref: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicyVersion.html (five versions; SetAsDefault)
ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-versioning.html
"""

import json
from urllib.parse import unquote

from authenticator.access_policy import Deployment

from ..broker.contract import REVOCATION_POLICY_SUFFIX
from .document import denied_oids

MAX_VERSIONS = 5


class RevocationPolicyError(Exception):
    """IAM refused to read or write the revocations policy; the message names the policy and the fix."""


def revocation_policy_arn(deployment: Deployment) -> str:
    """The policy's ARN, from the access policy file as Terraform names it (nothing to paste)."""
    name = f"{deployment.role_name_prefix}{REVOCATION_POLICY_SUFFIX}"
    return f"arn:{deployment.aws_partition}:iam::{deployment.aws_account_id}:policy/{name}"


def version_to_delete(versions: list[dict]) -> str | None:
    """The oldest non-default version when IAM holds the most it keeps, else None."""
    if len(versions) < MAX_VERSIONS:
        return None
    others = [v for v in versions if not v["IsDefaultVersion"]]
    return min(others, key=lambda v: (v["CreateDate"], int(v["VersionId"].lstrip("v"))))["VersionId"]


def _refusal(error, arn: str) -> RevocationPolicyError:
    code = error.response.get("Error", {}).get("Code", "Unknown")
    if code == "NoSuchEntity":
        return RevocationPolicyError(
            f"The revocations policy {arn} does not exist in AWS. An administrator must create it: terraform apply "
            "(the access-roles module creates it and attaches it to every access role)."
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        return RevocationPolicyError(
            f"The credential broker may not change the revocations policy {arn}. An administrator must give its "
            "role the permission: terraform apply (the broker-role module, with revocation_policy_arn)."
        )
    message = error.response.get("Error", {}).get("Message", "")
    return RevocationPolicyError(f"AWS IAM refused to update the revocations policy {arn} ({code}: {message}).")


class RevocationPolicy:
    """The one managed policy, through the broker's own boto3 IAM client (blocking: call it in a thread)."""

    def __init__(self, client, arn: str):
        self.client, self.arn = client, arn

    def write(self, text: str) -> str:
        """Make ``text`` the policy's default version; returns the new version id."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            versions = self.client.list_policy_versions(PolicyArn=self.arn)["Versions"]
            oldest = version_to_delete(versions)
            if oldest:
                self.client.delete_policy_version(PolicyArn=self.arn, VersionId=oldest)
            created = self.client.create_policy_version(PolicyArn=self.arn, PolicyDocument=text, SetAsDefault=True)
        except ClientError as e:
            raise _refusal(e, self.arn) from None
        except BotoCoreError as e:
            raise RevocationPolicyError(
                f"AWS IAM could not be reached to update the revocations policy {self.arn} ({type(e).__name__})."
            ) from None
        return created["PolicyVersion"]["VersionId"]

    def denied(self) -> tuple[str, set[str]]:
        """The default version's id and the object ids it denies."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            version = self.client.get_policy(PolicyArn=self.arn)["Policy"]["DefaultVersionId"]
            stored = self.client.get_policy_version(PolicyArn=self.arn, VersionId=version)["PolicyVersion"]
        except ClientError as e:
            raise _refusal(e, self.arn) from None
        except BotoCoreError as e:
            raise RevocationPolicyError(
                f"AWS IAM could not be reached to read the revocations policy {self.arn} ({type(e).__name__})."
            ) from None
        document = stored["Document"]
        return version, denied_oids(json.loads(unquote(document)) if isinstance(document, str) else document)
