output "role_arns" {
  description = <<-EOT
    Access group name => IAM role ARN. The hub computes the same ARNs from the access policy file (nothing to paste);
    use them for break-glass CLI profiles (`role_arn`) and to check that the hub and AWS agree.
  EOT
  value       = { for name, role in aws_iam_role.this : name => role.arn }
}

output "role_names" {
  description = "Access group name => IAM role name (deployment.role_name_prefix + the group's role)."
  value       = { for name, role in aws_iam_role.this : name => role.name }
}

output "iam_group_names" {
  description = <<-EOT
    Access group name => IAM group name. Members of the IAM group may assume the group's role (break-glass or CLI):
    `aws iam add-user-to-group --group-name <name> --user-name <user>`.
  EOT
  value       = { for name, group in aws_iam_group.this : name => group.name }
}

output "revocation_policy_arn" {
  description = <<-EOT
    The revocations policy (attached to every access role), which the credential broker versions to deny revoked
    people's sessions. Give it to the broker-role module (revocation_policy_arn). The hub computes the same ARN from
    the access policy file (deployment.role_name_prefix + "revocations").
  EOT
  value       = aws_iam_policy.revocations.arn
}
