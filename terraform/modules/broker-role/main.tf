# The credential broker's role: the only AWS identity the hub side holds. The hub's Kubernetes service account
# assumes it through the cluster's OIDC provider (IAM Roles for Service Accounts); it may do two things: assume the
# access roles, with a source identity and session tags, and version the one revocations policy.

locals {
  issuer = trimsuffix(trimprefix(var.oidc_provider_url, "https://"), "/")
}

# ref: https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "HubServiceAccount"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${var.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = [var.oidc_audience]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "JupyterHub credential broker (service account ${var.namespace}/${var.service_account}): assumes the access roles for people"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

data "aws_iam_policy_document" "permissions" {
  statement {
    sid       = "AssumeAccessRoles"
    effect    = "Allow"
    actions   = ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]
    resources = sort(var.access_role_arns)
  }

  # Revoking one person (`entra-access revoke`): the broker writes new versions of the one revocations policy and
  # nothing else. Not iam:PutRolePolicy, which cannot be limited to one policy name: with it the broker could write
  # any inline policy on the roles. IAM keeps five versions, so it deletes the oldest before writing a sixth.
  # ref: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicyVersion.html
  statement {
    sid    = "VersionTheRevocationsPolicy"
    effect = "Allow"
    actions = [
      "iam:CreatePolicyVersion",
      "iam:DeletePolicyVersion",
      "iam:GetPolicy",
      "iam:GetPolicyVersion",
      "iam:ListPolicyVersions",
    ]
    resources = [var.revocation_policy_arn]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "assume-access-roles"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.permissions.json
}
