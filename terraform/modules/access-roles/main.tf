# One IAM role per access group of the access policy file, and one IAM group whose members may assume it.
#
# Who may assume an access role (its trust policy), and on what terms:
#   - the credential broker's role, for a person: with a source identity (the person's stable id) and the session tags
#     `user` (the person's safe username) and `access-group` (this group's name);
#   - IAM users of this account whose IAM group (below) grants it, for break-glass or CLI use: the same, with their own
#     user name as source identity and as `user` tag.
# No one else. What a session may do (its role policy): the S3 locations of the group, and read-write on
# <home_prefix><user tag>/ in the notebook bucket; the broker narrows that further with a session policy per person.
#
# The broker marks the session tags transitive and sets a source identity; both travel with any role that people chain
# into from a notebook, so that role's trust policy must allow sts:TagSession and sts:SetSourceIdentity besides
# sts:AssumeRole, or the chained call is refused.
# ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_role-chaining
# ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  deployment = var.access_policy.deployment
  groups     = { for g in var.access_policy.access_groups : g.name => g }
  partition  = local.deployment.aws_partition
  account_id = local.deployment.aws_account_id

  account_root    = "arn:${local.partition}:iam::${local.account_id}:root"
  any_iam_user    = "arn:${local.partition}:iam::${local.account_id}:user/*"
  broker_name     = element(split("/", var.broker_role_arn), length(split("/", var.broker_role_arn)) - 1)
  broker_sessions = var.broker_session_name == null ? [] : ["arn:${local.partition}:sts::${local.account_id}:assumed-role/${local.broker_name}/${var.broker_session_name}"]

  # The same action lists as the broker's session policy (hub/session_policy.py), so that policy only narrows.
  read_actions       = ["s3:GetObject", "s3:GetObjectVersion"]
  read_write_actions = concat(local.read_actions, ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"])
  assume_actions     = ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]
  s3_arn             = "arn:${local.partition}:s3:::"
  # S3's endpoint per partition (amazonaws.com.cn in aws-cn): the provider's partition, which the precondition on
  # aws_iam_role.this ties to the file's.
  # ref: https://registry.terraform.io/providers/hashicorp/aws/latest/docs/data-sources/partition
  s3_service = "s3.${local.deployment.aws_region}.${data.aws_partition.current.dns_suffix}"
  # Policy variables are written $${...} in HCL so that IAM, not Terraform, resolves them.
  home_prefix = "${local.deployment.home_prefix}$${aws:PrincipalTag/user}/"
}

# ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html (SourceIdentity)
# ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_permissions-required
# ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
data "aws_iam_policy_document" "trust" {
  for_each = local.groups

  # The account principal admits only callers whose own IAM policy allows the call (the broker's role policy, the
  # IAM group's policy); aws:PrincipalArn narrows them to the broker's role and IAM users.
  statement {
    sid     = "BrokerAndGroupMembers"
    effect  = "Allow"
    actions = local.assume_actions
    principals {
      type        = "AWS"
      identifiers = concat([local.account_root], local.broker_sessions)
    }
    condition {
      test     = "ArnLike"
      variable = "aws:PrincipalArn"
      values   = [var.broker_role_arn, local.any_iam_user]
    }
    condition {
      test     = "Null"
      variable = "sts:SourceIdentity"
      values   = ["false"]
    }
    condition {
      test     = "Null"
      variable = "aws:RequestTag/user"
      values   = ["false"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/access-group"
      values   = [each.key]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["access-group", "user"]
    }
  }

  # An IAM user is always themselves: source identity and `user` tag must be their own user name.
  statement {
    sid     = "IamUsersAsThemselvesOnly"
    effect  = "Deny"
    actions = local.assume_actions
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:PrincipalArn"
      values   = [local.any_iam_user]
    }
    condition {
      test     = "StringNotEquals"
      variable = "sts:SourceIdentity"
      values   = ["$${aws:username}"]
    }
  }

  statement {
    sid     = "IamUsersTagThemselvesOnly"
    effect  = "Deny"
    actions = local.assume_actions
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:PrincipalArn"
      values   = [local.any_iam_user]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:RequestTag/user"
      values   = ["$${aws:username}"]
    }
  }
}

locals {
  # Per group: the buckets it lists (the notebook bucket first: the person's home), the prefixes listed in each, and
  # the object ARNs it reads or writes.
  s3_grants = { for name, g in local.groups : name => {
    buckets = distinct(concat([local.deployment.notebook_bucket], [for l in g.s3 : l.bucket]))
    prefixes = { for b in distinct(concat([local.deployment.notebook_bucket], [for l in g.s3 : l.bucket])) : b => concat(
      b == local.deployment.notebook_bucket ? ["${local.home_prefix}*"] : [],
      [for l in g.s3 : "${l.prefix}*" if l.bucket == b],
    ) }
    read_write = concat(["${local.s3_arn}${local.deployment.notebook_bucket}/${local.home_prefix}*"], [
      for l in g.s3 : "${local.s3_arn}${l.bucket}/${l.prefix}*" if l.access == "read-write"
    ])
    read = [for l in g.s3 : "${local.s3_arn}${l.bucket}/${l.prefix}*" if l.access == "read"]
  } }
}

data "aws_iam_policy_document" "permissions" {
  for_each = local.groups

  # Listing: only under the granted prefixes (s3:prefix), one statement per bucket.
  dynamic "statement" {
    for_each = local.s3_grants[each.key].buckets
    content {
      sid       = "List${statement.key + 1}"
      effect    = "Allow"
      actions   = ["s3:ListBucket"]
      resources = ["${local.s3_arn}${statement.value}"]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = local.s3_grants[each.key].prefixes[statement.value]
      }
    }
  }

  statement {
    sid       = "ReadWrite"
    effect    = "Allow"
    actions   = local.read_write_actions
    resources = local.s3_grants[each.key].read_write
  }

  dynamic "statement" {
    for_each = length(local.s3_grants[each.key].read) > 0 ? [1] : []
    content {
      sid       = "Read"
      effect    = "Allow"
      actions   = local.read_actions
      resources = local.s3_grants[each.key].read
    }
  }

  # ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms
  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "KmsForS3"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = var.kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.s3_service]
      }
    }
  }
}

# max_session_duration: IAM's floor is 3600 s; the broker still asks STS for the group's own length (900 s at least).
# ref: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html (MaxSessionDuration)
resource "aws_iam_role" "this" {
  for_each = local.groups

  name                 = each.value.role_name
  description          = "JupyterHub access group ${each.key} (Entra ID group ${each.value.entra_group_id}): credentials are issued by the hub's credential broker"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = max(3600, each.value.session_duration_seconds)
  permissions_boundary = var.permissions_boundary_arn
  tags                 = merge(var.tags, { "access-group" = each.key, "entra-group-id" = each.value.entra_group_id })

  lifecycle {
    precondition {
      condition     = data.aws_caller_identity.current.account_id == local.account_id && data.aws_partition.current.partition == local.partition
      error_message = "${var.access_policy.source}: deployment.aws_account_id: the file is for account ${local.account_id} (${local.partition}) but Terraform's AWS credentials are for account ${data.aws_caller_identity.current.account_id} (${data.aws_partition.current.partition}). Fix: run with credentials for the account in the file, or correct the file."
    }
    precondition {
      condition     = each.value.role_name != local.broker_name
      error_message = "${var.access_policy.source}: access group ${each.key}: role ${each.value.role_name} is the broker's role name. Fix: choose another role for the group (or another broker_role_name)."
    }
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.groups

  name   = "s3-access"
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.permissions[each.key].json
}

# The IAM group of an access group: its members (IAM users) may assume the group's role, and nothing else. Add
# break-glass or CLI users with `aws iam add-user-to-group`. IAM groups cannot be tagged.
resource "aws_iam_group" "this" {
  for_each = local.groups

  name = each.value.role_name
}

data "aws_iam_policy_document" "group" {
  for_each = local.groups

  statement {
    sid       = "AssumeTheGroupRole"
    effect    = "Allow"
    actions   = local.assume_actions
    resources = [aws_iam_role.this[each.key].arn]
  }
}

resource "aws_iam_group_policy" "this" {
  for_each = local.groups

  name   = "assume-${each.value.role_name}"
  group  = aws_iam_group.this[each.key].name
  policy = data.aws_iam_policy_document.group[each.key].json
}

# The revocations policy: one customer-managed policy attached to every access role, which the credential broker
# rewrites (new versions) to deny a revoked person's sessions by their source identity and issue time
# (hub/revocation/document.py builds it; `entra-access revoke`). Terraform creates it denying nothing, and leaves its
# content to the broker afterwards: a later apply must not un-revoke anyone.
# ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html
# ref: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceidentity
resource "aws_iam_policy" "revocations" {
  name        = "${local.deployment.role_name_prefix}revocations"
  description = "JupyterHub: denies revoked people's sessions (aws:SourceIdentity, aws:TokenIssueTime); maintained by the credential broker"
  # The broker's document with nobody revoked (hub/revocation/document.py): deny every action but all, nothing.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "NobodyRevoked"
      Effect    = "Deny"
      NotAction = "*"
      Resource  = "*"
    }]
  })
  tags = var.tags

  lifecycle {
    ignore_changes = [policy]
  }
}

resource "aws_iam_role_policy_attachment" "revocations" {
  for_each = local.groups

  role       = aws_iam_role.this[each.key].name
  policy_arn = aws_iam_policy.revocations.arn
}
