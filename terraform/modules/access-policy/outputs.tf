output "policy" {
  description = <<-EOT
    The access policy, validated and normalized: `deployment` (account, region, partition, role_name_prefix,
    notebook_bucket, home_prefix, with defaults filled in) and `access_groups` in file order, each with its IAM
    `role_name` (role_name_prefix + role), `role_arn` (the ARN the hub computes), lowercased `entra_group_id` and
    `s3` locations. Feed it to the access-roles, broker-role and notebook-bucket modules. Planning fails, with the
    hub's messages, while the file has any problem.
  EOT
  value       = local.policy

  precondition {
    condition     = length(local.messages) == 0
    error_message = join("\n", local.messages)
  }
}
